package mysqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/storetest"
)

// The engine-independent promises of Watch (the initial call, changes
// heard, several watchers, cancel, restart, Close, bad arguments) are
// checked by TestWatcherConformance; these are MySQL's own: which writes
// move the catalog counter.

func TestWatchSeesOtherNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.NewMySQLDatabase(t)
	watched := openStore(t, dsn)
	other := openStore(t, dsn) // stands for another node

	// Each phase below commits one change and waits for its call: a
	// version poller calls onChange once per move of the counter, so no
	// call spills over into the next phase.
	w := watchertest.Start(t, watched, 10*time.Millisecond)
	w.Wait(t, 1, "the initial call")

	p := w.Mark()
	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a tenant created by another node")

	p = w.Mark()
	tn.Status = model.StatusBlocked
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a status change by another node")

	// A change of case only is a change too.
	p = w.Mark()
	tn.Name = "OTHER"
	if err := watched.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a rename by the same store")

	// Routine writes (last access, operation records, audit, saving a
	// tenant unchanged) leave the counter alone: only the domain added
	// after them is reported, once. The next change, committed once the
	// domain was heard, closes the phase: a move of the counter by the
	// routine writes would be seen before it.
	p = w.Mark()
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
	w.WaitIn(t, p, 1, "the domain")
	routine := p

	for _, c := range []struct {
		name   string
		change func() error
	}{
		{"set primary", func() error { return other.SetPrimaryDomain(ctx, tn.ID, "second.other.test") }},
		{"update domain", func() error { return other.UpdateDomain(ctx, tn.ID, tn.Domains[0].ID, "first.other.test", true) }},
		{"remove domain", func() error { return other.RemoveDomain(ctx, tn.ID, "second.other.test") }},
		{"delete", func() error { return other.DeleteTenant(ctx, tn.ID) }},
	} {
		p = w.Mark()
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		w.WaitIn(t, p, 1, c.name)
		if c.name == "set primary" {
			if got := w.In(routine); got != 1 {
				t.Fatalf("onChange called %d times for one relevant commit among routine ones", got)
			}
		}
	}

	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}

// TestWatchSeesAPIKeyChanges checks that creating and revoking an API key
// move the catalog version, so every node forgets the key verifications it
// remembers.
func TestWatchSeesAPIKeyChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.NewMySQLDatabase(t)
	watched := openStore(t, dsn)
	other := openStore(t, dsn)
	w := watchertest.Start(t, watched, 10*time.Millisecond)
	w.Wait(t, 1, "the initial call")
	p := w.Mark()
	if err := other.CreateAPIKey(ctx, &model.APIKey{Name: "deploy", Prefix: "abcdefgh", Hash: []byte{1}, Scopes: []model.Scope{model.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a key created by another node")
	p = w.Mark()
	if err := other.RevokeAPIKey(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a key revoked by another node")
	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}
