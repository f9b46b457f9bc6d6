-- A lower-case text of each tenant's name, database name and domains,
-- separated by char(31) and kept by triggers, so that searching is one
-- LIKE over one column instead of a scan with a subquery per row.
-- +goose Up
ALTER TABLE tenants ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE tenants SET search_text = lower(name) || char(31) || database_name || char(31) ||
    coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = tenants.id), '');

-- +goose StatementBegin
CREATE TRIGGER tenants_search_insert AFTER INSERT ON tenants
BEGIN
    UPDATE tenants SET search_text = lower(NEW.name) || char(31) || NEW.database_name || char(31) ||
        coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = NEW.id), '')
    WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_search_update AFTER UPDATE OF name, database_name ON tenants
BEGIN
    UPDATE tenants SET search_text = lower(NEW.name) || char(31) || NEW.database_name || char(31) ||
        coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = NEW.id), '')
    WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_search_insert AFTER INSERT ON domains
BEGIN
    UPDATE tenants SET search_text = lower(name) || char(31) || database_name || char(31) ||
        coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = NEW.tenant_id), '')
    WHERE id = NEW.tenant_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_search_delete AFTER DELETE ON domains
BEGIN
    UPDATE tenants SET search_text = lower(name) || char(31) || database_name || char(31) ||
        coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = OLD.tenant_id), '')
    WHERE id = OLD.tenant_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_search_update AFTER UPDATE OF domain ON domains
BEGIN
    UPDATE tenants SET search_text = lower(name) || char(31) || database_name || char(31) ||
        coalesce((SELECT group_concat(domain, char(31)) FROM domains WHERE tenant_id = NEW.tenant_id), '')
    WHERE id = NEW.tenant_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER domains_search_update;
DROP TRIGGER domains_search_delete;
DROP TRIGGER domains_search_insert;
DROP TRIGGER tenants_search_update;
DROP TRIGGER tenants_search_insert;
ALTER TABLE tenants DROP COLUMN search_text;
