package sqlitestore_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchSeesOtherConnections(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	watched := openStore(t, path)
	other := openStore(t, path) // stands for another process

	var calls atomic.Int64
	done := make(chan error, 1)
	go func() { done <- watched.Watch(ctx, 5*time.Millisecond, func() { calls.Add(1) }) }()

	// The first call says Watch has read its starting data_version.
	waitFor(t, "the initial call", func() bool { return calls.Load() == 1 })
	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a commit by another store to be reported", func() bool { return calls.Load() > 1 })

	// A commit through the watched store's own pool is another connection
	// too.
	before := calls.Load()
	tn.Status = model.StatusSuspended
	if err := watched.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a commit by the same store to be reported", func() bool { return calls.Load() > before })

	// Routine writes (last access, operation records) are not changes to
	// how tenants are served: only the domain added after them is reported.
	before = calls.Load()
	if err := other.TouchTenants(ctx, map[int64]time.Time{tn.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordOperation(ctx, model.OperationRecord{TenantID: tn.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := other.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "second.other.test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the domain to be reported", func() bool { return calls.Load() > before })
	time.Sleep(50 * time.Millisecond) // ten more polls
	if got := calls.Load(); got != before+1 {
		t.Fatalf("onChange called %d times for one relevant commit among routine ones", got-before)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context was cancelled")
	}
}

func TestWatchRejectsBadArguments(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "catalog.sqlite"))
	ctx := context.Background()
	if err := s.Watch(ctx, 0, func() {}); err == nil {
		t.Error("Watch with a zero interval succeeded")
	}
	if err := s.Watch(ctx, time.Second, nil); err == nil {
		t.Error("Watch without onChange succeeded")
	}
}

func TestWatchFailsOnClosedStore(t *testing.T) {
	t.Parallel()
	s, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(t.TempDir(), "catalog.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Watch(context.Background(), time.Millisecond, func() {}); err == nil {
		t.Fatal("Watch on a closed store succeeded")
	}
}

// TestWatchSeesAPIKeyChanges checks that creating and revoking an API key
// are reported, so every process forgets the key verifications it
// remembers.
func TestWatchSeesAPIKeyChanges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	watched := openStore(t, path)
	other := openStore(t, path)
	var calls atomic.Int64
	done := make(chan error, 1)
	go func() { done <- watched.Watch(ctx, 5*time.Millisecond, func() { calls.Add(1) }) }()
	waitFor(t, "the initial call", func() bool { return calls.Load() == 1 })
	if err := other.CreateAPIKey(ctx, &model.APIKey{Name: "deploy", Prefix: "abcdefgh", Hash: []byte{1}, Scopes: []model.Scope{model.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a key created by another store", func() bool { return calls.Load() > 1 })
	before := calls.Load()
	if err := other.RevokeAPIKey(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a key revoked by another store", func() bool { return calls.Load() > before })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}
