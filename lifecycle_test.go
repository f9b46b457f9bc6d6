package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/seed"
)

// A tenant is provisioning, and so neither routable nor changeable, until
// its create has migrated and seeded it; then it has its requested status.
func TestCreateIsProvisioningUntilCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	f := newFixture(t, fixtureOptions{migrations: "migrations", seeders: map[string]seed.Func{
		"slow": func(ctx context.Context, db *sql.DB) error {
			close(entered)
			<-release
			return nil
		},
	}})
	done := make(chan error, 1)
	var created *tenancy.Tenant
	go func() {
		var err error
		created, err = f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Slow", Domain: "slow.example.test", Status: tenancy.StatusSuspended, Migrate: true, Seed: true})
		done <- err
	}()
	<-entered
	during, err := f.mgr.Get(ctx, "slow.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if during.Status != tenancy.StatusProvisioning {
		t.Fatalf("status during create = %s, want provisioning", during.Status)
	}
	if err := f.mgr.Run(ctx, during, func(ctx context.Context) error { _, err := tenancy.DB(ctx); return err }); !errors.Is(err, tenancy.ErrTenantState) {
		t.Errorf("DB of a provisioning tenant: err = %v, want ErrTenantState", err)
	}
	_, err = f.mgr.Delete(ctx, during.UUID)
	if !errors.Is(err, tenancy.ErrTenantState) || !errors.Is(err, tenancy.ErrLocked) || !strings.Contains(err.Error(), "provisioning") {
		t.Errorf("delete during create: err = %v, want a state error naming provisioning and the lock", err)
	}
	if _, err := f.mgr.ChangeStatus(ctx, during.UUID, tenancy.StatusChange{Status: tenancy.StatusActive, Reason: ""}); !errors.Is(err, tenancy.ErrTenantState) {
		t.Errorf("status change during create: err = %v, want ErrTenantState", err)
	}
	if _, err := f.mgr.Migrate(ctx, during, tenancy.MigrateOptions{}); !errors.Is(err, tenancy.ErrTenantState) {
		t.Errorf("migrate during create: err = %v, want ErrTenantState", err)
	}
	r, err := f.mgr.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Actions) != 1 || r.Actions[0].Action != tenancy.RepairInProgress || r.Actions[0].Holder == "" {
		t.Errorf("repair during create = %+v, want one in-progress action naming the holder", r.Actions)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if created.Status != tenancy.StatusSuspended {
		t.Errorf("committed status = %s, want the requested suspended", created.Status)
	}
	got, err := f.mgr.Get(ctx, created.UUID)
	if err != nil || got.Status != tenancy.StatusSuspended {
		t.Fatalf("after create: %v, %v", got, err)
	}
}

// simulateCrashedCreate leaves what a create killed after its database was
// made leaves: a provisioning record, its database, no lock.
func simulateCrashedCreate(t *testing.T, f *fixture, name, domain, dbName string) *tenancy.Tenant {
	t.Helper()
	ctx := context.Background()
	tn := &tenancy.Tenant{UUID: fmt.Sprintf("0190c3a4-0000-7000-8000-%012d", len(name)+len(domain)), Name: name, Status: tenancy.StatusProvisioning,
		DatabaseName: dbName, Domains: []tenancy.Domain{{Domain: domain, IsPrimary: true}}}
	if err := f.store.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := f.prov.Create(ctx, dbName); err != nil {
		t.Fatal(err)
	}
	return tn
}

// A create that died is undone by repair, and a rerun of the same create
// succeeds, with or without the repair first.
func TestCrashedCreateIsUndone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("repair", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{migrations: "migrations"})
		simulateCrashedCreate(t, f, "Acme", "acme.example.test", "acme_db")
		r, err := f.mgr.Repair(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Actions) != 1 || r.Actions[0].Action != tenancy.RepairUndidCreate || r.Failed != 0 {
			t.Fatalf("repair = %+v", r)
		}
		f.assertEmpty(t)
		if r, err = f.mgr.Repair(ctx); err != nil || len(r.Actions) != 0 {
			t.Fatalf("second repair = %+v, %v; want nothing to do", r, err)
		}
	})
	t.Run("rerun", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{migrations: "migrations"})
		simulateCrashedCreate(t, f, "Acme", "acme.example.test", "acme_db")
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example.test", DatabaseName: "acme_db", Migrate: true})
		if err != nil {
			t.Fatalf("rerun of the crashed create: %v", err)
		}
		if tn.Status != tenancy.StatusActive || noteCount(t, f, tn) != 0 {
			t.Fatalf("rerun created %+v", tn)
		}
		res, err := f.mgr.List(ctx, tenancy.ListOptions{})
		if err != nil || res.Total != 1 {
			t.Fatalf("catalog after rerun: %d tenants, %v", res.Total, err)
		}
	})
}

