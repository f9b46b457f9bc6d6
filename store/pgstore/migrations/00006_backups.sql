-- The backup catalog: one row per backup of a tenant, keyed by the
-- tenant's uuid without a foreign key, since a backup outlives its tenant.
-- +goose Up
CREATE TABLE tenant_backups (
    id                text        PRIMARY KEY,
    tenant_uuid       text        NOT NULL,
    destination       text        NOT NULL,
    object_key        text        NOT NULL,
    engine            text        NOT NULL,
    mode              text        NOT NULL,
    migration_version bigint      NOT NULL DEFAULT 0,
    size              bigint      NOT NULL DEFAULT 0,
    sha256            text        NOT NULL DEFAULT '',
    compressed        boolean     NOT NULL DEFAULT false,
    encrypted         boolean     NOT NULL DEFAULT false,
    state             text        NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    error             text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    completed_at      timestamptz
);
CREATE INDEX tenant_backups_tenant ON tenant_backups (tenant_uuid, created_at);

-- +goose Down
DROP TABLE tenant_backups;
