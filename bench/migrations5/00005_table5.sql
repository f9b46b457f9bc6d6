-- +goose Up
CREATE TABLE table5 (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX table5_created ON table5 (created_at);
-- +goose Down
DROP TABLE table5;
