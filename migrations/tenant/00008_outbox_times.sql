-- +goose Up
-- Pruning finds the newest events old enough by a binary search over
-- positions, the outbox's key, so the index of times goes: every event
-- paid an insert into it for a read that runs once a night.
DROP INDEX tf_outbox_at;

-- +goose Down
CREATE INDEX tf_outbox_at ON tf_outbox (at);
