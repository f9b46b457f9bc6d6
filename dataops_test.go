package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotenancy/tenancy"
)

// TestRepairSparesARunningDataOperation: the next generation's database
// of a tenant whose restore runs is not an orphan while its lock is held,
// and neither is the maintenance it set; once the operation is dead,
// repair drops the one and ends the other.
func TestRepairSparesARunningDataOperation(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Busy", Domain: "busy.test"})
	if err != nil {
		t.Fatal(err)
	}
	ops := f.mgr.DataOps()
	inFill, finish := make(chan string), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ops.Locked(ctx, tn, "restore", func(ctx context.Context, t *tenancy.Tenant) error {
			_, err := ops.ReplaceDatabase(ctx, t, "tenant.restore", func(ctx context.Context, name string) error {
				if err := ops.Provisioner().Create(ctx, name); err != nil {
					return err
				}
				inFill <- name
				<-finish
				return errors.New("the restore gives up")
			})
			return err
		})
	}()
	next := <-inFill
	rep, err := f.mgr.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inProgress := 0
	for _, a := range rep.Actions {
		switch a.Action {
		case tenancy.RepairInProgress:
			inProgress++
		case tenancy.RepairDroppedOrphan, tenancy.RepairEndedMaintenance:
			t.Errorf("repair touched a running restore: %+v", a)
		}
	}
	if inProgress != 2 {
		t.Errorf("repair reported %d operations in progress, want 2 (the database, the maintenance): %+v", inProgress, rep.Actions)
	}
	if ok, _ := ops.Provisioner().Exists(ctx, next); !ok {
		t.Fatal("repair dropped the database a running restore is filling")
	}
	close(finish)
	if err := <-done; err == nil {
		t.Fatal("the restore did not fail")
	}
	after, err := f.mgr.Get(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Maintenance || after.DatabaseName != tn.DatabaseName {
		t.Fatalf("a failed restore left %+v", after)
	}
	if ok, _ := ops.Provisioner().Exists(ctx, next); ok {
		t.Fatal("a failed restore left its new database")
	}
}
