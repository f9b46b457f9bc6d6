-- +goose Up
CREATE TABLE table4 (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX table4_created ON table4 (created_at);
-- +goose Down
DROP TABLE table4;
