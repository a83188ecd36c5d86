-- +goose Up
-- Outbox positions from a sequence, read behind a gate, replacing the
-- one-row commit clock. The clock handed out positions in commit order by
-- holding its row until the writing transaction ended, so the tenant's
-- event-writing transactions committed one after another: a commit's
-- flush to disk could never overlap another's, which capped one tenant at
-- about one commit per flush.
--
-- Now every event takes its position from tf_outbox_pos_seq when it is
-- inserted, in whatever order transactions commit, and every transaction
-- that inserts events first enters the gate: the statement names
-- tf_outbox_gate as a target, which takes a ROW EXCLUSIVE lock on it when
-- the statement is parsed or its plan revalidated, before any row gets a
-- position, held until the transaction ends. A reader finds how far it may
-- read by taking a SHARE lock on the gate, which waits for the writers
-- inside and holds new ones back for that moment, and reading the
-- sequence's last value: every position up to it then belongs to a
-- transaction that has ended. Rows up to it are all the reader will ever
-- see below it, so a reader resuming from a position never skips an event.
-- Writers never wait for each other, and a reader waits only for writers
-- already inside, which commit in moments; nothing outside the tenant's own
-- writers can hold it back.
--
-- Positions still increase in commit order as readers see them, but a
-- command that fails after taking positions leaves a gap.
--
-- The gate has no columns and no rows, so it never needs vacuuming (a
-- vacuum's lock would otherwise hold readers back).
CREATE SEQUENCE tf_outbox_pos_seq AS BIGINT OWNED BY tf_outbox.pos;
SELECT setval('tf_outbox_pos_seq', GREATEST(last, 1), last > 0) FROM tf_outbox_clock;
ALTER TABLE tf_outbox ALTER COLUMN pos SET DEFAULT nextval('tf_outbox_pos_seq');
CREATE TABLE tf_outbox_gate ();
DROP TABLE tf_outbox_clock;

-- +goose Down
CREATE TABLE tf_outbox_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO tf_outbox_clock (id, last) VALUES (1, COALESCE((SELECT MAX(pos) FROM tf_outbox), 0));
DROP TABLE tf_outbox_gate;
ALTER TABLE tf_outbox ALTER COLUMN pos DROP DEFAULT;
DROP SEQUENCE tf_outbox_pos_seq;
