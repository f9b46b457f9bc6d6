-- Two users; the semicolon inside the string is data, not a separator.
INSERT INTO users (name) VALUES ('admin');
INSERT INTO users (name) VALUES ('guest; read-only');
-- trailing comment
