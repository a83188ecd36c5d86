-- +goose Up
-- When each tenant next has work of a kind ("jobs", "events"), so that
-- background services poll only the tenants that are due instead of asking
-- every tenant's storage. A hint may be early or missing (it is corrected by
-- rate-limited sweeps), never the only path to a job.
CREATE TABLE tf_tenant_hint (
    tenant_id TEXT   NOT NULL REFERENCES tf_tenant (id) ON DELETE CASCADE,
    topic     TEXT   NOT NULL,
    due_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, topic)
);
CREATE INDEX tf_tenant_hint_due ON tf_tenant_hint (topic, due_at);

-- +goose Down
DROP TABLE tf_tenant_hint;
