// Package jobs runs tenant-aware background jobs on River
// (github.com/riverqueue/river).
//
// A job always runs for exactly one tenant. [Client.Enqueue] (or, inside
// tenant code, tenancy.Enqueue through the [Client.Bootstrapper]) records
// the tenant's UUID in the job's River metadata under [MetadataKey]. A
// River worker middleware, installed by [Open] ahead of any other, restores
// the tenant before the worker runs:
//
//  1. it reads tenant_uuid from the job's metadata; a job without one, or
//     with a value that is not a UUID, is refused (fail closed);
//  2. it loads the tenant through tenancy.Manager.Get (never the store
//     directly); a tenant that no longer exists is refused;
//  3. it refuses a tenant whose status is not active (inactive, suspended,
//     blocked);
//  4. otherwise it runs the worker inside Manager.Run, so in Work
//     tenancy.FromContext returns the tenant, tenancy.DB opens its database,
//     the resources of the Manager's bootstrappers (tenancy.Cache,
//     tenancy.Storage, tenancy.Enqueue) are there, and everything is
//     released when Work returns.
//
// A refused job is cancelled with river.JobCancel wrapping [ErrTenantRefused],
// so River never retries it and its Work body never runs. A failure to load
// the tenant for another reason (the catalog is unreachable) is an ordinary
// error, and River retries the job.
//
// Maintenance mode does not stop background jobs: a tenant in maintenance
// whose status is active has its jobs run. Maintenance is about what
// visitors see (503 pages); the work done during maintenance (data fixes,
// imports, migrations) is often exactly what the jobs are for. A job that
// must not run during maintenance can check Tenant.Maintenance itself and
// return river.JobSnooze.
//
// The jobs database is SQLite by default, opened with [OpenSQLite], or
// PostgreSQL (Config.Pool, River's pgx driver); River's tables are created
// (and upgraded) by River's own migrations when [Open] runs. River's SQLite
// driver needs a pool of one connection, which Open enforces.
//
// Nodes that start at the same moment run River's migrations one after the
// other: on PostgreSQL each holds a session advisory lock on one connection
// around the migrator, on SQLite an exclusive flock on a lock file next to
// the database (<file>.lock). The node that comes second finds the tables
// up to date.
//
// [Client.Stats] counts the outcomes of the jobs this client worked, for
// monitoring.
package jobs
