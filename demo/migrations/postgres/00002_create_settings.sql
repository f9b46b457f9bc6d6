-- Keys are unique per tenant; no database-wide unique constraint, so the
-- same table works when tenants share it (postgres-rls).
-- +goose Up
CREATE TABLE settings (
    id    BIGSERIAL PRIMARY KEY,
    key   TEXT NOT NULL,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
