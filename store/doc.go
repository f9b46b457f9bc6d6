// Package store holds the implementations of the central catalog
// (tenancy.Store): sqlitestore, the embedded default; pgstore, PostgreSQL
// through pgx with a LISTEN/NOTIFY change feed; mysqlstore, MySQL and
// MariaDB; and the conformance suite storetest that every implementation
// passes.
package store
