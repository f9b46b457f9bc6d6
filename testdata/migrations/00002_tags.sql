-- +goose Up
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
-- +goose Down
DROP TABLE tags;
