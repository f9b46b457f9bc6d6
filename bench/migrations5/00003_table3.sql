-- +goose Up
CREATE TABLE table3 (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX table3_created ON table3 (created_at);
-- +goose Down
DROP TABLE table3;
