// Package migrate owns per-tenant schema migrations and fleet runs.
//
// A [Set] is a collection of goose migrations (*.sql files in goose format,
// plus optional Go migrations) read into memory once with [Load] or
// [LoadDir], then applied to any number of tenant databases with
// [Set.Up], rolled back with [Set.Down] and inspected with [Set.Version] and
// [Set.Status]. Each call builds a goose provider over the in-memory copy, so
// running a set over a thousand tenant databases never re-reads the disk, and
// running it against an up-to-date database costs a few small queries.
// Versions are recorded in goose's version table (goose_db_version) of each
// tenant database.
//
// [RunFleet] is the engine-agnostic runner used for fleet operations
// (migrate all, seed all, back up all): it runs a function over many items
// with bounded concurrency, isolates failures and panics per item, reports
// progress, and can stop early on the first failure or on cancellation.
//
// The package does not open databases, choose which tenants to run, or record
// outcomes in the central catalog; callers do that around these primitives.
package migrate
