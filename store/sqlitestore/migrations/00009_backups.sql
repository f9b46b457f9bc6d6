-- The backup catalog: one row per backup of a tenant, keyed by the
-- tenant's uuid without a foreign key, since a backup outlives its tenant.
-- +goose Up
CREATE TABLE tenant_backups (
    id                TEXT    PRIMARY KEY,
    tenant_uuid       TEXT    NOT NULL,
    destination       TEXT    NOT NULL,
    object_key        TEXT    NOT NULL,
    engine            TEXT    NOT NULL,
    mode              TEXT    NOT NULL,
    migration_version INTEGER NOT NULL DEFAULT 0,
    size              INTEGER NOT NULL DEFAULT 0,
    sha256            TEXT    NOT NULL DEFAULT '',
    compressed        BOOLEAN NOT NULL DEFAULT FALSE,
    encrypted         BOOLEAN NOT NULL DEFAULT FALSE,
    state             TEXT    NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    error             TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX tenant_backups_tenant ON tenant_backups (tenant_uuid, created_at);

-- +goose Down
DROP TABLE tenant_backups;
