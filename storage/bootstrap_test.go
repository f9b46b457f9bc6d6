package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/storage"
)

// newManager returns a Manager over a SQLite catalog and SQLite tenant
// databases in a temporary directory, with a storage bootstrapper over s.
func newManager(t *testing.T, s *storage.Storage) *tenancy.Manager {
	t.Helper()
	m, _ := testenv.NewManager(t, t.TempDir(), nil)
	m.Use(storage.NewBootstrapper(s))
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

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestBootstrapperIsLazy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStorage(t)
	m := newManager(t, s)
	tn := createTenant(t, m, "Acme", "acme.example.com")
	dir := filepath.Join(s.Dir(), tn.UUID)

	// A run that never asks for storage creates nothing.
	if err := m.Run(ctx, tn, func(ctx context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if exists(t, dir) {
		t.Fatal("the tenant directory was created without a tenancy.Storage call")
	}

	var kept *os.Root
	err := m.Run(ctx, tn, func(ctx context.Context) error {
		if exists(t, dir) {
			t.Error("the tenant directory exists before the first tenancy.Storage call")
		}
		root, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		if !exists(t, dir) {
			t.Error("tenancy.Storage did not create the tenant directory")
		}
		again, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		if again != root {
			t.Error("a second tenancy.Storage call in the same context returned another root")
		}
		kept = root
		return root.WriteFile("report.txt", []byte("q3"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Stat("report.txt"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the root after Run: Stat = %v, want os.ErrClosed", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.txt")); err != nil || string(b) != "q3" {
		t.Fatalf("report.txt = %q, %v", b, err)
	}

	// Each run gets its own root.
	err = m.Run(ctx, tn, func(ctx context.Context) error {
		root, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		if root == kept {
			t.Error("a new run reused a closed root")
		}
		_, err = root.Stat("report.txt")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapperSeparatesTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStorage(t)
	m := newManager(t, s)
	acme := createTenant(t, m, "Acme", "acme.example.com")
	globex := createTenant(t, m, "Globex", "globex.example.com")

	if _, err := tenancy.Storage(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("tenancy.Storage outside a tenant = %v, want ErrNoTenant", err)
	}
	err := m.Run(ctx, acme, func(ctx context.Context) error {
		root, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		return root.WriteFile("logo.png", []byte("acme"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Run(ctx, globex, func(ctx context.Context) error {
		root, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		if _, err := root.Stat("logo.png"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("globex sees acme's file: %v", err)
		}
		if _, err := root.Stat("../" + acme.UUID + "/logo.png"); err == nil {
			t.Error("globex reaches acme's file through ..")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapperConcurrentCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStorage(t)
	m := newManager(t, s)
	tn := createTenant(t, m, "Acme", "acme.example.com")
	err := m.Run(ctx, tn, func(ctx context.Context) error {
		const n = 16
		roots := make([]*os.Root, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { roots[i], errs[i] = tenancy.Storage(ctx) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				return errs[i]
			}
			if roots[i] != roots[0] {
				t.Error("concurrent tenancy.Storage calls opened more than one root")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBootstrapperDirect drives Bootstrap and Revert without a Manager:
// outside a tenant scope the opener is not reachable through
// tenancy.Storage, yet Revert must still find and close nothing.
func TestBootstrapperDirect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStorage(t)
	b := storage.NewBootstrapper(s)

	if _, err := b.Bootstrap(ctx, &tenancy.Tenant{UUID: "../etc"}); !errors.Is(err, storage.ErrInvalidTenant) {
		t.Errorf("Bootstrap of an invalid uuid = %v, want ErrInvalidTenant", err)
	}
	if _, err := b.Bootstrap(ctx, nil); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Bootstrap(nil) = %v, want ErrNoTenant", err)
	}

	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(ctx, key{}, "v"))
	got, err := b.Bootstrap(parent, &tenancy.Tenant{UUID: tenantA})
	if err != nil {
		t.Fatal(err)
	}
	// The returned context keeps the parent's values and cancellation.
	if got.Value(key{}) != "v" {
		t.Error("the bootstrapped context lost a parent value")
	}
	cancel()
	<-got.Done()
	if !errors.Is(got.Err(), context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", got.Err())
	}
	b.Revert(got)
	b.Revert(ctx) // a context Bootstrap did not make: nothing to do
	if exists(t, filepath.Join(s.Dir(), tenantA)) {
		t.Fatal("Bootstrap or Revert touched the disk")
	}
}

// TestBootstrapAllocations is not parallel: AllocsPerRun forbids it.
func TestBootstrapAllocations(t *testing.T) {
	ctx := context.Background()
	b := storage.NewBootstrapper(newStorage(t))
	tn := &tenancy.Tenant{UUID: tenantA}
	n := testing.AllocsPerRun(100, func() {
		ctx, err := b.Bootstrap(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		b.Revert(ctx)
	})
	if n > 1 {
		t.Fatalf("Bootstrap and Revert allocate %v objects, want at most 1", n)
	}
}
