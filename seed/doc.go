// Package seed owns named seeders: the code and SQL that put initial data
// into a tenant database after its migrations have run.
//
// A [Registry] holds seeders by name. Go seeders are registered with
// [Registry.Register]; SQL seeders are *.sql files loaded from a directory
// with [Registry.LoadDir] or from an fs.FS with [Registry.LoadFS], and are
// read into memory when loaded. [Registry.Run] runs chosen seeders, or all
// of them in name order, against one tenant database; it is safe to call
// concurrently, so a fleet run may seed many tenants at once with one
// registry.
//
// The package does not decide which tenants to seed or record that a tenant
// was seeded; callers do that around Run.
package seed
