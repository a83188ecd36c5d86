-- +goose Up
-- The event outbox, read in commit order. Sequence numbers are taken at
-- insert, not at commit, so a reader cannot trust them alone: each row also
-- records its transaction ID, and readers only take rows whose transaction
-- is older than every transaction still running (pg_snapshot_xmin), ordered
-- by (tx_id, seq). A transaction that commits late therefore always sorts
-- after the position a reader has reached.
CREATE TABLE tf_outbox (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id         xid8    NOT NULL DEFAULT pg_current_xact_id(),
    id            BIGINT  NOT NULL,
    type          TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    instance_id   BIGINT  NOT NULL DEFAULT 0,
    business_key  TEXT    NOT NULL DEFAULT '',
    definition_id BIGINT  NOT NULL DEFAULT 0,
    def_key       TEXT    NOT NULL DEFAULT '',
    element_id    TEXT    NOT NULL DEFAULT '',
    element_type  TEXT    NOT NULL DEFAULT '',
    task_id       BIGINT  NOT NULL DEFAULT 0,
    data          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX tf_outbox_order ON tf_outbox (tx_id, seq);
CREATE INDEX tf_outbox_at ON tf_outbox (at);

CREATE TABLE tf_outbox_consumer (
    name       TEXT   PRIMARY KEY,
    position   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tf_outbox_dead (
    consumer TEXT   NOT NULL,
    event_id BIGINT NOT NULL,
    reason   TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- +goose Down
DROP TABLE tf_outbox_dead;
DROP TABLE tf_outbox_consumer;
DROP TABLE tf_outbox;
