// Package sqlitestore is the central catalog (tenancy.Store) on one SQLite
// file, through modernc.org/sqlite (no cgo): the shared catalog of
// [github.com/gotenancy/tenancy/store/sqlstore] with SQLite's dialect. The
// file runs in WAL mode with a busy timeout so the server and CLI processes
// can share it, and its schema is managed by embedded goose migrations
// applied on Open, under an flock on <catalog>.lock so processes opening a
// new catalog together take turns.
package sqlitestore
