package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/gotenancy/tenancy/driver"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/tenantdb"
)

// Driver is what an engine provides (see package driver): the central
// catalog, the provisioner of tenant databases and the catalog's change
// watcher. The engines live in their own packages (driver/sqlitedriver,
// driver/pgdriver, driver/mysqldriver); this package never imports one.
type Driver = driver.Driver

// Engine is a connected Driver (see package driver).
type Engine = driver.Engine

// New connects d and returns a Manager over it; Close closes both. cfg's
// Store and Provisioner must be empty: they come from the driver. A nil
// cfg means the defaults.
//
// The embedded default is
//
//	mgr, err := tenancy.New(ctx, sqlitedriver.Open("data"), &tenancy.Config{Migrations: tenancy.MigrationsFS(migrationsFS, "migrations")})
//	defer mgr.Close()
//	http.ListenAndServe(":8080", mgr.Handler(mux))
func New(ctx context.Context, d Driver, cfg *Config) (*Manager, error) {
	if d == nil {
		return nil, errors.New("tenancy: a Driver is required")
	}
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Store != nil || c.Provisioner != nil {
		return nil, errors.New("tenancy: New takes the Store and Provisioner from the Driver; leave Config.Store and Config.Provisioner empty")
	}
	if err := c.Migrations.Err(); err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	e, err := d.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	closeEngine := func() error {
		if e.Close != nil {
			return e.Close()
		}
		return nil
	}
	if p, ok := e.Provisioner.(tenantdb.Preparer); ok && c.Migrations != nil && c.Migrations.Len() > 0 {
		up := func(ctx context.Context, db *sql.DB) error {
			_, err := c.Migrations.Up(ctx, e.Provisioner.Dialect(), db)
			return err
		}
		if err := p.Prepare(ctx, up); err != nil {
			return nil, errors.Join(fmt.Errorf("tenancy: prepare the shared tables: %w", err), closeEngine())
		}
	}
	c.Store, c.Provisioner = e.Store, e.Provisioner
	m, err := NewManager(&c)
	if err != nil {
		return nil, errors.Join(err, closeEngine())
	}
	m.closeEngine = closeEngine
	chain, stop, err := resolve.NewDefault(ctx, m, e.Watcher)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("tenancy: resolver: %w", err), m.Close())
	}
	m.resolver, m.stopResolver = chain, stop
	return m, nil
}

// MigrationsFS loads the .sql migrations in the directory dir of fsys
// (for the usual `//go:embed migrations/*.sql`, dir is "migrations"). A
// missing directory, one without migrations, or a bad file is an error
// that New reports, naming the directory: a Manager never starts with
// migrations asked for and none found.
func MigrationsFS(fsys fs.FS, dir string) *migrate.Set {
	sub, err := fs.Sub(fsys, dir)
	if err == nil {
		var set *migrate.Set
		if set, err = migrate.Load(sub); err == nil {
			if set.Len() > 0 {
				return set
			}
			err = fmt.Errorf("no .sql migrations in directory %q", dir)
		}
	}
	return migrate.Failed(fmt.Errorf("migrations %q: %w", dir, err))
}

// Handler wraps next, the tenant application, as Middleware does with the
// Manager's own resolver (an in-memory snapshot of the catalog kept
// current by the Driver's watcher; see New): each request is resolved by
// host, refused when the tenant's status says so, and served in the
// tenant's context. It panics for a Manager made by NewManager, which has
// no resolver: use Middleware with a resolve.Chain there.
func (m *Manager) Handler(next http.Handler) http.Handler {
	if m.resolver == nil {
		panic("tenancy: Manager.Handler needs a Manager made by New")
	}
	return Middleware(next, &MiddlewareConfig{Manager: m, Resolver: m.resolver})
}

// EnsureTenant returns the tenant with req.Domain, creating it (as Create
// does) when there is none: start-up code can call it on every start. An
// existing tenant is returned as it is, whatever its other fields.
func (m *Manager) EnsureTenant(ctx context.Context, req CreateRequest) (*Tenant, error) {
	// A tenant left half-made by a crash (provisioning) goes through
	// Create, which repairs it.
	if t, err := m.Get(ctx, req.Domain); err == nil && !t.Status.Lifecycle() {
		return t, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	t, err := m.Create(ctx, req)
	if errors.Is(err, ErrDomainTaken) { // created meanwhile by another process
		return m.Get(ctx, req.Domain)
	}
	return t, err
}
