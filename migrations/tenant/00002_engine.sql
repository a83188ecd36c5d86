-- +goose Up
-- The engine's runtime and history, in one tenant's storage. Runtime and
-- history share tables where a row simply lives on (instances, tasks,
-- activity instances, incidents): fewer tables per tenant keeps PostgreSQL's
-- catalog small at thousands of schemas. Times are Unix milliseconds.

CREATE TABLE tf_deployment (
    id         BIGINT PRIMARY KEY,
    name       TEXT   NOT NULL DEFAULT '',
    source     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE tf_resource (
    deployment_id BIGINT NOT NULL,
    name          TEXT   NOT NULL,
    content       TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    PRIMARY KEY (deployment_id, name)
);

CREATE TABLE tf_definition (
    id             BIGINT  PRIMARY KEY,
    def_key        TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    name           TEXT    NOT NULL DEFAULT '',
    deployment_id  BIGINT  NOT NULL,
    resource_name  TEXT    NOT NULL,
    hash           TEXT    NOT NULL,
    version_tag    TEXT    NOT NULL DEFAULT '',
    history_ttl_ms BIGINT  NOT NULL DEFAULT 0,
    suspended      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    UNIQUE (def_key, version)
);

CREATE TABLE tf_instance (
    id                 BIGINT  PRIMARY KEY,
    definition_id      BIGINT  NOT NULL,
    def_key            TEXT    NOT NULL,
    business_key       TEXT    NOT NULL DEFAULT '',
    state              TEXT    NOT NULL, -- active, completed, terminated
    suspended          BOOLEAN NOT NULL DEFAULT FALSE,
    super_instance_id  BIGINT  NOT NULL DEFAULT 0,
    super_execution_id BIGINT  NOT NULL DEFAULT 0,
    start_activity     TEXT    NOT NULL DEFAULT '',
    end_activity       TEXT    NOT NULL DEFAULT '',
    start_user         TEXT    NOT NULL DEFAULT '',
    delete_reason      TEXT    NOT NULL DEFAULT '',
    -- which kinds of rows the instance holds (tasks, jobs, …), so loading it
    -- skips the tables it has nothing in
    holds              INTEGER NOT NULL DEFAULT 0,
    started_at         BIGINT  NOT NULL,
    ended_at           BIGINT,
    revision           BIGINT  NOT NULL
);
CREATE INDEX tf_instance_state ON tf_instance (state, def_key);
CREATE INDEX tf_instance_business_key ON tf_instance (business_key);
CREATE INDEX tf_instance_super ON tf_instance (super_instance_id);
CREATE INDEX tf_instance_ended ON tf_instance (ended_at);

-- Tokens and scopes of running instances; deleted as they end.
CREATE TABLE tf_execution (
    id                   BIGINT  PRIMARY KEY,
    instance_id          BIGINT  NOT NULL,
    parent_id            BIGINT  NOT NULL,
    element_id           TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    is_scope             BOOLEAN NOT NULL,
    activity_instance_id BIGINT  NOT NULL DEFAULT 0,
    flags                INTEGER NOT NULL DEFAULT 0,
    data                 TEXT    NOT NULL DEFAULT '',
    created_at           BIGINT  NOT NULL
);
CREATE INDEX tf_execution_instance ON tf_execution (instance_id);

-- Current values; the process scope's variables stay after the instance
-- ends, as its history.
CREATE TABLE tf_variable (
    scope_id     BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    instance_id  BIGINT  NOT NULL,
    type         TEXT    NOT NULL,
    text_value   TEXT,
    long_value   BIGINT,
    double_value DOUBLE PRECISION,
    revision     INTEGER NOT NULL,
    PRIMARY KEY (scope_id, name)
);
CREATE INDEX tf_variable_instance ON tf_variable (instance_id);
CREATE INDEX tf_variable_name ON tf_variable (name, text_value);

CREATE TABLE tf_variable_update (
    id           BIGINT  PRIMARY KEY,
    instance_id  BIGINT  NOT NULL,
    scope_id     BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    text_value   TEXT,
    long_value   BIGINT,
    double_value DOUBLE PRECISION,
    revision     INTEGER NOT NULL,
    element_id   TEXT    NOT NULL DEFAULT '',
    task_id      BIGINT  NOT NULL DEFAULT 0,
    at           BIGINT  NOT NULL
);
CREATE INDEX tf_variable_update_instance ON tf_variable_update (instance_id);

-- User tasks; completed and deleted ones stay as history.
CREATE TABLE tf_task (
    id               BIGINT  PRIMARY KEY,
    instance_id      BIGINT  NOT NULL,
    execution_id     BIGINT  NOT NULL,
    definition_id    BIGINT  NOT NULL,
    def_key          TEXT    NOT NULL,
    element_id       TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    assignee         TEXT    NOT NULL DEFAULT '',
    candidate_users  TEXT    NOT NULL DEFAULT '', -- ",ann,bob," so LIKE '%,ann,%' finds one
    candidate_groups TEXT    NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 50,
    form_key         TEXT    NOT NULL DEFAULT '',
    due_at           BIGINT,
    follow_up_at     BIGINT,
    state            TEXT    NOT NULL, -- created, completed, deleted
    suspended        BOOLEAN NOT NULL DEFAULT FALSE,
    delete_reason    TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    ended_at         BIGINT,
    revision         BIGINT  NOT NULL
);
CREATE INDEX tf_task_state ON tf_task (state, assignee);
CREATE INDEX tf_task_instance ON tf_task (instance_id);

CREATE TABLE tf_external_task (
    id              BIGINT  PRIMARY KEY,
    instance_id     BIGINT  NOT NULL,
    execution_id    BIGINT  NOT NULL,
    definition_id   BIGINT  NOT NULL,
    def_key         TEXT    NOT NULL,
    element_id      TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    business_key    TEXT    NOT NULL DEFAULT '',
    worker_id       TEXT    NOT NULL DEFAULT '',
    lock_expires_at BIGINT  NOT NULL DEFAULT 0,
    retries         INTEGER, -- NULL until a failure sets it, as clients expect
    error_message   TEXT    NOT NULL DEFAULT '',
    error_details   TEXT    NOT NULL DEFAULT '',
    priority        INTEGER NOT NULL DEFAULT 0,
    suspended       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    revision        BIGINT  NOT NULL
);
CREATE INDEX tf_external_task_fetch ON tf_external_task (topic, lock_expires_at);
CREATE INDEX tf_external_task_instance ON tf_external_task (instance_id);

CREATE TABLE tf_job (
    id                BIGINT  PRIMARY KEY,
    kind              TEXT    NOT NULL,
    instance_id       BIGINT  NOT NULL DEFAULT 0,
    execution_id      BIGINT  NOT NULL DEFAULT 0,
    definition_id     BIGINT  NOT NULL,
    def_key           TEXT    NOT NULL,
    element_id        TEXT    NOT NULL,
    due_at            BIGINT  NOT NULL,
    priority          INTEGER NOT NULL DEFAULT 0,
    retries           INTEGER NOT NULL,
    lock_owner        TEXT    NOT NULL DEFAULT '',
    lock_expires_at   BIGINT  NOT NULL DEFAULT 0,
    exception_message TEXT    NOT NULL DEFAULT '',
    exception_stack   TEXT    NOT NULL DEFAULT '',
    data              TEXT    NOT NULL DEFAULT '',
    suspended         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT  NOT NULL,
    revision          BIGINT  NOT NULL
);
CREATE INDEX tf_job_due ON tf_job (due_at) WHERE retries > 0 AND suspended = FALSE;
CREATE INDEX tf_job_instance ON tf_job (instance_id);

-- Message subscriptions of waiting tokens, and message starts of the latest
-- definitions (instance_id 0).
CREATE TABLE tf_subscription (
    id            BIGINT PRIMARY KEY,
    kind          TEXT   NOT NULL, -- message, message-start
    name          TEXT   NOT NULL,
    instance_id   BIGINT NOT NULL DEFAULT 0,
    execution_id  BIGINT NOT NULL DEFAULT 0,
    definition_id BIGINT NOT NULL,
    def_key       TEXT   NOT NULL,
    element_id    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX tf_subscription_name ON tf_subscription (name);
CREATE INDEX tf_subscription_instance ON tf_subscription (instance_id);

CREATE TABLE tf_incident (
    id               BIGINT PRIMARY KEY,
    type             TEXT   NOT NULL, -- failedJob, failedExternalTask
    instance_id      BIGINT NOT NULL,
    execution_id     BIGINT NOT NULL,
    definition_id    BIGINT NOT NULL,
    def_key          TEXT   NOT NULL,
    element_id       TEXT   NOT NULL,
    job_id           BIGINT NOT NULL DEFAULT 0,
    external_task_id BIGINT NOT NULL DEFAULT 0,
    message          TEXT   NOT NULL DEFAULT '',
    state            TEXT   NOT NULL, -- open, resolved, deleted
    created_at       BIGINT NOT NULL,
    ended_at         BIGINT
);
CREATE INDEX tf_incident_state ON tf_incident (state);
CREATE INDEX tf_incident_instance ON tf_incident (instance_id);

-- Activity instances: the running tree (ended_at NULL) and its history.
CREATE TABLE tf_activity (
    id                 BIGINT  PRIMARY KEY,
    instance_id        BIGINT  NOT NULL,
    execution_id       BIGINT  NOT NULL,
    parent_id          BIGINT  NOT NULL,
    definition_id      BIGINT  NOT NULL,
    element_id         TEXT    NOT NULL,
    element_type       TEXT    NOT NULL,
    name               TEXT    NOT NULL DEFAULT '',
    task_id            BIGINT  NOT NULL DEFAULT 0,
    called_instance_id BIGINT  NOT NULL DEFAULT 0,
    canceled           BOOLEAN NOT NULL DEFAULT FALSE,
    started_at         BIGINT  NOT NULL,
    ended_at           BIGINT
);
CREATE INDEX tf_activity_instance ON tf_activity (instance_id);

-- +goose Down
DROP TABLE tf_activity;
DROP TABLE tf_incident;
DROP TABLE tf_subscription;
DROP TABLE tf_job;
DROP TABLE tf_external_task;
DROP TABLE tf_task;
DROP TABLE tf_variable_update;
DROP TABLE tf_variable;
DROP TABLE tf_execution;
DROP TABLE tf_instance;
DROP TABLE tf_definition;
DROP TABLE tf_resource;
DROP TABLE tf_deployment;
