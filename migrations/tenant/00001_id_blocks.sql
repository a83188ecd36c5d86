-- +goose Up
-- ID blocks: each node takes a block of IDs at a time by moving next_id in
-- one short transaction (see package idgen).
CREATE TABLE tf_id_block (
    name    TEXT   PRIMARY KEY,
    next_id BIGINT NOT NULL
);
INSERT INTO tf_id_block (name, next_id) VALUES ('default', 1);

-- +goose Down
DROP TABLE tf_id_block;
