package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/tenantdb"
)

// DataOps is what the data operations (backup, restore, move: package
// backups) need of the Manager besides its tenants: the tenant's lock, the
// engine's provisioner, migration versions and the swap of a tenant's
// database. Get it with Manager.DataOps.
type DataOps struct{ m *Manager }

// DataOps returns the Manager's data operations view.
func (m *Manager) DataOps() DataOps { return DataOps{m} }

// ErrNoDataStore is returned when the catalog does not keep backups.
var ErrNoDataStore = errors.New("this catalog keeps no backups")

// Store returns the catalog's backup records and database swap.
func (d DataOps) Store() (model.DataStore, error) {
	ds, ok := d.m.store.(model.DataStore)
	if !ok {
		return nil, ErrNoDataStore
	}
	return ds, nil
}

// Provisioner returns the engine's provisioner of tenant databases.
func (d DataOps) Provisioner() tenantdb.Provisioner { return d.m.prov }

// Locked runs fn holding the lock of tenant t (waiting up to the
// Manager's LockWait), with t read afresh; op names the operation in the
// lock's holder. A tenant being created or deleted is a *StateError.
func (d DataOps) Locked(ctx context.Context, t *Tenant, op string, fn func(ctx context.Context, t *Tenant) error) error {
	m := d.m
	t, err := m.ready(ctx, t)
	if err != nil {
		return err
	}
	lctx, lock, err := m.lockTenant(ctx, t.UUID, op, m.lockWait, nil)
	if err != nil {
		return err
	}
	defer lock.release()
	fresh, err := m.store.TenantByUUID(lctx, t.UUID)
	if err != nil {
		return err
	}
	if fresh.Status.Lifecycle() {
		return &StateError{Tenant: fresh.UUID, Status: fresh.Status}
	}
	return fn(lctx, fresh)
}

// MigrationVersion is the migration version of the tenant's database.
func (d DataOps) MigrationVersion(ctx context.Context, t *Tenant) (int64, error) {
	h, err := d.m.acquire(ctx, t)
	if err != nil {
		return 0, fmt.Errorf("open database %s: %w", t.DatabaseName, err)
	}
	defer h.Release()
	return d.m.migrations.Version(ctx, d.m.prov.Dialect(), h.DB())
}

// LatestVersion is the version of the newest tenant migration.
func (d DataOps) LatestVersion() int64 {
	_, latest := d.m.Databases().Migrations()
	return latest
}

// MigrateNew applies the tenant migrations to the database name (not yet
// any tenant's), up to version.
func (d DataOps) MigrateNew(ctx context.Context, name string, version int64) error {
	db, err := d.m.prov.Open(ctx, name)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := d.m.migrations.UpTo(ctx, d.m.prov.Dialect(), db, version); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	return nil
}

// CheckNew is the test query of a restored database name (not yet any
// tenant's): it must open and be at migration version.
func (d DataOps) CheckNew(ctx context.Context, name string, version int64) error {
	db, err := d.m.prov.Open(ctx, name)
	if err != nil {
		return err
	}
	defer db.Close()
	got, err := d.m.migrations.Version(ctx, d.m.prov.Dialect(), db)
	if err != nil {
		return fmt.Errorf("check the restored database: %w", err)
	}
	if got != version {
		return fmt.Errorf("the restored database is at migration version %d, the backup says %d", got, version)
	}
	return nil
}

// dataOpMaintenance is the maintenance message of a restore or move, by
// which Repair knows a maintenance that a dead one left on.
const dataOpMaintenance = "Restoring or moving this site's data; back shortly."

// generationSuffix ends a database name made by ReplaceDatabase.
var generationSuffix = regexp.MustCompile(`_g[0-9]+$`)

// nextDatabaseName names the database of t's next generation.
func nextDatabaseName(t *Tenant) string {
	base := generationSuffix.ReplaceAllString(t.DatabaseName, "")
	suffix := "_g" + strconv.FormatInt(t.Generation+1, 10)
	if len(base)+len(suffix) > tenantdb.MaxNameLen {
		base = base[:tenantdb.MaxNameLen-len(suffix)]
	}
	return base + suffix
}

