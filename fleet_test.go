package tenancy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

// sabotage makes the tenant's next migration fail by creating the table
// that migration 00002 creates.
func sabotage(t *testing.T, f *fixture, tn *tenancy.Tenant, sql string) {
	t.Helper()
	err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, sql)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateAllRecordsAndRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	var tenants []*tenancy.Tenant
	for i := range 6 {
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("t", i), Domain: fmt.Sprintf("t%d.test", i)})
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
	}
	sabotage(t, f, tenants[2], `CREATE TABLE tags (x INTEGER)`)
	var calls atomic.Int32
	r, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{Concurrency: 3, Progress: func(p migrate.Progress) {
		calls.Add(1)
		if p.Total != 6 {
			t.Errorf("progress total %d", p.Total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded != 5 || r.Failed != 1 || r.Skipped != 0 || calls.Load() != 6 {
		t.Fatalf("report %+v, progress calls %d", r, calls.Load())
	}
	bad := r.Outcomes[2]
	if bad.State != tenancy.StateFailed || bad.UUID != tenants[2].UUID || bad.To != 1 || bad.Error == "" {
		t.Fatalf("failed outcome %+v", bad)
	}
	if ok := r.Outcomes[0]; ok.State != tenancy.StateSucceeded || ok.From != 0 || ok.To != 2 || ok.Applied != 2 {
		t.Fatalf("good outcome %+v", ok)
	}
	status, err := f.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil || len(status) != 6 {
		t.Fatalf("OperationStatus: %v %v", status, err)
	}
	if s := status[2].Last; s == nil || s.State != tenancy.StateFailed || s.Version != 1 || s.Error == "" {
		t.Fatalf("recorded failure: %+v", s)
	}
	// Fix the tenant and retry only the failed one.
	sabotage(t, f, tenants[2], `DROP TABLE tags`)
	r, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{RetryFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Outcomes) != 1 || r.Outcomes[0].UUID != tenants[2].UUID || r.Succeeded != 1 {
		t.Fatalf("retry report %+v", r)
	}
	r, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{RetryFailed: true})
	if err != nil || len(r.Outcomes) != 0 {
		t.Fatalf("nothing left to retry: %+v %v", r, err)
	}
	// A no-op run applies nothing and succeeds everywhere.
	r, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{})
	if err != nil || r.Succeeded != 6 {
		t.Fatalf("no-op run %+v %v", r, err)
	}
	for _, o := range r.Outcomes {
		if o.Applied != 0 || o.From != 2 || o.To != 2 {
			t.Fatalf("no-op outcome %+v", o)
		}
	}
}

func TestMigrateAllFailFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	for i := range 5 {
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("t", i), Domain: fmt.Sprintf("t%d.test", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			sabotage(t, f, tn, `CREATE TABLE notes (x INTEGER)`)
		}
	}
	r, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{Concurrency: 1, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 1 || r.Skipped != 4 || r.Outcomes[1].State != tenancy.StateSkipped {
		t.Fatalf("fail-fast report %+v", r)
	}
	// Without fail-fast one failure does not stop the others.
	r, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{Concurrency: 1})
	if err != nil || r.Failed != 1 || r.Succeeded != 4 {
		t.Fatalf("report %+v %v", r, err)
	}
}

func TestRollbackFreshAndStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	sabotage(t, f, tn, `INSERT INTO notes (body) VALUES ('keep?')`)
	o, err := f.mgr.Migrate(ctx, tn, tenancy.MigrateOptions{Rollback: 1})
	if err != nil || o.From != 2 || o.To != 1 {
		t.Fatalf("rollback %+v %v", o, err)
	}
	st, err := f.mgr.MigrationStatus(ctx, tn)
	if err != nil || len(st) != 2 || !st[0].Applied || st[1].Applied {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := f.mgr.Migrate(ctx, tn, tenancy.MigrateOptions{Rollback: -1}); !tenancy.IsValidation(err) {
		t.Fatalf("rollback -1 steps: %v", err)
	}
	o, err = f.mgr.Migrate(ctx, tn, tenancy.MigrateOptions{Fresh: true})
	if err != nil || o.From != 1 || o.To != 2 {
		t.Fatalf("fresh %+v %v", o, err)
	}
	if n := noteCount(t, f, tn); n != 0 {
		t.Fatalf("fresh kept %d notes", n)
	}
}
