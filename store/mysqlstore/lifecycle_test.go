package mysqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// catalogVersion reads the counter that Watch polls.
func catalogVersion(t *testing.T, s *mysqlstore.Store) int64 {
	t.Helper()
	var v int64
	if err := s.DB().QueryRowContext(context.Background(), `SELECT version FROM catalog_version WHERE id = 1`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func wantState(t *testing.T, err error, status model.Status) {
	t.Helper()
	var se *model.StateError
	if !errors.As(err, &se) || se.Status != status || !errors.Is(err, model.ErrTenantState) {
		t.Fatalf("err = %v, want a StateError with status %s", err, status)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	other := storetest.NewTenant("Other", "other.test")
	if err := s.CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	tn := storetest.NewTenant("New", "new.test")
	tn.Status = model.StatusProvisioning
	tn.VisitorMessage = "Back soon"
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if tn.Generation != 1 {
		t.Fatalf("Generation after create = %d, want 1", tn.Generation)
	}
	got, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil || got.Status != model.StatusProvisioning || got.Generation != 1 || got.VisitorMessage != "Back soon" {
		t.Fatalf("TenantByUUID: %+v, %v", got, err)
	}
	for st, want := range map[model.Status]int{model.StatusProvisioning: 1, model.StatusInactive: 0, model.StatusActive: 1} {
		all, err := s.AllTenants(ctx, st)
		if err != nil || len(all) != want {
			t.Fatalf("AllTenants(%s): %d tenants, %v; want %d", st, len(all), err, want)
		}
		_, total, err := s.ListTenants(ctx, model.ListOptions{Status: st})
		if err != nil || total != want {
			t.Fatalf("ListTenants(%s): %d tenants, %v; want %d", st, total, err, want)
		}
	}
	if all, err := s.AllTenants(ctx, model.StatusActive, model.StatusProvisioning); err != nil || len(all) != 2 {
		t.Fatalf("AllTenants(active, provisioning): %d tenants, %v", len(all), err)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil || counts[model.StatusProvisioning] != 1 || counts[model.StatusActive] != 1 || counts[model.StatusInactive] != 0 {
		t.Fatalf("CountByStatus: %v, %v", counts, err)
	}

	// An update keeps the lifecycle state, whatever status it carries.
	got.Name, got.VisitorMessage = "Renamed", "Soon"
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	got.Status = model.StatusSuspended
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, err = s.TenantByUUID(ctx, tn.UUID); err != nil || got.Status != model.StatusProvisioning || got.VisitorMessage != "Soon" {
		t.Fatalf("after updates: %+v, %v", got, err)
	}

	wantState(t, s.MarkDeleting(ctx, tn.ID), model.StatusProvisioning)
	if err := s.CommitTenant(ctx, tn.ID, model.StatusProvisioning); err == nil {
		t.Fatal("CommitTenant to a lifecycle state succeeded")
	}
	v := catalogVersion(t, s)
	if err := s.CommitTenant(ctx, tn.ID, model.StatusActive); err != nil {
		t.Fatal(err)
	}
	if catalogVersion(t, s) == v {
		t.Fatal("CommitTenant left the catalog version alone")
	}
	// The status saved by the update while provisioning shows now.
	if got, err = s.TenantByDomain(ctx, "new.test"); err != nil || got.Status != model.StatusActive {
		t.Fatalf("after commit: %+v, %v", got, err)
	}
	wantState(t, s.CommitTenant(ctx, tn.ID, model.StatusActive), model.StatusActive)

	v = catalogVersion(t, s)
	if err := s.MarkDeleting(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if catalogVersion(t, s) == v {
		t.Fatal("MarkDeleting left the catalog version alone")
	}
	if err := s.MarkDeleting(ctx, tn.ID); err != nil {
		t.Fatalf("MarkDeleting again: %v", err)
	}
	wantState(t, s.CommitTenant(ctx, tn.ID, model.StatusActive), model.StatusDeleting)
	if got, err = s.TenantByUUID(ctx, tn.UUID); err != nil || got.Status != model.StatusDeleting {
		t.Fatalf("after MarkDeleting: %+v, %v", got, err)
	}
	if all, err := s.AllTenants(ctx, model.StatusDeleting); err != nil || len(all) != 1 || all[0].ID != tn.ID {
		t.Fatalf("AllTenants(deleting): %v, %v", all, err)
	}

	// A changed visitor message or generation counts as a serving change.
	v = catalogVersion(t, s)
	if _, err := s.DB().ExecContext(ctx, `UPDATE tenants SET generation = generation + 1 WHERE id = ?`, other.ID); err != nil {
		t.Fatal(err)
	}
	if catalogVersion(t, s) == v {
		t.Fatal("a new generation left the catalog version alone")
	}
	if got, err = s.TenantByUUID(ctx, other.UUID); err != nil || got.Generation != 2 {
		t.Fatalf("generation after bump: %+v, %v", got, err)
	}
	v = catalogVersion(t, s)
	got.VisitorMessage = "Closed today"
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if catalogVersion(t, s) == v {
		t.Fatal("a new visitor message left the catalog version alone")
	}

	if err := s.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitTenant(ctx, tn.ID, model.StatusActive); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("CommitTenant of a deleted tenant: %v", err)
	}
	if err := s.MarkDeleting(ctx, tn.ID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("MarkDeleting of a deleted tenant: %v", err)
	}
}

func TestRecordOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	a := storetest.NewTenant("A", "a.test")
	b := storetest.NewTenant("B", "b.test")
	for _, tn := range []*model.Tenant{a, b} {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate,
		State: model.StateSucceeded, Version: 7}); err != nil {
		t.Fatal(err)
	}
	v := catalogVersion(t, s)
	recs := []model.OperationRecord{
		{TenantID: a.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "run-1", Version: 0},
		{TenantID: b.ID + 1000, Operation: model.OpMigrate, State: model.StatePending, RunID: "run-1"},
		{TenantID: b.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "run-1"},
	}
	if err := s.RecordOperations(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperations(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Operations(ctx, model.OpMigrate, model.StatePending)
	if err != nil || len(got) != 2 {
		t.Fatalf("Operations: %+v, %v", got, err)
	}
	// A pending record keeps the version the tenant was at.
	if got[0].TenantID != a.ID || got[0].RunID != "run-1" || got[0].Version != 7 || got[0].TenantUUID != a.UUID {
		t.Fatalf("record of A: %+v", got[0])
	}
	if got[1].TenantID != b.ID || got[1].RunID != "run-1" {
		t.Fatalf("record of B: %+v", got[1])
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate,
		State: model.StateRunning, RunID: "run-1", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: b.ID, Operation: model.OpMigrate,
		State: model.StateSucceeded, RunID: "run-1", Version: 9}); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Operations(ctx, model.OpMigrate, ""); err != nil || len(got) != 2 ||
		got[0].State != model.StateRunning || got[0].Version != 7 || got[1].Version != 9 {
		t.Fatalf("Operations after running and succeeded: %+v, %v", got, err)
	}
	if catalogVersion(t, s) != v {
		t.Fatal("operation records bumped the catalog version")
	}
}

func TestTenantLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	const id = "0190a6b2-0000-7000-8000-000000000001"
	v := catalogVersion(t, s)
	if err := s.TryLockTenant(ctx, id, "host-a/1/run", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Someone else is refused and told who holds the lock; holder names
	// compare exactly.
	for _, other := range []string{"host-b/2/run", "HOST-A/1/RUN", "host-a/1/run "} {
		err := s.TryLockTenant(ctx, id, other, time.Minute)
		var le *model.LockedError
		if !errors.As(err, &le) || le.Holder != "host-a/1/run" || !errors.Is(err, model.ErrLocked) {
			t.Fatalf("TryLockTenant by %q: %v", other, err)
		}
		if err := s.RenewTenantLock(ctx, id, other, time.Minute); !errors.Is(err, model.ErrLockLost) {
			t.Fatalf("RenewTenantLock by %q: %v", other, err)
		}
		if err := s.UnlockTenant(ctx, id, other); err != nil {
			t.Fatal(err)
		}
	}
	// The holder may take it again and renew it.
	if err := s.TryLockTenant(ctx, id, "host-a/1/run", time.Minute); err != nil {
		t.Fatalf("re-lock by the holder: %v", err)
	}
	if err := s.RenewTenantLock(ctx, id, "host-a/1/run", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Another tenant's lock is independent.
	if err := s.TryLockTenant(ctx, "0190a6b2-0000-7000-8000-000000000002", "host-b/2/run", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Unlocking frees it.
	if err := s.UnlockTenant(ctx, id, "host-a/1/run"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewTenantLock(ctx, id, "host-a/1/run", time.Minute); !errors.Is(err, model.ErrLockLost) {
		t.Fatalf("RenewTenantLock after unlock: %v", err)
	}
	if err := s.UnlockTenant(ctx, id, "host-a/1/run"); err != nil {
		t.Fatalf("unlock twice: %v", err)
	}
	if err := s.TryLockTenant(ctx, id, "host-b/2/run", time.Minute); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	// An expired lease goes to whoever asks next; its old holder has
	// lost it.
	if err := s.TryLockTenant(ctx, "expiring", "host-a/1/run", time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if err := s.TryLockTenant(ctx, "expiring", "host-b/2/run", time.Minute); err != nil {
		t.Fatalf("taking an expired lease: %v", err)
	}
	if err := s.RenewTenantLock(ctx, "expiring", "host-a/1/run", time.Minute); !errors.Is(err, model.ErrLockLost) {
		t.Fatalf("RenewTenantLock by the old holder: %v", err)
	}
	var le *model.LockedError
	if err := s.TryLockTenant(ctx, "expiring", "host-a/1/run", time.Minute); !errors.As(err, &le) || le.Holder != "host-b/2/run" {
		t.Fatalf("TryLockTenant by the old holder: %v", err)
	}
	if err := s.TryLockTenant(ctx, id, strings.Repeat("h", 256), time.Minute); err == nil {
		t.Fatal("TryLockTenant with a 256-byte holder succeeded")
	}
	if catalogVersion(t, s) != v {
		t.Fatal("locks bumped the catalog version")
	}
}

func TestConcurrentTryLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	for round := range 10 {
		id := "tenant-" + string(rune('a'+round))
		holders := []string{"h1", "h2", "h3", "h4"}
		errs := make([]error, len(holders))
		var wg sync.WaitGroup
		for i, h := range holders {
			wg.Go(func() { errs[i] = s.TryLockTenant(ctx, id, h, time.Minute) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, model.ErrLocked) {
				t.Fatalf("round %d, %s: %v", round, holders[i], err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d holders took the lock (%v)", round, won, errs)
		}
	}
}

func TestConcurrentRemoveDomainKeepsOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	tn := storetest.NewTenant("Two", "one.test")
	tn.Domains = append(tn.Domains, model.Domain{Domain: "two.test"})
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDomain(ctx, tn.ID, "missing.test"); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("RemoveDomain of a missing domain: %v", err)
	}
	domains := []string{"one.test", "two.test"}
	for round := range 30 {
		errs := make([]error, len(domains))
		var wg sync.WaitGroup
		for i, d := range domains {
			wg.Go(func() { errs[i] = s.RemoveDomain(ctx, tn.ID, d) })
		}
		wg.Wait()
		ok, kept := 0, ""
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, model.ErrLastDomain):
				kept = domains[i]
			default:
				t.Fatalf("round %d, remove %s: %v", round, domains[i], err)
			}
		}
		if ok != 1 || kept == "" {
			t.Fatalf("round %d: %v", round, errs)
		}
		got, err := s.TenantByUUID(ctx, tn.UUID)
		if err != nil || len(got.Domains) != 1 || got.Domains[0].Domain != kept || !got.Domains[0].IsPrimary {
			t.Fatalf("round %d: domains %+v, %v", round, got.Domains, err)
		}
		if err := s.RemoveDomain(ctx, tn.ID, kept); !errors.Is(err, model.ErrLastDomain) {
			t.Fatalf("round %d: removing the last domain: %v", round, err)
		}
		removed := domains[0]
		if removed == kept {
			removed = domains[1]
		}
		if err := s.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: removed}); err != nil {
			t.Fatal(err)
		}
	}
}
