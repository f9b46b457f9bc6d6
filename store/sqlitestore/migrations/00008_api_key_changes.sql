-- API keys created, revoked or removed bump the catalog version too, so
-- that every process watching the catalog drops the key verifications it
-- remembers: a revoked key stops working everywhere within the watcher's
-- latency. Last-use updates do not count.
-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_changed AFTER UPDATE OF name, prefix, hash, scopes, revoked_at ON api_keys
BEGIN UPDATE catalog_version SET version = version + 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER api_keys_changed;
DROP TRIGGER api_keys_deleted;
DROP TRIGGER api_keys_inserted;
