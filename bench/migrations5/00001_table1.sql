-- +goose Up
CREATE TABLE table1 (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX table1_created ON table1 (created_at);
-- +goose Down
DROP TABLE table1;
