-- +goose Up
-- The event outbox, read in commit order. On SQLite the single writer makes
-- insertion order commit order; PostgreSQL replaces this file (see
-- postgres/00003_outbox.sql).
CREATE TABLE tf_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
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
