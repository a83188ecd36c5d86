-- +goose Up
-- On PostgreSQL the outbox clock gives way to a sequence and a gate (see
-- postgres/00006_outbox_gate.sql). SQLite has one writer at a time, so its
-- clock costs nothing and stays: nothing to change here.
SELECT 1;

-- +goose Down
SELECT 1;
