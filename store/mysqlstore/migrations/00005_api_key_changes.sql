-- API keys created, revoked or removed bump the catalog version too, so
-- that every node watching the catalog drops the key verifications it
-- remembers: a revoked key stops working everywhere within the watcher's
-- latency. Last-use updates do not count.
-- +goose Up
CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys FOR EACH ROW
    UPDATE catalog_version SET version = version + 1 WHERE id = 1;
-- +goose StatementBegin
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys FOR EACH ROW
BEGIN
    IF NOT (CAST(OLD.name AS BINARY) <=> CAST(NEW.name AS BINARY)
        AND CAST(OLD.prefix AS BINARY) <=> CAST(NEW.prefix AS BINARY)
        AND OLD.hash <=> NEW.hash
        AND CAST(OLD.scopes AS BINARY) <=> CAST(NEW.scopes AS BINARY)
        AND OLD.revoked_at <=> NEW.revoked_at) THEN
        UPDATE catalog_version SET version = version + 1 WHERE id = 1;
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER api_keys_changed;
DROP TRIGGER api_keys_deleted;
DROP TRIGGER api_keys_inserted;
