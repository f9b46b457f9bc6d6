package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/store/storetest"
)

func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWatchSeesOtherConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	watched := openStore(t, path)
	other := openStore(t, path) // stands for another process

	w := watchertest.Start(t, watched, 5*time.Millisecond)
	// The first call says Watch has read its starting data_version.
	w.Wait(t, 1, "the initial call")
	p := w.Mark()
	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a commit by another store to be reported")

	// A commit through the watched store's own pool is another connection
	// too.
	p = w.Mark()
	tn.Status = model.StatusSuspended
	if err := watched.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a commit by the same store to be reported")

	// Routine writes (last access, operation records) are not changes to
	// how tenants are served: only the domain added after them is
	// reported, once. A second domain, added once the first was heard,
	// closes the phase: any call the routine writes made comes before it.
	p = w.Mark()
	if err := other.TouchTenants(ctx, map[int64]time.Time{tn.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordOperation(ctx, model.OperationRecord{TenantID: tn.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := other.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "second.other.test"}); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "the domain to be reported")
	next := w.Mark()
	if err := other.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "third.other.test"}); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, next, 1, "the next domain to be reported")
	if got := w.In(p); got != 1 {
		t.Fatalf("onChange called %d times for one relevant commit among routine ones", got)
	}

	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}

// TestWatchSeesAPIKeyChanges checks that creating and revoking an API key
// are reported, so every process forgets the key verifications it
// remembers.
func TestWatchSeesAPIKeyChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	watched := openStore(t, path)
	other := openStore(t, path)
	w := watchertest.Start(t, watched, 5*time.Millisecond)
	w.Wait(t, 1, "the initial call")
	p := w.Mark()
	if err := other.CreateAPIKey(ctx, &model.APIKey{Name: "deploy", Prefix: "abcdefgh", Hash: []byte{1}, Scopes: []model.Scope{model.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a key created by another store")
	p = w.Mark()
	if err := other.RevokeAPIKey(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a key revoked by another store")
	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}
