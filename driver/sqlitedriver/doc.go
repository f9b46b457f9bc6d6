// Package sqlitedriver is the SQLite engine, the embedded default: Open
// returns the Driver of a data directory (catalog.sqlite and a database file
// per tenant under tenants/), and Provisioner makes the tenant databases.
// It imports neither the Manager nor the resolver.
package sqlitedriver
