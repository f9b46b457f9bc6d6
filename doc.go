// Package tenancy makes a Go application multi-tenant.
//
// It owns Manager, the one service layer through which the CLI, the REST
// API, the dashboard and background jobs create, change, migrate and delete
// tenants; the middleware that resolves a request to its tenant, gates it
// by status and serves it in the tenant's context; and the context helpers
// (FromContext, DB, Cache, Storage, Enqueue, Logger). The tenant model and
// the errors come from package model and are re-exported here.
//
// An engine is picked by its driver (package driver and its
// sqlitedriver, pgdriver and mysqldriver): New connects one and returns a
// Manager whose Handler serves the application. This package imports no
// database driver. Tenant databases are pooled by package tenantdb,
// migrations and fleet runs live in package migrate, seeders in package
// seed, and request resolution in package resolve.
package tenancy
