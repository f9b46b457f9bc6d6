// Package model holds the types every layer shares: tenants, domains,
// statuses, operation records, the sentinel and typed errors, and the
// catalog Store interface that each engine's catalog implements. It
// imports nothing of the project, so that engines (the drivers and their
// catalog stores) never import the Manager. The root package re-exports
// these names, so an application writes tenancy.Tenant and
// tenancy.ErrNotFound.
package model
