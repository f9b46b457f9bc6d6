-- A counter bumped by every change that affects how tenants are served
-- (not by last-access updates or operation records), so other processes
-- can tell such changes apart from routine writes.
-- +goose Up
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER tenants_inserted AFTER INSERT ON tenants
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_deleted AFTER DELETE ON tenants
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_changed AFTER UPDATE OF name, status, status_reason, database_name, shard, notes,
    settings, data, maintenance, maintenance_message, maintenance_secret ON tenants
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_inserted AFTER INSERT ON domains
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_deleted AFTER DELETE ON domains
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_changed AFTER UPDATE ON domains
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER domains_changed;
DROP TRIGGER domains_deleted;
DROP TRIGGER domains_inserted;
DROP TRIGGER tenants_changed;
DROP TRIGGER tenants_deleted;
DROP TRIGGER tenants_inserted;
DROP TABLE catalog_version;
