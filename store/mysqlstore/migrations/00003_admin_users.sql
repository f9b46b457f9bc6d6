-- The people who sign in to the admin dashboard, and their sessions. A
-- password is kept as a bcrypt hash, a session as the SHA-256 of its token
-- (32 bytes): neither secret is stored. A user's sessions go with the user.
-- The email key is named because the store maps duplicate-key errors to
-- tenancy.ErrAdminExists by key name. Neither table bumps catalog_version.
-- +goose Up
CREATE TABLE admin_users (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    email           VARCHAR(255) NOT NULL,
    password_hash   VARCHAR(255) NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    last_sign_in_at DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY admin_users_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE admin_sessions (
    token_hash BINARY(32)  NOT NULL,
    user_id    BIGINT      NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    PRIMARY KEY (token_hash),
    KEY admin_sessions_expires_at (expires_at),
    KEY admin_sessions_user (user_id),
    CONSTRAINT admin_sessions_user_fk FOREIGN KEY (user_id) REFERENCES admin_users (id) ON DELETE CASCADE
) ENGINE = InnoDB;

-- +goose Down
DROP TABLE admin_sessions;
DROP TABLE admin_users;
