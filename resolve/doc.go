// Package resolve identifies the tenant of an HTTP request.
//
// It owns two things.
//
// [Cache] is an in-memory snapshot of every tenant by domain and by uuid,
// loaded from the Manager's catalog at start and swapped atomically, so a
// request for a known host costs a map lookup: no store query and no
// allocation. A host missing from the snapshot is asked of the Manager once
// (it may belong to a tenant another process created a moment ago); a
// not-found answer is remembered in a bounded negative cache, so random or
// malformed Host headers never reach the store twice within its TTL. The
// Cache follows changes: hooks on the Manager update the snapshot at once for
// changes made in this process, and an optional [Watcher] (the SQLite
// catalog's [github.com/gotenancy/tenancy/store/sqlitestore.Store.Watch])
// triggers a reload when another process commits to the catalog.
//
// [Chain] runs [Resolver]s in order to turn a request into a tenant: [Domain]
// (the exact host), [Subdomain] (a label under a central domain), [Path] (a
// /t/{tenant}/ prefix on central hosts, stripped before the application sees
// the request) and, opt-in only, [Header]. A Chain satisfies the
// RequestResolver that tenancy.Middleware needs.
//
// The tenants the Cache returns are shared by every request: callers must
// treat them as read-only (use Tenant.Clone to get a copy to change).
package resolve
