INSERT INTO notes (body) VALUES
    ('Welcome! This note lives in this tenant''s own database.'),
    ('Every tenant has its own notes, files and cache.'),
    ('Try POST /api/notes with {"body": "..."} to add one.');
DELETE FROM settings WHERE key = 'theme';
INSERT INTO settings (key, value) VALUES ('theme', 'light');
