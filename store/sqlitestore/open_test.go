package sqlitestore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// Processes opening a new catalog at once: one migrates, the others wait
// for it and find the schema current.
func TestOpenTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	var wg sync.WaitGroup
	stores := make([]*sqlitestore.Store, 4)
	errs := make([]error, len(stores))
	start := make(chan struct{})
	for i := range stores {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = sqlitestore.Open(ctx, &sqlitestore.Config{Path: path})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if err := stores[3].CreateTenant(ctx, storetest.NewTenant("A", "a.test")); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[0].TenantByDomain(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
}

// A catalog in a directory that does not exist yet is created with it.
func TestOpenCreatesTheDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "catalog.sqlite")
	st, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
