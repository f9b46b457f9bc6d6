// Package pgstore is the central catalog (tenancy.Store) on PostgreSQL,
// through jackc/pgx/v5: the shared catalog of
// [github.com/gotenancy/tenancy/store/sqlstore] with PostgreSQL's dialect,
// over a database/sql view of the pgx pool. Several `tenancy serve` nodes
// share one catalog. Tenant locks are session advisory locks, each on a
// connection of its own (see [Store.TryLockTenant]).
//
// The schema is managed by embedded goose migrations applied on Open, under
// a session advisory lock so nodes starting together do not race. It has the
// same tables and meaning as the SQLite catalog with native types:
// timestamptz (microsecond precision, read back in UTC), jsonb for tenant
// settings and data, json for audit snapshots (kept as written), boolean
// flags, bytea key hashes and a text[] of key scopes. Unique violations are
// told apart by constraint name and reported as tenancy.ErrDomainTaken and
// tenancy.ErrDatabaseTaken.
//
// Changes that affect how tenants are served are announced by triggers
// with pg_notify on the tenancy_catalog channel; [Store.Watch] listens to
// it (see there).
package pgstore