// ReplaceDatabase gives tenant t a new database; call it under Locked. It
// puts the tenant in maintenance, has fill make the new database (named
// name, which fill creates and checks), points the catalog at it and
// bumps the database generation (so every node drops its handles to the
// old one), then ends the maintenance it began and drops the old
// database. When fill or the swap fails, the new database is dropped and
// the tenant is left as it was. A crash in between leaves a database no
// tenant owns, which Repair drops.
func (d DataOps) ReplaceDatabase(ctx context.Context, t *Tenant, action string, fill func(ctx context.Context, name string) error) (*Tenant, error) {
	return d.ReplaceDatabaseOn(ctx, t, t.Shard, action, fill)
}

// ReplaceDatabaseOn is ReplaceDatabase with the new database on shard
// (which fill creates it on, through tenantdb.WithShard in its context):
// the catalog records the tenant on that shard after the swap.
func (d DataOps) ReplaceDatabaseOn(ctx context.Context, t *Tenant, shard, action string, fill func(ctx context.Context, name string) error) (*Tenant, error) {
	m := d.m
	ds, err := d.Store()
	if err != nil {
		return nil, err
	}
	before := *t
	name := nextDatabaseName(t)
	if !t.Maintenance {
		on := *t
		on.Maintenance, on.MaintenanceMessage = true, dataOpMaintenance
		if err := m.store.UpdateTenant(ctx, &on); err != nil {
			return nil, err
		}
		m.emit(ctx, Event{Kind: EventUpdated, Tenant: &on})
	}
	undo := func(cause error) (*Tenant, error) {
		dctx := context.WithoutCancel(ctx)
		err := errors.Join(cause, m.prov.Drop(dctx, name))
		if !before.Maintenance {
			back, gerr := m.store.TenantByUUID(dctx, t.UUID)
			if gerr == nil {
				back.Maintenance, back.MaintenanceMessage = false, before.MaintenanceMessage
				if gerr = m.store.UpdateTenant(dctx, back); gerr == nil {
					m.emit(dctx, Event{Kind: EventUpdated, Tenant: back})
				}
			}
			err = errors.Join(err, gerr)
		}
		m.audit(ctx, action, &before, nil, err)
		return nil, err
	}
	if err := fill(tenantdb.WithShard(ctx, shard), name); err != nil {
		return undo(err)
	}
	if err := ds.ReplaceDatabase(ctx, t.ID, t.Generation, name, shard); err != nil {
		return undo(err)
	}
	m.conns.ForgetTenant(t.UUID)
	after, err := m.store.TenantByUUID(ctx, t.UUID)
	if err != nil {
		return nil, err
	}
	if !before.Maintenance {
		after.Maintenance, after.MaintenanceMessage = false, before.MaintenanceMessage
		if err := m.store.UpdateTenant(ctx, after); err != nil {
			return nil, err
		}
	}
	if err := m.prov.Drop(context.WithoutCancel(ctx), before.DatabaseName); err != nil {
		m.log.Warn("drop the replaced database", slog.String("database", before.DatabaseName), slog.Any("err", err))
	}
	// This node's resolver and handles follow at once; other nodes when
	// the change reaches them.
	m.emit(ctx, Event{Kind: EventUpdated, Tenant: after})
	m.audit(ctx, action, &before, after, nil)
	return after, nil
}

// Dialect is goose's name of the tenant databases' engine.
func (d DataOps) Dialect() string { return d.m.prov.Dialect() }

// TenantColumn is the column of shared tables that holds the tenant
// (postgres-rls), which copies of a tenant's rows leave out; "" for the
// engines whose tenants have databases of their own.
func (d DataOps) TenantColumn() string {
	if rs, ok := d.m.prov.(tenantdb.RowScoped); ok {
		return rs.TenantColumn()
	}
	return ""
}

// DB runs fn with the database handle of tenant t (bound to it, as
// tenancy.DB gives the application).
func (d DataOps) DB(ctx context.Context, t *Tenant, fn func(ctx context.Context, db *sql.DB) error) error {
	h, err := d.m.acquire(ctx, t)
	if err != nil {
		return fmt.Errorf("open database %s: %w", t.DatabaseName, err)
	}
	defer h.Release()
	return fn(ctx, h.DB())
}

// OpenNew opens the database name (not yet any tenant's, as made by the
// fill of ReplaceDatabase); the caller closes it.
func (d DataOps) OpenNew(ctx context.Context, name string) (*sql.DB, error) {
	return d.m.prov.Open(ctx, name)
}
