-- Lifecycle states of tenants being created or deleted, database
-- generations, visitor messages, run ids of operation records, and
-- per-tenant lease locks.
-- +goose Up
ALTER TABLE tenants ADD COLUMN lifecycle TEXT NOT NULL DEFAULT ''
    CHECK (lifecycle IN ('', 'provisioning', 'deleting'));
ALTER TABLE tenants ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tenants ADD COLUMN visitor_message TEXT NOT NULL DEFAULT '';
CREATE INDEX tenants_lifecycle ON tenants (lifecycle) WHERE lifecycle <> '';
ALTER TABLE tenant_operations ADD COLUMN run_id TEXT NOT NULL DEFAULT '';

-- Locks are keyed by uuid, without a foreign key: a create takes its
-- tenant's lock before the tenant's row exists.
CREATE TABLE tenant_locks (
    tenant_uuid TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER tenants_lifecycle_changed AFTER UPDATE OF lifecycle, generation, visitor_message ON tenants
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER tenants_lifecycle_changed;
DROP TABLE tenant_locks;
ALTER TABLE tenant_operations DROP COLUMN run_id;
DROP INDEX tenants_lifecycle;
ALTER TABLE tenants DROP COLUMN visitor_message;
ALTER TABLE tenants DROP COLUMN generation;
ALTER TABLE tenants DROP COLUMN lifecycle;
