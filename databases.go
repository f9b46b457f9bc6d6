package tenancy

import (
	"context"

	"github.com/gotenancy/tenancy/tenantdb"
)

// ErrDatabaseUnavailable is tenantdb.ErrUnavailable: the tenant's database
// cannot serve now (its server or shard is down, the connection was lost
// mid-transaction, its schema or registration is missing) and nothing of
// the failed statement was kept. Handlers answer it with 503.
var ErrDatabaseUnavailable = tenantdb.ErrUnavailable

// Databases is the Manager's view of the tenant databases (see
// tenantdb.Databases); get it with Manager.Databases.
type Databases = tenantdb.Databases

// Databases returns the view of the tenant databases: the pool of open
// handles, their sizes, and the schema (migrations and seeders) the
// Manager applies to them.
func (m *Manager) Databases() Databases { return databases{m} }

// databases implements Databases over a Manager.
type databases struct{ m *Manager }

var _ Databases = databases{}

// Stats reports the pool of open tenant database handles.
func (d databases) Stats() tenantdb.ConnStats { return d.m.conns.Stats() }

// Open lists the names of the databases with an open handle.
func (d databases) Open() []string { return d.m.conns.Names() }

// CloseUnused closes every handle no request is using and returns how many
// it closed.
func (d databases) CloseUnused() int { return d.m.conns.CloseUnused() }

// Repair pings every open handle and forgets those that fail, to be opened
// afresh; it returns the names of the databases it forgot.
func (d databases) Repair(ctx context.Context) []string { return d.m.conns.Repair(ctx) }

// Forget closes the handles of a tenant that was deleted or whose database
// was replaced, here or by another process; the change watchers call it for
// every tenant that left the catalog.
func (d databases) Forget(t *Tenant) { d.m.conns.ForgetTenant(t.UUID) }

// Size reports the bytes a tenant's database occupies.
func (d databases) Size(ctx context.Context, t *Tenant) (int64, error) {
	return d.m.prov.Size(ctx, t.DatabaseName)
}

// Ping opens the tenant's database (from the pool) and runs a trivial
// query on it.
func (d databases) Ping(ctx context.Context, t *Tenant) error {
	h, err := d.m.openFor(ctx, t)
	if err != nil {
		return err
	}
	defer h.Release()
	var one int
	return h.DB().QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Migrations reports how many tenant migrations the Manager applies and
// the latest version among them (0 when there are none).
func (d databases) Migrations() (count int, latest int64) {
	return d.m.migrations.Len(), d.m.migrations.Latest()
}

// Seeders lists the names of the registered seeders.
func (d databases) Seeders() []string { return d.m.seeders.Names() }
