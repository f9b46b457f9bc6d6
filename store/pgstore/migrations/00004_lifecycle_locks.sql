-- Lifecycle states of tenants being created or deleted, database
-- generations, visitor messages and run ids of operation records. Per-tenant
-- locks are session advisory locks, so they need no table. The change feed
-- also notifies changes of the new serving columns.
-- +goose Up
ALTER TABLE tenants ADD COLUMN lifecycle text NOT NULL DEFAULT ''
    CONSTRAINT tenants_lifecycle_check CHECK (lifecycle IN ('', 'provisioning', 'deleting'));
ALTER TABLE tenants ADD COLUMN generation bigint NOT NULL DEFAULT 1;
ALTER TABLE tenants ADD COLUMN visitor_message text NOT NULL DEFAULT '';
CREATE INDEX tenants_lifecycle ON tenants (lifecycle) WHERE lifecycle <> '';
ALTER TABLE tenant_operations ADD COLUMN run_id text NOT NULL DEFAULT '';

DROP TRIGGER tenants_changed ON tenants;
CREATE TRIGGER tenants_changed AFTER UPDATE OF name, status, lifecycle, status_reason, visitor_message,
    database_name, generation, shard, notes, settings, data, maintenance, maintenance_message,
    maintenance_secret ON tenants
    FOR EACH ROW
    WHEN ((OLD.name, OLD.status, OLD.lifecycle, OLD.status_reason, OLD.visitor_message, OLD.database_name,
           OLD.generation, OLD.shard, OLD.notes, OLD.settings, OLD.data, OLD.maintenance,
           OLD.maintenance_message, OLD.maintenance_secret)
          IS DISTINCT FROM
          (NEW.name, NEW.status, NEW.lifecycle, NEW.status_reason, NEW.visitor_message, NEW.database_name,
           NEW.generation, NEW.shard, NEW.notes, NEW.settings, NEW.data, NEW.maintenance,
           NEW.maintenance_message, NEW.maintenance_secret))
    EXECUTE FUNCTION tenancy_notify_tenant();

-- +goose Down
DROP TRIGGER tenants_changed ON tenants;
CREATE TRIGGER tenants_changed AFTER UPDATE OF name, status, status_reason, database_name, shard, notes,
    settings, data, maintenance, maintenance_message, maintenance_secret ON tenants
    FOR EACH ROW
    WHEN ((OLD.name, OLD.status, OLD.status_reason, OLD.database_name, OLD.shard, OLD.notes, OLD.settings,
           OLD.data, OLD.maintenance, OLD.maintenance_message, OLD.maintenance_secret)
          IS DISTINCT FROM
          (NEW.name, NEW.status, NEW.status_reason, NEW.database_name, NEW.shard, NEW.notes, NEW.settings,
           NEW.data, NEW.maintenance, NEW.maintenance_message, NEW.maintenance_secret))
    EXECUTE FUNCTION tenancy_notify_tenant();
ALTER TABLE tenant_operations DROP COLUMN run_id;
DROP INDEX tenants_lifecycle;
ALTER TABLE tenants DROP COLUMN visitor_message;
ALTER TABLE tenants DROP COLUMN generation;
ALTER TABLE tenants DROP COLUMN lifecycle;
