-- +goose Up
ALTER TABLE tenants ADD COLUMN maintenance_secret TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenants DROP COLUMN maintenance_secret;
