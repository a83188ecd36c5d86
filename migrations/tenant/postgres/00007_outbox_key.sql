-- +goose Up
-- The position is the outbox's key. The sequence number the first design
-- ordered events by has been unused since positions came (it only
-- resolves cursors issued before them): its identity and primary key
-- cost every event a second sequence call and a second unique index
-- insert. Rows written from now on have no sequence number.
ALTER TABLE tf_outbox ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE tf_outbox DROP CONSTRAINT tf_outbox_pkey;
ALTER TABLE tf_outbox ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE tf_outbox ADD CONSTRAINT tf_outbox_pkey PRIMARY KEY USING INDEX tf_outbox_pos;

-- +goose Down
ALTER TABLE tf_outbox DROP CONSTRAINT tf_outbox_pkey;
CREATE UNIQUE INDEX tf_outbox_pos ON tf_outbox (pos);
CREATE SEQUENCE tf_outbox_seq_restored;
SELECT setval('tf_outbox_seq_restored', COALESCE((SELECT MAX(seq) FROM tf_outbox), 0) + 1, false);
UPDATE tf_outbox SET seq = nextval('tf_outbox_seq_restored') WHERE seq IS NULL;
ALTER TABLE tf_outbox ALTER COLUMN seq SET NOT NULL;
ALTER TABLE tf_outbox ADD PRIMARY KEY (seq);
ALTER TABLE tf_outbox ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('tf_outbox', 'seq'), COALESCE((SELECT MAX(seq) FROM tf_outbox), 0) + 1, false);
DROP SEQUENCE tf_outbox_seq_restored;
