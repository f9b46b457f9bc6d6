// Package storage owns the tenants' file storage: one directory per tenant,
// <Dir>/<tenant uuid>, opened as an *os.Root so that no path a tenant's code
// uses (.., an absolute path, a symlink pointing out) can leave it.
//
// Tenant ids are checked to be canonical lower-case UUIDs before they
// become part of a path, so raw input never reaches the file system.
//
// [Bootstrapper] makes the current tenant's root reachable with
// tenancy.Storage(ctx). The root is opened only when a handler first asks
// for it, shared by the later calls in that context, and closed when the
// tenant context ends.
package storage
