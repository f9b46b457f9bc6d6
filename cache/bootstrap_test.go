package cache_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// newManager returns a Manager over a SQLite catalog and SQLite tenant
// databases in a temporary directory.
func newManager(t *testing.T) *tenancy.Manager {
	t.Helper()
	m, _ := testenv.NewManager(t, t.TempDir(), nil)
	return m
}

func createTenant(t *testing.T, m *tenancy.Manager, name, domain string) *tenancy.Tenant {
	t.Helper()
	tn, err := m.Create(context.Background(), tenancy.CreateRequest{Name: name, Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestBootstrapperWithManager(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t)
	backend := newMemory(t, nil)
	m.Use(cache.NewBootstrapper(backend))
	acme := createTenant(t, m, "Acme", "acme.example.com")
	globex := createTenant(t, m, "Globex", "globex.example.com")

	if _, err := tenancy.Cache(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("tenancy.Cache outside a tenant = %v, want ErrNoTenant", err)
	}

	err := m.Run(ctx, acme, func(ctx context.Context) error {
		c, err := tenancy.Cache(ctx)
		if err != nil {
			return err
		}
		return c.Set(ctx, "greeting", []byte("hello from acme"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}

	err = m.Run(ctx, globex, func(ctx context.Context) error {
		c, err := tenancy.Cache(ctx)
		if err != nil {
			return err
		}
		if v, ok, err := c.Get(ctx, "greeting"); err != nil || ok {
			t.Errorf("globex reads acme's key: %q, %v, %v", v, ok, err)
		}
		return c.Set(ctx, "greeting", []byte("hello from globex"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}

	for tn, want := range map[*tenancy.Tenant]string{acme: "hello from acme", globex: "hello from globex"} {
		err := m.Run(ctx, tn, func(ctx context.Context) error {
			c, err := tenancy.Cache(ctx)
			if err != nil {
				return err
			}
			if v, ok, err := c.Get(ctx, "greeting"); err != nil || !ok || string(v) != want {
				t.Errorf("tenant %s reads %q, %v, %v; want %q", tn.Name, v, ok, err, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// The namespace is the backend's namespace of the tenant's UUID.
	if v, ok, err := backend.For(acme.UUID).Get(ctx, "greeting"); err != nil || !ok || string(v) != "hello from acme" {
		t.Fatalf("backend.For(acme) reads %q, %v, %v", v, ok, err)
	}

	// A context kept past Run has no cache any more.
	var kept context.Context
	if err := m.Run(ctx, acme, func(ctx context.Context) error { kept = ctx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := tenancy.Cache(kept); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("tenancy.Cache after Run = %v, want ErrNoTenant", err)
	}
}

func TestBootstrapperErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := (&cache.Bootstrapper{}).Bootstrap(ctx, &tenancy.Tenant{UUID: "x"}); err == nil {
		t.Error("Bootstrap without a backend succeeded")
	}
	b := cache.NewBootstrapper(newMemory(t, nil))
	if _, err := b.Bootstrap(ctx, &tenancy.Tenant{}); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Bootstrap of a tenant without a UUID = %v, want ErrNoTenant", err)
	}
	if _, err := b.Bootstrap(ctx, nil); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Bootstrap(nil) = %v, want ErrNoTenant", err)
	}
}

// TestBootstrapDoesNotAllocate is not parallel: AllocsPerRun forbids it.
func TestBootstrapDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	b := cache.NewBootstrapper(newMemory(t, nil))
	tn := &tenancy.Tenant{UUID: "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"}
	if _, err := b.Bootstrap(ctx, tn); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		ctx, _ := b.Bootstrap(ctx, tn)
		b.Revert(ctx)
	})
	if n != 0 {
		t.Fatalf("Bootstrap allocates %v times, want 0", n)
	}
}
