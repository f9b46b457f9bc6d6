-- The change feed: every change that affects how tenants are served (tenants
-- or domains added or removed, a serving column changed) sends a notification
-- on the tenancy_catalog channel with the tenant's uuid as payload ('' when
-- the tenant is already gone). Last-access updates, operation records, API
-- keys and the audit log never notify. PostgreSQL delivers a notification at
-- commit and folds identical ones within a transaction into one.
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tenancy_notify_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tenancy_catalog', OLD.uuid);
    ELSE
        PERFORM pg_notify('tenancy_catalog', NEW.uuid);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tenancy_notify_domain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM pg_notify('tenancy_catalog', coalesce((SELECT uuid FROM tenants WHERE id = OLD.tenant_id), ''));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('tenancy_catalog', coalesce((SELECT uuid FROM tenants WHERE id = NEW.tenant_id), ''));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tenants_inserted_deleted AFTER INSERT OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenancy_notify_tenant();
CREATE TRIGGER tenants_changed AFTER UPDATE OF name, status, status_reason, database_name, shard, notes,
    settings, data, maintenance, maintenance_message, maintenance_secret ON tenants
    FOR EACH ROW
    WHEN ((OLD.name, OLD.status, OLD.status_reason, OLD.database_name, OLD.shard, OLD.notes, OLD.settings,
           OLD.data, OLD.maintenance, OLD.maintenance_message, OLD.maintenance_secret)
          IS DISTINCT FROM
          (NEW.name, NEW.status, NEW.status_reason, NEW.database_name, NEW.shard, NEW.notes, NEW.settings,
           NEW.data, NEW.maintenance, NEW.maintenance_message, NEW.maintenance_secret))
    EXECUTE FUNCTION tenancy_notify_tenant();
CREATE TRIGGER domains_inserted_deleted AFTER INSERT OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION tenancy_notify_domain();
CREATE TRIGGER domains_changed AFTER UPDATE ON domains
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION tenancy_notify_domain();

-- +goose Down
DROP TRIGGER domains_changed ON domains;
DROP TRIGGER domains_inserted_deleted ON domains;
DROP TRIGGER tenants_changed ON tenants;
DROP TRIGGER tenants_inserted_deleted ON tenants;
DROP FUNCTION tenancy_notify_domain();
DROP FUNCTION tenancy_notify_tenant();
