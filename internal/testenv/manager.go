package testenv

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/seed"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// ManagerConfig chooses what NewManager adds to the bare fixture. The zero
// value (or a nil config) is a Manager with no migrations and no seeders.
//
// The in-package tests of the packages this helper imports (tenancy,
// demo, migrate, seed, store/sqlitestore, tenantdb and what they import)
// cannot use it: that would be an import cycle.
type ManagerConfig struct {
	// Demo loads the demo application's SQLite migrations and SQL seeders.
	Demo bool
	// DemoGoSeeders also registers the demo's Go seeders
	// (demo.RegisterSeeders). It needs Demo.
	DemoGoSeeders bool
	// ExtraMigrations are Go migrations added to the demo ones. They need
	// Demo.
	ExtraMigrations []*goose.Migration
	// Migrations is the Manager's migration set when Demo is not set.
	Migrations *migrate.Set
	// WrapStore, if set, wraps the catalog the Manager sees; NewManager
	// still returns (and closes) the SQLite store itself.
	WrapStore func(tenancy.Store) tenancy.Store
	// Logger is the Manager's logger; nil discards.
	Logger *slog.Logger
	// CentralDomains are refused as tenant domains (tenancy.Config.CentralDomains).
	CentralDomains []string
	// Provisioner, if set, makes the tenant databases instead of SQLite
	// files; the demo's migrations and seeders are those of its dialect,
	// and a tenantdb.Preparer is prepared with them as tenancy.New does.
	Provisioner tenantdb.Provisioner
}

// NewManager builds a Manager on the data directory dir: a SQLite catalog
// at dir/catalog.sqlite and SQLite tenant databases in dir/tenants, with
// what cfg adds. The Manager and the store are closed when the test ends.
// Opening the same dir twice gives a second Manager over the same catalog,
// as another process would have.
func NewManager(tb testing.TB, dir string, cfg *ManagerConfig) (*tenancy.Manager, *sqlitestore.Store) {
	tb.Helper()
	if cfg == nil {
		cfg = &ManagerConfig{}
	}
	if !cfg.Demo && (cfg.DemoGoSeeders || len(cfg.ExtraMigrations) > 0) {
		tb.Fatal("testenv.NewManager: DemoGoSeeders and ExtraMigrations need Demo")
	}
	if cfg.Demo && cfg.Migrations != nil {
		tb.Fatal("testenv.NewManager: Migrations and Demo exclude each other")
	}
	st, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	var prov tenantdb.Provisioner = cfg.Provisioner
	if prov == nil {
		if prov, err = sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")}); err != nil {
			tb.Fatal(err)
		}
	}
	mc := &tenancy.Config{Store: st, Provisioner: prov, Migrations: cfg.Migrations, Logger: cfg.Logger, CentralDomains: cfg.CentralDomains}
	if cfg.WrapStore != nil {
		mc.Store = cfg.WrapStore(st)
	}
	if mc.Logger == nil {
		mc.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Demo {
		if mc.Migrations, err = migrate.Load(demo.Migrations(prov.Dialect()), cfg.ExtraMigrations...); err != nil {
			tb.Fatal(err)
		}
		mc.Seeders = seed.NewRegistry()
		if err := mc.Seeders.LoadFS(demo.Seeders(prov.Dialect())); err != nil {
			tb.Fatal(err)
		}
		if cfg.DemoGoSeeders {
			if err := demo.RegisterSeeders(mc.Seeders); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if p, ok := prov.(tenantdb.Preparer); ok && mc.Migrations != nil && mc.Migrations.Len() > 0 {
		if err := p.Prepare(context.Background(), func(ctx context.Context, db *sql.DB) error {
			_, err := mc.Migrations.Up(ctx, prov.Dialect(), db)
			return err
		}); err != nil {
			tb.Fatal(err)
		}
	}
	mgr, err := tenancy.NewManager(mc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mgr.Close() })
	return mgr, st
}

// ControlPlane returns a control plane over st, failing tb if it cannot.
func ControlPlane(tb testing.TB, st controlplane.Store) *controlplane.ControlPlane {
	tb.Helper()
	cp, err := controlplane.New(st, &controlplane.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}
