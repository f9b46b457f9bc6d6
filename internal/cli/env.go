package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/seed"
	"github.com/gotenancy/tenancy/storage"
	"github.com/gotenancy/tenancy/store/sqlitestore"
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
	store   *sqlitestore.Store
	mgr     *tenancy.Manager
	storage *storage.Storage
}

// openEnv opens the data directory, initialising it on first use. Commands
// that apply migrations or seeders load them (withMigrations); the others
// do not read them, so a broken migration file never stops `list`.
func openEnv(ctx context.Context, o *options, withMigrations bool) (*env, error) {
	dir := layout(o.dataDir)
	if err := os.MkdirAll(string(dir), 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	prov, err := tenantdb.NewSQLite(&tenantdb.SQLiteConfig{Dir: dir.databases()})
	if err != nil {
		return nil, err
	}
	cfg := &tenancy.Config{
		Provisioner: prov,
		ConnConfig:  &tenantdb.ConnConfig{MaxOpen: o.maxOpen},
	}
	if withMigrations {
		if cfg.Migrations, err = loadMigrations(o); err != nil {
			return nil, err
		}
		if cfg.Seeders, err = loadSeeders(o); err != nil {
			return nil, err
		}
	}
	store, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: dir.catalog()})
	if err != nil {
		return nil, err
	}
	cfg.Store = store
	mgr, err := tenancy.NewManager(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	files, err := storage.New(&storage.Config{Dir: dir.storage()})
	if err != nil {
		mgr.Close()
		store.Close()
		return nil, err
	}
	// A deleted tenant's files go with it. This runs before the database is
	// dropped, so a failure stops the delete and leaves it to be retried.
	mgr.On(tenancy.EventDeleting, func(ctx context.Context, e tenancy.Event) error {
		return files.Remove(e.Tenant.UUID)
	})
	return &env{store: store, mgr: mgr, storage: files}, nil
}

func (e *env) Close() {
	e.mgr.Close()
	e.store.Close()
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
	e, err := openEnv(ctx, o, false)
	if err != nil {
		return nil, err
	}
	e.Close()
	var report []string
	report = append(report, "catalog    "+dir.catalog())
	for _, part := range []struct {
		dir  string
		fsys fs.FS
		what string
	}{
		{dir.migrations(), demo.Migrations(), "migrations"},
		{dir.seeders(), demo.Seeders(), "seeders   "},
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
// operator's own migrations are never overwritten.
func writeTreeIfMissing(dir string, fsys fs.FS) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	} else if !os.IsNotExist(err) {
		return false, err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return false, err
	}
	if err := os.CopyFS(tmp, fsys); err != nil {
		os.RemoveAll(tmp)
		return false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return false, err
	}
	return true, nil
}
