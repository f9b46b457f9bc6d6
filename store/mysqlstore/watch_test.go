package mysqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchSeesOtherNodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := testenv.NewMySQLDatabase(t)
	watched := openStore(t, dsn)
	other := openStore(t, dsn) // stands for another node

	var calls atomic.Int64
	done := make(chan error, 1)
	go func() { done <- watched.Watch(ctx, 10*time.Millisecond, func() { calls.Add(1) }) }()
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })

	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a tenant created by another node", time.Second, func() bool { return calls.Load() > 1 })

	before := calls.Load()
	tn.Status = model.StatusBlocked
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a status change by another node", time.Second, func() bool { return calls.Load() > before })

	// A change of case only is a change too.
	before = calls.Load()
	tn.Name = "OTHER"
	if err := watched.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a rename by the same store", time.Second, func() bool { return calls.Load() > before })

	// Routine writes (last access, operation records, audit, saving a
	// tenant unchanged) leave the counter alone: only the domain added
	// after them is reported, once.
	time.Sleep(50 * time.Millisecond)
	before = calls.Load()
	if err := other.TouchTenants(ctx, map[int64]time.Time{tn.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordOperation(ctx, model.OperationRecord{TenantID: tn.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordAudit(ctx, &model.AuditEntry{Actor: "cli", Action: "tenant.touch", Outcome: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := other.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "second.other.test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the domain", time.Second, func() bool { return calls.Load() > before })
	time.Sleep(100 * time.Millisecond) // ten more polls
	if got := calls.Load(); got != before+1 {
		t.Fatalf("onChange called %d times for one relevant commit among routine ones", got-before)
	}

	for _, c := range []struct {
		name   string
		change func() error
	}{
		{"set primary", func() error { return other.SetPrimaryDomain(ctx, tn.ID, "second.other.test") }},
		{"update domain", func() error { return other.UpdateDomain(ctx, tn.ID, tn.Domains[0].ID, "first.other.test", true) }},
		{"remove domain", func() error { return other.RemoveDomain(ctx, tn.ID, "second.other.test") }},
		{"delete", func() error { return other.DeleteTenant(ctx, tn.ID) }},
	} {
		before = calls.Load()
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		waitFor(t, c.name, time.Second, func() bool { return calls.Load() > before })
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
	s := openStore(t, testenv.NewMySQLDatabase(t))
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
	s, err := mysqlstore.Open(context.Background(), &mysqlstore.Config{DSN: testenv.NewMySQLDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Watch(context.Background(), time.Millisecond, func() {}); err == nil {
		t.Fatal("Watch on a closed store succeeded")
	}
}

// TestWatchSeesAPIKeyChanges checks that creating and revoking an API key
// move the catalog version, so every node forgets the key verifications it
// remembers.
func TestWatchSeesAPIKeyChanges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := testenv.NewMySQLDatabase(t)
	watched := openStore(t, dsn)
	other := openStore(t, dsn)
	var calls atomic.Int64
	done := make(chan error, 1)
	go func() { done <- watched.Watch(ctx, 10*time.Millisecond, func() { calls.Add(1) }) }()
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })
	if err := other.CreateAPIKey(ctx, &model.APIKey{Name: "deploy", Prefix: "abcdefgh", Hash: []byte{1}, Scopes: []model.Scope{model.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a key created by another node", time.Second, func() bool { return calls.Load() > 1 })
	before := calls.Load()
	if err := other.RevokeAPIKey(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a key revoked by another node", time.Second, func() bool { return calls.Load() > before })
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
