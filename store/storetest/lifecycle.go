package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// testLifecycle checks the lifecycle states: a provisioning tenant is
// reported and filtered as such until committed, a deleting one after
// MarkDeleting, updates never change a lifecycle state, and the new
// fields round-trip.
func testLifecycle(t *testing.T, s model.Store) {
	ctx := context.Background()
	tn := NewTenant("Prov", "prov.example.com")
	tn.Status = model.StatusProvisioning
	tn.VisitorMessage = "back soon"
	mustCreate(t, s, tn)
	other := mustCreate(t, s, NewTenant("Other", "other.example.com"))

	got, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != model.StatusProvisioning || got.Generation != 1 || got.VisitorMessage != "back soon" {
		t.Fatalf("created provisioning tenant = status %s, generation %d, visitor message %q", got.Status, got.Generation, got.VisitorMessage)
	}
	filtered := func(st model.Status) []string {
		t.Helper()
		all, err := s.AllTenants(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		page, total, err := s.ListTenants(ctx, model.ListOptions{Status: st, Page: 1, PerPage: 10})
		if err != nil {
			t.Fatal(err)
		}
		if total != len(all) || len(page) != len(all) {
			t.Fatalf("status %s: ListTenants found %d (total %d), AllTenants %d", st, len(page), total, len(all))
		}
		var names []string
		for _, x := range all {
			names = append(names, x.Name)
		}
		return names
	}
	if names := filtered(model.StatusProvisioning); len(names) != 1 || names[0] != "Prov" {
		t.Errorf("provisioning tenants = %v", names)
	}
	if names := filtered(model.StatusInactive); len(names) != 0 {
		t.Errorf("inactive tenants = %v; a provisioning tenant must not count as inactive", names)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[model.StatusProvisioning] != 1 || counts[model.StatusActive] != 1 || counts[model.StatusInactive] != 0 {
		t.Errorf("counts = %v", counts)
	}

	// An update while provisioning keeps the lifecycle state.
	got.Name = "Prov renamed"
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.TenantByUUID(ctx, tn.UUID); again.Status != model.StatusProvisioning || again.Name != "Prov renamed" {
		t.Fatalf("after update: status %s, name %q", again.Status, again.Name)
	}

	var se *model.StateError
	if err := s.MarkDeleting(ctx, tn.ID); !errors.As(err, &se) || se.Status != model.StatusProvisioning || se.Tenant != tn.UUID {
		t.Errorf("MarkDeleting(provisioning) = %v, want a StateError naming provisioning", err)
	}
	if err := s.CommitTenant(ctx, tn.ID, model.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitTenant(ctx, tn.ID, model.StatusActive); !errors.As(err, &se) || se.Status != model.StatusSuspended {
		t.Errorf("second CommitTenant = %v, want a StateError naming suspended", err)
	}
	if got, _ = s.TenantByUUID(ctx, tn.UUID); got.Status != model.StatusSuspended {
		t.Fatalf("committed status = %s", got.Status)
	}
	if err := s.CommitTenant(ctx, 1<<40, model.StatusActive); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CommitTenant(missing) = %v", err)
	}

	if err := s.MarkDeleting(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDeleting(ctx, other.ID); err != nil {
		t.Errorf("MarkDeleting twice = %v", err)
	}
	got, _ = s.TenantByUUID(ctx, other.UUID)
	got.Status = model.StatusActive // a racing status change
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.TenantByUUID(ctx, other.UUID); got.Status != model.StatusDeleting {
		t.Errorf("a deleting tenant's status after an update = %s", got.Status)
	}
	if names := filtered(model.StatusDeleting); len(names) != 1 || names[0] != "Other" {
		t.Errorf("deleting tenants = %v", names)
	}
	if err := s.MarkDeleting(ctx, 1<<40); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("MarkDeleting(missing) = %v", err)
	}
}

// testRemoveDomainRace removes a tenant's two domains concurrently, many
// times: exactly one removal wins each round and one primary domain is
// left.
func testRemoveDomainRace(t *testing.T, s model.Store) {
	ctx := context.Background()
	for round := range 20 {
		tn := NewTenant(fmt.Sprintf("Race %d", round), fmt.Sprintf("a%d.race.example.com", round))
		tn.Domains = append(tn.Domains, model.Domain{Domain: fmt.Sprintf("b%d.race.example.com", round)})
		mustCreate(t, s, tn)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i, d := range tn.Domains {
			wg.Go(func() {
				<-start
				errs[i] = s.RemoveDomain(ctx, tn.ID, d.Domain)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, model.ErrLastDomain):
				t.Fatalf("round %d: RemoveDomain = %v", round, err)
			}
		}
		got, err := s.TenantByUUID(ctx, tn.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || len(got.Domains) != 1 || !got.Domains[0].IsPrimary {
			t.Fatalf("round %d: %d removals won, domains left %+v", round, won, got.Domains)
		}
	}
}

// testLocks checks the lock contract: a conflict names the holder, the
// holder may take its lock again and renew it, another holder may not
// renew it, an unlock frees it, and an expired lease is taken over
// (where locks are leases).
func testLocks(t *testing.T, s model.Store) {
	ctx := context.Background()
	const id = "0190c3a4-1111-7000-8000-000000000001"
	if err := s.TryLockTenant(ctx, id, "host-a:1:one", time.Minute); err != nil {
		t.Fatal(err)
	}
	err := s.TryLockTenant(ctx, id, "host-b:2:two", time.Minute)
	var le *model.LockedError
	if !errors.As(err, &le) || le.Holder != "host-a:1:one" || !errors.Is(err, model.ErrLocked) {
		t.Fatalf("second holder: err = %v, want a LockedError naming host-a:1:one", err)
	}
	if err := s.TryLockTenant(ctx, id, "host-a:1:one", time.Minute); err != nil {
		t.Errorf("holder locking again: %v", err)
	}
	if err := s.RenewTenantLock(ctx, id, "host-a:1:one", time.Minute); err != nil {
		t.Errorf("renew: %v", err)
	}
	if err := s.RenewTenantLock(ctx, id, "host-b:2:two", time.Minute); !errors.Is(err, model.ErrLockLost) {
		t.Errorf("renew by another holder = %v, want ErrLockLost", err)
	}
	if err := s.UnlockTenant(ctx, id, "host-b:2:two"); err != nil {
		t.Errorf("unlock of a lock not held = %v", err)
	}
	if err := s.TryLockTenant(ctx, id, "host-b:2:two", time.Minute); !errors.As(err, &le) {
		t.Fatalf("an unlock by a non-holder freed the lock: %v", err)
	}
	if err := s.UnlockTenant(ctx, id, "host-a:1:one"); err != nil {
		t.Fatal(err)
	}
	if err := s.TryLockTenant(ctx, id, "host-b:2:two", time.Minute); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if err := s.UnlockTenant(ctx, id, "host-b:2:two"); err != nil {
		t.Fatal(err)
	}

	// A lease that has run out is taken over; the old holder then lost it.
	const other = "0190c3a4-1111-7000-8000-000000000002"
	if err := s.TryLockTenant(ctx, other, "crashed:3:three", time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	err = s.TryLockTenant(ctx, other, "host-c:4:four", time.Minute)
	if errors.As(err, &le) && le.Holder == "crashed:3:three" {
		return // locks that are not leases (PostgreSQL) ignore the TTL
	}
	if err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	if err := s.RenewTenantLock(ctx, other, "crashed:3:three", time.Minute); !errors.Is(err, model.ErrLockLost) {
		t.Errorf("renew by the expired holder = %v, want ErrLockLost", err)
	}
	if err := s.UnlockTenant(ctx, other, "host-c:4:four"); err != nil {
		t.Fatal(err)
	}
}

// testLockRace has many holders try one lock at once: exactly one wins.
func testLockRace(t *testing.T, s model.Store) {
	ctx := context.Background()
	for round := range 5 {
		id := fmt.Sprintf("0190c3a4-2222-7000-8000-%012d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				<-start
				errs[i] = s.TryLockTenant(ctx, id, fmt.Sprintf("racer:%d:%d", round, i), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				defer s.UnlockTenant(ctx, id, fmt.Sprintf("racer:%d:%d", round, i))
			} else if !errors.Is(err, model.ErrLocked) {
				t.Fatalf("round %d: TryLockTenant = %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d holders got the lock", round, won)
		}
	}
}

// testRecordOperations writes a run's pending records in one batch,
// leaving out tenants that are gone, and keeps the last version through
// pending and running records.
func testRecordOperations(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.ops.example.com"))
	b := mustCreate(t, s, NewTenant("B", "b.ops.example.com"))
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateSucceeded, Version: 7}); err != nil {
		t.Fatal(err)
	}
	recs := []model.OperationRecord{
		{TenantID: a.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "run1"},
		{TenantID: b.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "run1"},
		{TenantID: 1 << 40, Operation: model.OpMigrate, State: model.StatePending, RunID: "run1"},
	}
	if err := s.RecordOperations(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperations(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Operations(ctx, model.OpMigrate, model.StatePending)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RunID != "run1" || got[0].TenantID != a.ID || got[0].Version != 7 {
		t.Fatalf("pending records = %+v", got)
	}
}