// A delete that died after marking the tenant deleting is finished by
// repair, and the tenant is never served meanwhile.
func TestCrashedDeleteIsFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Gone", Domain: "gone.example.test", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkDeleting(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	marked, err := f.mgr.Get(ctx, tn.UUID)
	if err != nil || marked.Status != tenancy.StatusDeleting {
		t.Fatalf("marked = %+v, %v", marked, err)
	}
	if err := f.mgr.Run(ctx, marked, func(ctx context.Context) error { _, err := tenancy.DB(ctx); return err }); !errors.Is(err, tenancy.ErrTenantState) {
		t.Errorf("DB of a deleting tenant: err = %v", err)
	}
	r, err := f.mgr.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Actions) != 1 || r.Actions[0].Action != tenancy.RepairFinishedDelete {
		t.Fatalf("repair = %+v", r)
	}
	f.assertEmpty(t)
}

// Repair drops a tenant database that no tenant owns.
func TestRepairDropsOrphanDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	if _, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Kept", Domain: "kept.example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := f.prov.Create(ctx, "orphan_db"); err != nil {
		t.Fatal(err)
	}
	r, err := f.mgr.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Actions) != 1 || r.Actions[0].Action != tenancy.RepairDroppedOrphan || r.Actions[0].Database != "orphan_db" {
		t.Fatalf("repair = %+v", r)
	}
	if files := f.databaseFiles(t); len(files) != 1 || !strings.Contains(files[0], "kept") {
		t.Fatalf("files after repair: %v", files)
	}
}

// A tenant locked by another operation is not migrated twice: a single
// migrate fails with the holder's name and a fleet run skips the tenant.
func TestLockedTenantIsSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Busy", Domain: "busy.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	const holder = "elsewhere.example:4242:backup-1"
	if err := f.store.TryLockTenant(ctx, tn.UUID, holder, time.Hour); err != nil {
		t.Fatal(err)
	}
	report, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{LockWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if report.Skipped != 1 || report.Outcomes[0].State != tenancy.StateSkipped || report.Outcomes[0].Error != "locked by "+holder {
		t.Fatalf("fleet outcome = %+v", report.Outcomes[0])
	}
	// --retry-failed picks the skipped tenant up once the lock is gone.
	if err := f.store.UnlockTenant(ctx, tn.UUID, holder); err != nil {
		t.Fatal(err)
	}
	report, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{RetryFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if report.Succeeded != 1 || report.Outcomes[0].Applied != 2 {
		t.Fatalf("retry = %+v", report.Outcomes)
	}
}

// The lease of a holder whose process is gone is taken over at once.
func TestDeadHolderLockIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Orphaned", Domain: "orphaned.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// A pid above the kernel's pid_max cannot be running.
	dead := host + ":4194305:migrate-dead"
	if err := f.store.TryLockTenant(ctx, tn.UUID, dead, time.Hour); err != nil {
		t.Fatal(err)
	}
	o, err := f.mgr.Migrate(ctx, tn, tenancy.MigrateOptions{})
	if err != nil {
		t.Fatalf("migrate under a dead holder's lock: %v", err)
	}
	if o.Applied != 2 {
		t.Fatalf("applied = %d", o.Applied)
	}
}

// Concurrent fleet runs apply each migration exactly once: the second and
// third run wait for the first on each tenant and then find nothing to do.
func TestConcurrentFleetRunsApplyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	var tenants []*tenancy.Tenant
	for i := range 6 {
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprintf("T%d", i), Domain: fmt.Sprintf("t%d.example.test", i)})
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
	}
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for r := range 3 {
		wg.Go(func() {
			report, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{LockWait: time.Minute})
			errs[r] = err
			if report != nil {
				for _, o := range report.Outcomes {
					applied[r] += o.Applied
					if o.State != tenancy.StateSucceeded {
						errs[r] = errors.Join(errs[r], fmt.Errorf("%s: %s %s", o.Domain, o.State, o.Error))
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for r := range 3 {
		if errs[r] != nil {
			t.Errorf("run %d: %v", r, errs[r])
		}
		total += applied[r]
	}
	if want := 2 * len(tenants); total != want {
		t.Fatalf("migrations applied = %d over three runs, want exactly %d", total, want)
	}
}

// A fleet run killed half-way leaves its unreached tenants pending, and
// --retry-failed runs them.
func TestRetryFailedIncludesInterruptedRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	var ids []int64
	for i := range 3 {
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprintf("R%d", i), Domain: fmt.Sprintf("r%d.example.test", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	// What a killed run leaves: one tenant running, one pending, one done.
	recs := []tenancy.OperationRecord{
		{TenantID: ids[0], Operation: tenancy.OpMigrate, State: tenancy.StateRunning, RunID: "killed"},
		{TenantID: ids[1], Operation: tenancy.OpMigrate, State: tenancy.StatePending, RunID: "killed"},
		{TenantID: ids[2], Operation: tenancy.OpMigrate, State: tenancy.StateSucceeded, RunID: "killed"},
	}
	if err := f.store.RecordOperations(ctx, recs); err != nil {
		t.Fatal(err)
	}
	report, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{RetryFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Outcomes) != 2 || report.Succeeded != 2 {
		t.Fatalf("retry ran %d tenants (%d succeeded), want the running and the pending one", len(report.Outcomes), report.Succeeded)
	}
	st, err := f.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Last == nil || s.Last.State != tenancy.StateSucceeded {
			t.Errorf("%s: last = %+v", s.Tenant.Name, s.Last)
		}
	}
}
