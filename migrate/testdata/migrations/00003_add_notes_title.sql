-- +goose Up
ALTER TABLE notes ADD COLUMN title TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE notes DROP COLUMN title;
