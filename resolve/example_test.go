package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// exampleManager opens a Manager on a temporary data directory with one
// tenant, acme.example.
func exampleManager(ctx context.Context, dir string) (*tenancy.Manager, *sqlitestore.Store) {
	store, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		log.Fatal(err)
	}
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: store, Provisioner: prov})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example"}); err != nil {
		log.Fatal(err)
	}
	return mgr, store
}

// A Cache answers host lookups from memory; changes made through the
// Manager are seen at once, and the Watcher (the catalog itself) reports
// those of other processes.
func ExampleCache() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "resolve-example")
	defer os.RemoveAll(dir)
	mgr, store := exampleManager(ctx, dir)
	defer store.Close()
	defer mgr.Close()

	cache, err := resolve.NewCache(ctx, mgr, &resolve.CacheConfig{Watcher: store})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	t, err := cache.ByHost(ctx, "ACME.example:8443")
	fmt.Println(t.Name, t.Status, err)

	if _, err := mgr.ChangeStatus(ctx, "acme.example", tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "unpaid"}); err != nil {
		log.Fatal(err)
	}
	t, _ = cache.ByHost(ctx, "acme.example")
	fmt.Println(t.Name, t.Status)

	_, err = cache.ByHost(ctx, "nobody.example")
	fmt.Println(errors.Is(err, tenancy.ErrNotFound))
	// Output:
	// Acme active <nil>
	// Acme suspended
	// true
}

// A Chain turns requests into tenants: by host, or by a path prefix on a
// central host, which is stripped before the application sees the request.
func ExampleChain_ResolveRequest() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "resolve-example")
	defer os.RemoveAll(dir)
	mgr, store := exampleManager(ctx, dir)
	defer store.Close()
	defer mgr.Close()
	cache, err := resolve.NewCache(ctx, mgr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	chain, err := resolve.NewChain(&resolve.ChainConfig{
		Cache:          cache,
		CentralDomains: []string{"app.example", "localhost"},
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, target := range []string{
		"http://acme.example/notes",
		"http://app.example/t/acme.example/notes?page=2",
		"http://app.example/pricing",
		"http://unknown.example/",
	} {
		r := httptest.NewRequest("GET", target, nil)
		t, r2, err := chain.ResolveRequest(r)
		switch {
		case errors.Is(err, tenancy.ErrNotFound):
			fmt.Printf("%s: no such tenant\n", r.Host)
		case err != nil:
			log.Fatal(err)
		case t == nil:
			fmt.Printf("%s: central %s\n", r.Host, r2.URL.Path)
		default:
			fmt.Printf("%s: %s %s\n", r.Host, t.Name, r2.URL.RequestURI())
		}
	}
	// Output:
	// acme.example: Acme /notes
	// app.example: Acme /notes?page=2
	// app.example: central /pricing
	// unknown.example: no such tenant
}
