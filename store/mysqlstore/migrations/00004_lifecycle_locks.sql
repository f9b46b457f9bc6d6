-- Lifecycle states of tenants being created or deleted, database
-- generations, visitor messages, run ids of operation records, and
-- per-tenant lease locks, as in the SQLite catalog. visitor_message is TEXT
-- without a default (see 00001); existing rows get ''. The serving trigger
-- is recreated to count the new tenant columns; lock rows bump nothing.
-- +goose Up
ALTER TABLE tenants
    ADD COLUMN lifecycle       VARCHAR(16) NOT NULL DEFAULT '' AFTER status,
    ADD COLUMN generation      BIGINT      NOT NULL DEFAULT 1,
    ADD COLUMN visitor_message TEXT        NOT NULL AFTER status_reason,
    ADD KEY tenants_lifecycle (lifecycle),
    ADD CONSTRAINT tenants_lifecycle_valid CHECK (lifecycle IN ('', 'provisioning', 'deleting'));
ALTER TABLE tenant_operations ADD COLUMN run_id VARCHAR(64) NOT NULL DEFAULT '' AFTER state;

-- Locks are keyed by uuid, without a foreign key: a create takes its
-- tenant's lock before the tenant's row exists. The keys and holders are
-- bytes, compared exactly (no collation folding case or trailing spaces).
CREATE TABLE tenant_locks (
    tenant_uuid VARBINARY(255) NOT NULL,
    holder      VARBINARY(255) NOT NULL,
    acquired_at DATETIME(6)    NOT NULL,
    expires_at  DATETIME(6)    NOT NULL,
    PRIMARY KEY (tenant_uuid)
) ENGINE = InnoDB;

DROP TRIGGER tenants_changed;
-- +goose StatementBegin
CREATE TRIGGER tenants_changed AFTER UPDATE ON tenants FOR EACH ROW
BEGIN
    IF NOT (CAST(OLD.name AS BINARY) <=> CAST(NEW.name AS BINARY)
        AND CAST(OLD.status AS BINARY) <=> CAST(NEW.status AS BINARY)
        AND CAST(OLD.lifecycle AS BINARY) <=> CAST(NEW.lifecycle AS BINARY)
        AND CAST(OLD.status_reason AS BINARY) <=> CAST(NEW.status_reason AS BINARY)
        AND CAST(OLD.visitor_message AS BINARY) <=> CAST(NEW.visitor_message AS BINARY)
        AND OLD.generation <=> NEW.generation
        AND CAST(OLD.database_name AS BINARY) <=> CAST(NEW.database_name AS BINARY)
        AND CAST(OLD.shard AS BINARY) <=> CAST(NEW.shard AS BINARY)
        AND CAST(OLD.notes AS BINARY) <=> CAST(NEW.notes AS BINARY)
        AND CAST(OLD.settings AS BINARY) <=> CAST(NEW.settings AS BINARY)
        AND CAST(OLD.data AS BINARY) <=> CAST(NEW.data AS BINARY)
        AND OLD.maintenance <=> NEW.maintenance
        AND CAST(OLD.maintenance_message AS BINARY) <=> CAST(NEW.maintenance_message AS BINARY)
        AND CAST(OLD.maintenance_secret AS BINARY) <=> CAST(NEW.maintenance_secret AS BINARY)) THEN
        UPDATE catalog_version SET version = version + 1 WHERE id = 1;
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER tenants_changed;
-- +goose StatementBegin
CREATE TRIGGER tenants_changed AFTER UPDATE ON tenants FOR EACH ROW
BEGIN
    IF NOT (CAST(OLD.name AS BINARY) <=> CAST(NEW.name AS BINARY)
        AND CAST(OLD.status AS BINARY) <=> CAST(NEW.status AS BINARY)
        AND CAST(OLD.status_reason AS BINARY) <=> CAST(NEW.status_reason AS BINARY)
        AND CAST(OLD.database_name AS BINARY) <=> CAST(NEW.database_name AS BINARY)
        AND CAST(OLD.shard AS BINARY) <=> CAST(NEW.shard AS BINARY)
        AND CAST(OLD.notes AS BINARY) <=> CAST(NEW.notes AS BINARY)
        AND CAST(OLD.settings AS BINARY) <=> CAST(NEW.settings AS BINARY)
        AND CAST(OLD.data AS BINARY) <=> CAST(NEW.data AS BINARY)
        AND OLD.maintenance <=> NEW.maintenance
        AND CAST(OLD.maintenance_message AS BINARY) <=> CAST(NEW.maintenance_message AS BINARY)
        AND CAST(OLD.maintenance_secret AS BINARY) <=> CAST(NEW.maintenance_secret AS BINARY)) THEN
        UPDATE catalog_version SET version = version + 1 WHERE id = 1;
    END IF;
END;
-- +goose StatementEnd
DROP TABLE tenant_locks;
ALTER TABLE tenant_operations DROP COLUMN run_id;
ALTER TABLE tenants
    DROP CONSTRAINT tenants_lifecycle_valid,
    DROP KEY tenants_lifecycle,
    DROP COLUMN visitor_message,
    DROP COLUMN generation,
    DROP COLUMN lifecycle;
