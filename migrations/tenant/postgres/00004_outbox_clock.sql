-- +goose Up
-- Outbox positions from a per-tenant commit clock, replacing transaction IDs
-- read against pg_snapshot_xmin: that horizon is the oldest transaction of
-- the whole server, so any long transaction in any database (a report, a
-- pg_dump, another tenant's) held back every tenant's events.
--
-- Every transaction that appends events moves the clock's single row by the
-- number of its events, in the statement that inserts them, and numbers the
-- events from it. The row stays locked until the transaction ends, so
-- positions are handed out in commit order with no gap: a reader that has
-- seen position n has seen every position below it, and only the tenant's
-- own event-writing transactions ever wait for each other.
--
-- Existing events are numbered in their old (transaction, sequence) order
-- and stored consumer positions are moved to the same numbering. tx_id
-- stays for the events written before this version, so a cursor a client
-- kept from then still resolves.
ALTER TABLE tf_outbox ADD COLUMN pos BIGINT;
UPDATE tf_outbox o SET pos = r.n
    FROM (SELECT seq, row_number() OVER (ORDER BY tx_id, seq) AS n FROM tf_outbox) r
    WHERE o.seq = r.seq;
ALTER TABLE tf_outbox ALTER COLUMN pos SET NOT NULL;
CREATE UNIQUE INDEX tf_outbox_pos ON tf_outbox (pos);
ALTER TABLE tf_outbox ALTER COLUMN tx_id DROP NOT NULL, ALTER COLUMN tx_id DROP DEFAULT;
DROP INDEX tf_outbox_order;

CREATE TABLE tf_outbox_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO tf_outbox_clock (id, last) VALUES (1, COALESCE((SELECT MAX(pos) FROM tf_outbox), 0));

UPDATE tf_outbox_consumer c SET position = 'c' || COALESCE((
    SELECT MAX(o.pos) FROM tf_outbox o
    WHERE (o.tx_id, o.seq) <= (split_part(substr(c.position, 2), '.', 1)::xid8, split_part(c.position, '.', 2)::bigint)), 0)
    WHERE c.position LIKE 'p%';

-- +goose Down
UPDATE tf_outbox_consumer c SET position = COALESCE((
    SELECT 'p' || o.tx_id::text || '.' || o.seq FROM tf_outbox o WHERE o.pos = substr(c.position, 2)::bigint), '')
    WHERE c.position LIKE 'c%';
DROP TABLE tf_outbox_clock;
UPDATE tf_outbox SET tx_id = '0' WHERE tx_id IS NULL;
ALTER TABLE tf_outbox ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id(), ALTER COLUMN tx_id SET NOT NULL;
CREATE INDEX tf_outbox_order ON tf_outbox (tx_id, seq);
DROP INDEX tf_outbox_pos;
ALTER TABLE tf_outbox DROP COLUMN pos;
