-- The central catalog on MySQL/MariaDB: the same tables and meaning as the
-- SQLite catalog. Times are DATETIME(6) in UTC (the store's connections use
-- loc=UTC), JSON is LONGTEXT checked with JSON_VALID (kept as written, on
-- MariaDB and MySQL alike), text is utf8mb4 with a case-insensitive
-- collation (so search and name order ignore case), and indexed text is
-- VARCHAR(255). Unique keys are named because the store maps duplicate-key
-- errors to tenancy.ErrDomainTaken and tenancy.ErrDatabaseTaken by key name.
-- TEXT columns have no defaults (MySQL 8 allows none); the store always
-- writes them.
-- +goose Up
CREATE TABLE tenants (
    id                  BIGINT       NOT NULL AUTO_INCREMENT,
    uuid                VARCHAR(255) NOT NULL,
    name                VARCHAR(255) NOT NULL,
    status              VARCHAR(16)  NOT NULL,
    status_reason       TEXT         NOT NULL,
    database_name       VARCHAR(255) NOT NULL,
    shard               VARCHAR(255) NOT NULL DEFAULT '',
    notes               MEDIUMTEXT   NOT NULL,
    settings            LONGTEXT     NOT NULL,
    data                LONGTEXT     NOT NULL,
    maintenance         BOOLEAN      NOT NULL DEFAULT FALSE,
    maintenance_message TEXT         NOT NULL,
    maintenance_secret  VARCHAR(255) NOT NULL DEFAULT '',
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    last_accessed_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY tenants_uuid (uuid),
    UNIQUE KEY tenants_database_name (database_name),
    KEY tenants_status (status),
    KEY tenants_name (name),
    KEY tenants_created_at (created_at),
    CONSTRAINT tenants_status_valid CHECK (status IN ('active', 'inactive', 'suspended', 'blocked')),
    CONSTRAINT tenants_settings_json CHECK (JSON_VALID(settings)),
    CONSTRAINT tenants_data_json CHECK (JSON_VALID(data))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE domains (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    tenant_id   BIGINT       NOT NULL,
    domain      VARCHAR(255) NOT NULL,
    is_primary  BOOLEAN      NOT NULL DEFAULT FALSE,
    ssl_enabled BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY domains_domain (domain),
    KEY domains_tenant (tenant_id),
    CONSTRAINT domains_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE tenant_operations (
    tenant_id   BIGINT       NOT NULL,
    operation   VARCHAR(64)  NOT NULL,
    state       VARCHAR(32)  NOT NULL,
    version     BIGINT       NOT NULL DEFAULT 0,
    error       TEXT         NOT NULL,
    duration_ns BIGINT       NOT NULL DEFAULT 0,
    finished_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (tenant_id, operation),
    KEY tenant_operations_operation (operation, state),
    CONSTRAINT tenant_operations_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE api_keys (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    name         VARCHAR(255) NOT NULL,
    prefix       VARCHAR(255) NOT NULL,
    hash         BLOB         NOT NULL,
    scopes       VARCHAR(255) NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    revoked_at   DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY api_keys_name (name),
    UNIQUE KEY api_keys_prefix (prefix)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE audit_log (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    at          DATETIME(6)  NOT NULL,
    actor       VARCHAR(255) NOT NULL,
    action      VARCHAR(255) NOT NULL,
    tenant_uuid VARCHAR(255) NOT NULL DEFAULT '',
    `before`    LONGTEXT     NULL,
    `after`     LONGTEXT     NULL,
    client_ip   VARCHAR(255) NOT NULL DEFAULT '',
    request_id  VARCHAR(255) NOT NULL DEFAULT '',
    outcome     VARCHAR(32)  NOT NULL,
    error       TEXT         NOT NULL,
    PRIMARY KEY (id),
    KEY audit_log_tenant (tenant_uuid, id),
    KEY audit_log_at (at),
    CONSTRAINT audit_log_before_json CHECK (`before` IS NULL OR JSON_VALID(`before`)),
    CONSTRAINT audit_log_after_json CHECK (`after` IS NULL OR JSON_VALID(`after`))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_keys;
DROP TABLE tenant_operations;
DROP TABLE domains;
DROP TABLE tenants;
