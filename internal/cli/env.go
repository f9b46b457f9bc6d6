package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/feed"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/seed"
	"github.com/gotenancy/tenancy/storage"
	"github.com/gotenancy/tenancy/tenantdb"
)

// layout names the parts of a data directory.
type layout string

func (l layout) catalog() string    { return filepath.Join(string(l), "catalog.sqlite") }
func (l layout) databases() string  { return filepath.Join(string(l), "tenants") }
func (l layout) migrations() string { return filepath.Join(string(l), "migrations", "tenant") }
func (l layout) seeders() string    { return filepath.Join(string(l), "seeders", "tenant") }
func (l layout) storage() string    { return filepath.Join(string(l), "storage") }

// env is what a command works with: the catalog and the Manager over it.
type env struct {
	store   catalog
	prov    tenantdb.Provisioner
	mgr     *tenancy.Manager
	cp      *controlplane.ControlPlane
	storage *storage.Storage
	// feed announces changes to other nodes over Redis (nil without --redis-url).
	feed *feed.Redis
}

// openEnv opens the data directory, initialising it on first use. Commands
// that apply migrations or seeders load them (withMigrations); the others
// do not read them, so a broken migration file never stops `list`.
func openEnv(ctx context.Context, o *options, withMigrations bool) (*env, error) {
	dir := layout(o.dataDir)
	if err := os.MkdirAll(string(dir), 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	maxOpen := o.maxOpen
	if !o.maxOpenSet && (o.tenantDB == modePostgresSchema || o.tenantDB == modePostgresRLS) {
		maxOpen = 0 // the provisioner's MaxOpenTenants: handles hold no connection
	}
	cfg := &tenancy.Config{ConnConfig: &tenantdb.ConnConfig{MaxOpen: maxOpen}, CentralDomains: o.centralDomains,
		AutoMigrate: envBool("TENANT_AUTO_MIGRATE", false), AutoSeed: envBool("TENANT_AUTO_SEED", false),
		DatabasePrefix: os.Getenv("TENANT_DB_PREFIX")}
	if p := cfg.DatabasePrefix; p != "" {
		if err := tenantdb.ValidatePrefix(p); err != nil {
			return nil, fmt.Errorf("TENANT_DB_PREFIX: %w", err)
		}
	}
	var err error
	if withMigrations {
		if cfg.Migrations, err = loadMigrations(o); err != nil {
			return nil, err
		}
		if cfg.Seeders, err = loadSeeders(o); err != nil {
			return nil, err
		}
	}
	store, err := openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	prov, err := openProvisioner(ctx, o, cfg.Migrations)
	if err != nil {
		store.Close()
		return nil, err
	}
	cfg.Store, cfg.Provisioner = store, prov
	mgr, err := tenancy.NewManager(cfg)
	if err != nil {
		closeProvisioner(prov)
		store.Close()
		return nil, err
	}
	files, err := storage.New(&storage.Config{Dir: dir.storage()})
	if err != nil {
		mgr.Close()
		closeProvisioner(prov)
		store.Close()
		return nil, err
	}
	// A deleted tenant's files go with it. This runs before the database is
	// dropped, so a failure stops the delete and leaves it to be retried.
	mgr.On(tenancy.EventDeleting, func(ctx context.Context, e tenancy.Event) error {
		return files.Remove(e.Tenant.UUID)
	})
	cp, err := controlplane.New(store, &controlplane.Config{Logger: o.log})
	if err != nil {
		mgr.Close()
		closeProvisioner(prov)
		store.Close()
		return nil, err
	}
	e := &env{store: store, prov: prov, mgr: mgr, cp: cp, storage: files}
	if o.redisURL != "" {
		if e.feed, err = feed.NewRedis(ctx, &feed.RedisConfig{URL: o.redisURL, Logger: o.log}); err != nil {
			e.Close()
			return nil, err
		}
		for _, kind := range []tenancy.EventKind{tenancy.EventCreated, tenancy.EventUpdated, tenancy.EventStatusChanged,
			tenancy.EventDeleted, tenancy.EventDomainAdded, tenancy.EventDomainRemoved} {
			mgr.On(kind, e.feed.Hook())
		}
	}
	return e, nil
}

func (e *env) Close() {
	if e.feed != nil {
		e.feed.Close()
	}
	e.mgr.Close()
	closeProvisioner(e.prov)
	e.store.Close()
}

// closeProvisioner closes a provisioner's administrative connections, if it has any.
func closeProvisioner(p tenantdb.Provisioner) {
	if c, ok := p.(io.Closer); ok {
		c.Close()
	}
}

// loadMigrations reads --migrations (which must exist) or the data
// directory's default one (which may be missing: nothing to apply).
func loadMigrations(o *options) (*migrate.Set, error) {
	if o.migrations != "" {
		return migrate.LoadDir(o.migrations, true)
	}
	return migrate.LoadDir(layout(o.dataDir).migrations(), false)
}

// loadSeeders registers the demo's Go seeders and the SQL seeders of
// --seeders (which must exist) or the data directory's default one.
func loadSeeders(o *options) (*seed.Registry, error) {
	r := seed.NewRegistry()
	if err := demo.RegisterSeeders(r); err != nil {
		return nil, err
	}
	dir := layout(o.dataDir).seeders()
	if o.seeders != "" {
		dir = o.seeders
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("seeders directory %s does not exist or is not a directory", dir)
		}
	}
	if err := r.LoadDir(dir); err != nil {
		return nil, err
	}
	return r, nil
}

// install lays out a data directory: catalog, tenant database directory,
// and the demo application's migrations and seeders where none exist yet.
// It reports what it made and what it kept.
func install(ctx context.Context, o *options) ([]string, error) {
	dir := layout(o.dataDir)
	// Installing changes no tenant: nothing to announce over Redis.
	local := *o
	local.redisURL = ""
	e, err := openEnv(ctx, &local, false)
	if err != nil {
		return nil, err
	}
	e.Close()
	var report []string
	catalogAt := dir.catalog()
	if o.databaseURL != "" {
		catalogAt = tenantdb.RedactURL(o.databaseURL)
	}
	report = append(report, "catalog    "+catalogAt)
	for _, part := range []struct {
		dir  string
		fsys fs.FS
		what string
	}{
		{dir.migrations(), demo.Migrations(o.dialect()), "migrations"},
		{dir.seeders(), demo.Seeders(o.dialect()), "seeders   "},
	} {
		made, err := writeTreeIfMissing(part.dir, part.fsys)
		if err != nil {
			return nil, err
		}
		state := "kept"
		if made {
			state = "created"
		}
		report = append(report, fmt.Sprintf("%s %s (%s)", part.what, part.dir, state))
	}
	return report, nil
}

// writeTreeIfMissing copies fsys into dir unless dir already exists, so an
// operator's own migrations are never overwritten. The copy is made in a
// directory of its own and renamed into place, so processes installing
// the same data directory at the same moment never see a half-written
// tree: one of them puts its copy in place, the others find dir there and
// keep it.
func writeTreeIfMissing(dir string, fsys fs.FS) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	} else if !os.IsNotExist(err) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, err
	}
	if err := os.CopyFS(tmp, fsys); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return false, nil // another process put its copy in place first
		}
		return false, err
	}
	return true, nil
}
