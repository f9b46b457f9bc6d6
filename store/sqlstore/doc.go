// Package sqlstore is the central catalog (model.Store) written once over
// database/sql, shared by the SQLite, PostgreSQL and MySQL stores: tenants
// and their domains, operation records, tenant locks (lease rows), and the
// control plane's API keys, audit log, admin users and sessions.
//
// An engine opens and migrates its database, then wraps New's *Store with
// its [Dialect]: how it writes placeholders, inserts, upserts, times and
// row locks, sorts and searches text, and tells constraint violations and
// retryable errors apart. The engine keeps its connection, migrations,
// dialect, change watcher and any lock mechanism of its own.
//
// Queries are written with ? placeholders and rewritten for the dialect.
// Times are microsecond-precise and read back in UTC; a tenant's settings
// and data are JSON objects, read back as empty maps when the column holds
// nothing, {} or a JSON null.
package sqlstore
