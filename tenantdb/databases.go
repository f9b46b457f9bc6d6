package tenantdb

import (
	"context"

	"github.com/gotenancy/tenancy/model"
)

// Databases is a Manager's view of its tenant databases: the pool of open
// handles, their sizes, and the schema (migrations and seeders) it applies
// to them. It is an interface so that the layers below the Manager (the
// resolver) can use it without importing the Manager.
type Databases interface {
	// Stats reports the pool of open tenant database handles.
	Stats() ConnStats
	// Open lists the names of the databases with an open handle.
	Open() []string
	// CloseUnused closes every handle no request is using and returns
	// how many it closed.
	CloseUnused() int
	// Repair pings every open handle and forgets those that fail, to be
	// opened afresh; it returns the names of the databases it forgot.
	Repair(ctx context.Context) []string
	// Forget closes the handles of a tenant that was deleted or whose
	// database was replaced, here or by another process; the change
	// watchers call it for every tenant that left the catalog.
	Forget(t *model.Tenant)
	// Size reports the bytes a tenant's database occupies.
	Size(ctx context.Context, t *model.Tenant) (int64, error)
	// Ping opens the tenant's database (from the pool) and runs a trivial
	// query on it.
	Ping(ctx context.Context, t *model.Tenant) error
	// Migrations reports how many tenant migrations are applied to every
	// tenant and the latest version among them (0 when there are none).
	Migrations() (count int, latest int64)
	// Seeders lists the names of the registered seeders.
	Seeders() []string
}
