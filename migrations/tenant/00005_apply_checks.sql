-- +goose Up
-- The engine checks revisions and guards inside the statement that applies
-- a command on PostgreSQL (see postgres/00005_apply_checks.sql). SQLite
-- checks them in the same transaction, from Go: nothing to create here.
SELECT 1;

-- +goose Down
SELECT 1;
