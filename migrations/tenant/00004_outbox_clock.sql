-- +goose Up
-- Outbox positions from a per-tenant commit clock. Every transaction that
-- appends events moves the clock's single row by the number of its events,
-- in the statement that inserts them, and numbers the events from it. The
-- row stays locked until the transaction ends, so positions are handed out
-- in commit order with no gap, and a reader needs nothing else: nothing
-- outside the tenant's own event-writing transactions can hold a reader back.
--
-- On SQLite the single writer already made insertion order commit order:
-- existing events keep their sequence number as position, and the clock
-- starts after the highest number ever handed out (rows may have been
-- pruned), so a consumer's stored position stays valid.
ALTER TABLE tf_outbox ADD COLUMN pos BIGINT;
UPDATE tf_outbox SET pos = seq;
CREATE UNIQUE INDEX tf_outbox_pos ON tf_outbox (pos);

CREATE TABLE tf_outbox_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO tf_outbox_clock (id, last) VALUES (1, MAX(
    COALESCE((SELECT MAX(seq) FROM tf_outbox), 0),
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tf_outbox'), 0)));

UPDATE tf_outbox_consumer SET position = 'c' || substr(position, 2) WHERE position LIKE 's%';

-- +goose Down
UPDATE tf_outbox_consumer SET position = 's' || substr(position, 2) WHERE position LIKE 'c%';
DROP TABLE tf_outbox_clock;
DROP INDEX tf_outbox_pos;
ALTER TABLE tf_outbox DROP COLUMN pos;
