-- The backup catalog: one row per backup of a tenant, keyed by the
-- tenant's uuid without a foreign key, since a backup outlives its tenant.
-- +goose Up
CREATE TABLE tenant_backups (
    id                VARCHAR(64)   NOT NULL PRIMARY KEY,
    tenant_uuid       VARCHAR(36)   NOT NULL,
    destination       VARCHAR(1024) NOT NULL,
    object_key        VARCHAR(1024) NOT NULL,
    engine            VARCHAR(32)   NOT NULL,
    mode              VARCHAR(32)   NOT NULL,
    migration_version BIGINT        NOT NULL DEFAULT 0,
    size              BIGINT        NOT NULL DEFAULT 0,
    sha256            VARCHAR(64)   NOT NULL DEFAULT '',
    compressed        BOOLEAN       NOT NULL DEFAULT FALSE,
    encrypted         BOOLEAN       NOT NULL DEFAULT FALSE,
    state             VARCHAR(16)   NOT NULL,
    error             TEXT          NOT NULL,
    created_at        DATETIME(6)   NOT NULL,
    completed_at      DATETIME(6)   NULL,
    KEY tenant_backups_tenant (tenant_uuid, created_at),
    CONSTRAINT tenant_backups_state CHECK (state IN ('running', 'complete', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE tenant_backups;
