-- +goose Up
CREATE TABLE this is not sql;
-- +goose Down
SELECT 1;
