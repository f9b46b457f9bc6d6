-- +goose Up
CREATE TABLE notes (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at VARCHAR(32) NOT NULL DEFAULT (DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%fZ'))
) DEFAULT CHARSET = utf8mb4;

-- +goose Down
DROP TABLE notes;
