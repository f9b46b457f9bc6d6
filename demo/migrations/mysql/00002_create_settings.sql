-- +goose Up
CREATE TABLE settings (
    `key`   VARCHAR(191) PRIMARY KEY,
    `value` TEXT NOT NULL
) DEFAULT CHARSET = utf8mb4;

-- +goose Down
DROP TABLE settings;
