// Package store holds the implementations of the central catalog
// (tenancy.Store): sqlstore, the catalog written once over database/sql
// with a dialect per engine; sqlitestore, the embedded default;
// pgstore, PostgreSQL through pgx with advisory tenant locks and a
// LISTEN/NOTIFY change feed; mysqlstore, MySQL and MariaDB; and the
// conformance suite storetest that every implementation passes.
package store
