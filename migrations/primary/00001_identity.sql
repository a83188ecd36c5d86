-- +goose Up
-- Tenants, users, groups, memberships and API tokens: everything a node
-- needs to route a request to a tenant. Times are Unix milliseconds.
CREATE TABLE tf_tenant (
    id                 TEXT PRIMARY KEY,
    display_name       TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    placement          TEXT    NOT NULL,
    storage_dsn        TEXT    NOT NULL DEFAULT '',
    storage_schema     TEXT    NOT NULL DEFAULT '',
    storage_secret     TEXT    NOT NULL DEFAULT '', -- AES-GCM sealed password, base64
    max_open_conns     INTEGER NOT NULL DEFAULT 0,
    max_idle_conns     INTEGER NOT NULL DEFAULT 0,
    acquire_timeout_ms BIGINT  NOT NULL DEFAULT 0,
    config_version     BIGINT  NOT NULL DEFAULT 1,
    revision           BIGINT  NOT NULL DEFAULT 1,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);

CREATE TABLE tf_user (
    id             TEXT PRIMARY KEY,
    login          TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    display_name   TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    tenant_manager BOOLEAN NOT NULL DEFAULT FALSE,
    revision       BIGINT  NOT NULL DEFAULT 1,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

CREATE TABLE tf_membership (
    user_id    TEXT   NOT NULL REFERENCES tf_user (id) ON DELETE CASCADE,
    tenant_id  TEXT   NOT NULL REFERENCES tf_tenant (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX tf_membership_tenant ON tf_membership (tenant_id);

-- Groups belong to a tenant; candidate groups of user tasks resolve against
-- them.
CREATE TABLE tf_group (
    tenant_id  TEXT   NOT NULL REFERENCES tf_tenant (id) ON DELETE CASCADE,
    id         TEXT   NOT NULL,
    name       TEXT   NOT NULL DEFAULT '',
    type       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tf_group_member (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES tf_user (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES tf_group (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tf_group_member_user ON tf_group_member (user_id, tenant_id);

-- API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE tf_api_token (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES tf_user (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT, -- NULL: never expires
    last_used_at BIGINT
);
CREATE INDEX tf_api_token_user ON tf_api_token (user_id);

-- +goose Down
DROP TABLE tf_api_token;
DROP TABLE tf_group_member;
DROP TABLE tf_group;
DROP TABLE tf_membership;
DROP TABLE tf_user;
DROP TABLE tf_tenant;
