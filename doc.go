// Package tenancy makes a Go application multi-tenant.
//
// It owns the tenant model (Tenant, Domain, Status), the errors every layer
// shares, the context helpers that carry a tenant through a request or a job,
// and Manager: the one service layer through which the CLI, the REST API, the
// dashboard and background jobs create, change, migrate and delete tenants.
//
// Storage of the central catalog is behind the Store interface (see the store
// packages); tenant databases are provisioned and pooled by package tenantdb;
// migrations and fleet runs live in package migrate; seeders in package seed.
package tenancy
