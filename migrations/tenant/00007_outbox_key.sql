-- +goose Up
-- On PostgreSQL the outbox's position becomes its key (see
-- postgres/00007_outbox_key.sql). SQLite's key is the table's row ID,
-- which costs no index of its own: nothing to change here.
SELECT 1;

-- +goose Down
SELECT 1;
