-- The people who sign in to the admin dashboard, and their sessions. A
-- password is kept as a bcrypt hash, a session as the SHA-256 of its token:
-- neither secret is stored. A user's sessions go with the user.
-- +goose Up
CREATE TABLE admin_users (
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER
);

CREATE TABLE admin_sessions (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);

-- +goose Down
DROP TABLE admin_sessions;
DROP TABLE admin_users;
