-- A counter bumped by every change that affects how tenants are served (as
-- in the SQLite catalog): tenants or domains added or removed, a serving
-- column changed. Last-access updates, operation records, API keys and the
-- audit log leave it alone, so Watch can poll it cheaply. Domains removed
-- by the cascade of a tenant's deletion fire no trigger in MySQL; the
-- tenant's own trigger counts the change. Text is compared as bytes, so a
-- change of case counts.
-- +goose Up
CREATE TABLE catalog_version (
    id      TINYINT NOT NULL,
    version BIGINT  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT catalog_version_single_row CHECK (id = 1)
) ENGINE = InnoDB;
INSERT INTO catalog_version (id, version) VALUES (1, 0);

CREATE TRIGGER tenants_inserted AFTER INSERT ON tenants FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
CREATE TRIGGER tenants_deleted AFTER DELETE ON tenants FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
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
CREATE TRIGGER domains_inserted AFTER INSERT ON domains FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
CREATE TRIGGER domains_deleted AFTER DELETE ON domains FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
-- +goose StatementBegin
CREATE TRIGGER domains_changed AFTER UPDATE ON domains FOR EACH ROW
BEGIN
    IF NOT (OLD.tenant_id <=> NEW.tenant_id
        AND CAST(OLD.domain AS BINARY) <=> CAST(NEW.domain AS BINARY)
        AND OLD.is_primary <=> NEW.is_primary
        AND OLD.ssl_enabled <=> NEW.ssl_enabled) THEN
        UPDATE catalog_version SET version = version + 1 WHERE id = 1;
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER domains_changed;
DROP TRIGGER domains_deleted;
DROP TRIGGER domains_inserted;
DROP TRIGGER tenants_changed;
DROP TRIGGER tenants_deleted;
DROP TRIGGER tenants_inserted;
DROP TABLE catalog_version;
