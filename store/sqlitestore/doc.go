// Package sqlitestore is the central catalog (tenancy.Store) on one SQLite
// file, through modernc.org/sqlite (no cgo). The file runs in WAL mode with a
// busy timeout so the server and CLI processes can share it, and its schema
// is managed by embedded goose migrations applied on Open.
package sqlitestore
