-- API keys created, revoked or removed notify on the change feed's channel
-- too (with an empty payload: no tenant changed), so that every node drops
-- the key verifications it remembers: a revoked key stops working
-- everywhere within the feed's latency. Last-use updates do not notify.
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tenancy_notify_api_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenancy_catalog', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER api_keys_inserted_deleted AFTER INSERT OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION tenancy_notify_api_key();
CREATE TRIGGER api_keys_changed AFTER UPDATE OF name, prefix, hash, scopes, revoked_at ON api_keys
    FOR EACH ROW
    WHEN ((OLD.name, OLD.prefix, OLD.hash, OLD.scopes, OLD.revoked_at)
          IS DISTINCT FROM
          (NEW.name, NEW.prefix, NEW.hash, NEW.scopes, NEW.revoked_at))
    EXECUTE FUNCTION tenancy_notify_api_key();

-- +goose Down
DROP TRIGGER api_keys_changed ON api_keys;
DROP TRIGGER api_keys_inserted_deleted ON api_keys;
DROP FUNCTION tenancy_notify_api_key();
