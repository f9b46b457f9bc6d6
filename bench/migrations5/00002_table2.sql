-- +goose Up
CREATE TABLE table2 (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX table2_created ON table2 (created_at);
-- +goose Down
DROP TABLE table2;
