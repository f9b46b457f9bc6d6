// Package mysqlstore is the central catalog (tenancy.Store) on MySQL 8 or
// MariaDB (10.5 and later), through go-sql-driver/mysql: the shared catalog
// of [github.com/gotenancy/tenancy/store/sqlstore] with MySQL's dialect.
//
// The schema is managed by embedded goose migrations applied on Open,
// under a GET_LOCK named after the database, so nodes starting together do
// not race. It has the same tables and meaning as the SQLite catalog: times
// are DATETIME(6) in UTC, JSON is LONGTEXT checked with JSON_VALID (kept as
// written), text is utf8mb4 with a case-insensitive collation
// (utf8mb4_unicode_ci: search and name order ignore case, and so do the
// unique keys), indexed text is VARCHAR(255). Duplicate-key errors are told
// apart by key name and reported as tenancy.ErrDomainTaken and
// tenancy.ErrDatabaseTaken. Transactions that InnoDB picks as a deadlock
// victim are retried.
//
// Open adjusts the DSN: parseTime=true, multiStatements=true (the
// migrations need them), loc=UTC (times are stored in UTC) and
// clientFoundRows=true (an update that changes nothing still finds its
// row). The pool holds at most 10 connections, each for at most three
// minutes (under the server's wait_timeout); the lookups by domain and by
// uuid are prepared statements.
//
// A tenant in a lifecycle state (provisioning, deleting) keeps it in its own
// column, beside the status it will have or had, and is reported with the
// lifecycle state as its status. Per-tenant locks are lease rows in
// tenant_locks, keyed by the tenant's uuid and compared as bytes: a lease
// is taken when it is absent, expired or already the caller's, in one
// INSERT … ON DUPLICATE KEY UPDATE, and lapses ttl after it was taken or
// last renewed.
//
// Changes that affect how tenants are served bump a counter through
// triggers, which [Store.Watch] polls. Creating triggers on a server with
// binary logging on needs the SUPER privilege or
// log_bin_trust_function_creators=1.
package mysqlstore
