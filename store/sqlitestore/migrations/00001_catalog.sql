-- +goose Up
CREATE TABLE tenants (
    id                  INTEGER PRIMARY KEY,
    uuid                TEXT    NOT NULL UNIQUE,
    name                TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('active', 'inactive', 'suspended', 'blocked')),
    status_reason       TEXT    NOT NULL DEFAULT '',
    database_name       TEXT    NOT NULL UNIQUE,
    shard               TEXT    NOT NULL DEFAULT '',
    notes               TEXT    NOT NULL DEFAULT '',
    settings            TEXT    NOT NULL DEFAULT '{}',
    data                TEXT    NOT NULL DEFAULT '{}',
    maintenance         INTEGER NOT NULL DEFAULT 0,
    maintenance_message TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_accessed_at    INTEGER
);
CREATE INDEX tenants_status ON tenants (status);
CREATE INDEX tenants_name ON tenants (name);
CREATE INDEX tenants_created_at ON tenants (created_at);

CREATE TABLE domains (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    domain      TEXT    NOT NULL UNIQUE,
    is_primary  INTEGER NOT NULL DEFAULT 0,
    ssl_enabled INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX domains_tenant ON domains (tenant_id);

CREATE TABLE tenant_operations (
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    operation   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    duration_ns INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, operation)
);

-- +goose Down
DROP TABLE tenant_operations;
DROP TABLE domains;
DROP TABLE tenants;
