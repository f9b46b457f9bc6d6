-- +goose Up
CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    body       TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- +goose Down
DROP TABLE notes;
