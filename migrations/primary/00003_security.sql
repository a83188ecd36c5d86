-- +goose Up
-- Revocation. A user's auth epoch grows when the password changes, a token
-- is revoked or the user signs out everywhere: every node drops what it
-- verified under an older epoch once its registry sees the change (at once
-- through signals, at the latest after the registry TTL).
ALTER TABLE tf_user ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;

-- Console sessions, kept on the server so a logout ends one on every node.
-- Only a SHA-256 of the session secret is stored; a session is valid while
-- its user's auth epoch is the one it was created under.
CREATE TABLE tf_session (
    id_hash    TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES tf_user (id) ON DELETE CASCADE,
    auth_epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    address    TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX tf_session_user ON tf_session (user_id);

-- Who created a token and why: a token the tenant manager mints for a
-- member is an impersonation, time-limited and audited.
ALTER TABLE tf_api_token ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE tf_api_token ADD COLUMN reason TEXT NOT NULL DEFAULT '';

-- Where a tenant's data lives, normalised (server, database, schema), so
-- two tenants can never be registered on the same storage. NULL for
-- placements that cannot collide (sqlite) and rows registered before.
ALTER TABLE tf_tenant ADD COLUMN storage_key TEXT;
CREATE UNIQUE INDEX tf_tenant_storage_key ON tf_tenant (storage_key);

-- A tenant's quotas and its statement timeout, as JSON.
ALTER TABLE tf_tenant ADD COLUMN quotas TEXT NOT NULL DEFAULT '{}';

-- The audit log: administrative actions and user operations, per tenant
-- ('' for actions on no tenant, such as creating a user), in Camunda's user
-- operation log shape. Kept in the primary so it outlives a dropped tenant.
CREATE TABLE tf_audit (
    id                     TEXT   PRIMARY KEY,
    seq                    BIGINT NOT NULL,
    tenant_id              TEXT   NOT NULL DEFAULT '',
    at                     BIGINT NOT NULL,
    operation_id           TEXT   NOT NULL,
    user_id                TEXT   NOT NULL,
    actor_kind             TEXT   NOT NULL,
    address                TEXT   NOT NULL DEFAULT '',
    operation_type         TEXT   NOT NULL,
    entity_type            TEXT   NOT NULL,
    category               TEXT   NOT NULL,
    property               TEXT   NOT NULL DEFAULT '',
    org_value              TEXT,
    new_value              TEXT,
    entity_id              TEXT   NOT NULL DEFAULT '',
    deployment_id          TEXT   NOT NULL DEFAULT '',
    process_definition_id  TEXT   NOT NULL DEFAULT '',
    process_definition_key TEXT   NOT NULL DEFAULT '',
    process_instance_id    TEXT   NOT NULL DEFAULT '',
    task_id                TEXT   NOT NULL DEFAULT '',
    job_id                 TEXT   NOT NULL DEFAULT '',
    external_task_id       TEXT   NOT NULL DEFAULT '',
    annotation             TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX tf_audit_tenant ON tf_audit (tenant_id, at, seq);

-- +goose Down
DROP TABLE tf_audit;
DROP INDEX tf_tenant_storage_key;
ALTER TABLE tf_tenant DROP COLUMN quotas;
ALTER TABLE tf_tenant DROP COLUMN storage_key;
ALTER TABLE tf_api_token DROP COLUMN reason;
ALTER TABLE tf_api_token DROP COLUMN created_by;
DROP TABLE tf_session;
ALTER TABLE tf_user DROP COLUMN auth_epoch;
