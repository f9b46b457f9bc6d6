package resolve_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// env is a Manager on a temporary catalog, and a Cache over it.
type env struct {
	dir   string
	store *sqlitestore.Store
	mgr   *tenancy.Manager
	cache *resolve.Cache
}

// newEnv makes an env; tenants are created before the Cache loads.
func newEnv(tb testing.TB, cfg *resolve.CacheConfig, domains ...string) *env {
	tb.Helper()
	e := &env{dir: tb.TempDir()}
	e.store, e.mgr = openManager(tb, e.dir)
	for _, d := range domains {
		mustCreate(tb, e.mgr, d)
	}
	var err error
	if e.cache, err = resolve.NewCache(context.Background(), e.mgr, cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.cache.Close() })
	return e
}

// openManager opens the catalog and tenant directory in dir, as another
// process would.
func openManager(tb testing.TB, dir string) (*sqlitestore.Store, *tenancy.Manager) {
	tb.Helper()
	m, st := testenv.NewManager(tb, dir, nil)
	return st, m
}

func mustCreate(tb testing.TB, m *tenancy.Manager, domain string) *tenancy.Tenant {
	tb.Helper()
	t, err := m.Create(context.Background(), tenancy.CreateRequest{Name: "Tenant " + domain, Domain: domain})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// mustHost looks host up and fails unless it is the tenant with uuid want.
func mustHost(tb testing.TB, c *resolve.Cache, host, want string) *tenancy.Tenant {
	tb.Helper()
	t, err := c.ByHost(context.Background(), host)
	if err != nil {
		tb.Fatalf("ByHost(%q): %v", host, err)
	}
	if t.UUID != want {
		tb.Fatalf("ByHost(%q) = %s (%s), want %s", host, t.UUID, t.PrimaryDomain(), want)
	}
	return t
}

// mustNotFound fails unless err wraps tenancy.ErrNotFound.
func mustNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	if !errors.Is(err, tenancy.ErrNotFound) {
		tb.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}
