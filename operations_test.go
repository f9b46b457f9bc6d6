package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

func TestAuditRecordsActorAndChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := tenancy.WithActor(context.Background(), tenancy.Actor{Name: "ops", ClientIP: "10.1.2.3", RequestID: "req-1"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusBlocked, Reason: "abuse"}); err != nil {
		t.Fatal(err)
	}
	entries, err := f.cp.Audit(context.Background(), controlplane.AuditFilter{TenantUUID: tn.UUID})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	e := entries[0]
	if e.Action != "tenant.status" || e.Actor != "ops" || e.ClientIP != "10.1.2.3" || e.RequestID != "req-1" || e.Outcome != tenancy.StateSucceeded {
		t.Fatalf("entry: %+v", e)
	}
	if string(e.Before) == string(e.After) || len(e.Before) == 0 {
		t.Fatalf("before/after not recorded: %s / %s", e.Before, e.After)
	}
	if _, err := f.cp.Audit(ctx, controlplane.AuditFilter{Limit: controlplane.MaxAuditLimit + 1}); !tenancy.IsValidation(err) {
		t.Fatalf("limit: %v", err)
	}
	// Without an actor the change is the system's.
	if _, err := f.mgr.ChangeStatus(context.Background(), tn.UUID, tenancy.StatusChange{Status: tenancy.StatusActive, Reason: ""}); err != nil {
		t.Fatal(err)
	}
	entries, _ = f.cp.Audit(ctx, controlplane.AuditFilter{Limit: 1})
	if entries[0].Actor != "system" {
		t.Fatalf("default actor: %+v", entries[0])
	}
}

func TestBulkOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	var uuids []string
	for i := range 3 {
		tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("t", i), Domain: fmt.Sprintf("t%d.test", i), Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, tn.UUID)
	}
	// One unknown uuid changes nothing.
	if _, err := f.mgr.BulkChangeStatus(ctx, append(uuids[:2:2], "01a2185c-8068-7cbf-ba4e-a68e05dd8e16"), tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "x"}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown uuid: %v", err)
	}
	for _, bad := range [][]string{nil, {"not-a-uuid"}} {
		if _, err := f.mgr.BulkChangeStatus(ctx, bad, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: ""}); !tenancy.IsValidation(err) {
			t.Fatalf("BulkChangeStatus(%v): %v", bad, err)
		}
	}
	if _, err := f.mgr.BulkChangeStatus(ctx, uuids, tenancy.StatusChange{Status: "frozen"}); !tenancy.IsValidation(err) {
		t.Fatalf("bad status: %v", err)
	}
	if counts, _ := f.mgr.CountByStatus(ctx); counts[tenancy.StatusActive] != 3 {
		t.Fatalf("failed bulk changes changed something: %v", counts)
	}
	changed, err := f.mgr.BulkChangeStatus(ctx, uuids[:2], tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "bulk"})
	if err != nil || len(changed) != 2 || changed[0].StatusReason != "bulk" {
		t.Fatalf("bulk: %+v %v", changed, err)
	}
	if counts, _ := f.mgr.CountByStatus(ctx); counts[tenancy.StatusActive] != 1 || counts[tenancy.StatusSuspended] != 2 {
		t.Fatalf("counts: %v", counts)
	}

	n, err := f.mgr.SetMaintenanceAll(ctx, true, "upgrade")
	if err != nil || n != 3 {
		t.Fatalf("maintenance on: %d %v", n, err)
	}
	if n, _ := f.mgr.SetMaintenanceAll(ctx, true, "upgrade"); n != 0 {
		t.Fatalf("maintenance on again changed %d", n)
	}
	if n, _ := f.mgr.SetMaintenanceAll(ctx, false, ""); n != 3 {
		t.Fatalf("maintenance off changed %d", n)
	}

	tn, _ := f.mgr.Get(ctx, uuids[0])
	ds, err := f.mgr.DatabaseStats(ctx, tn)
	if err != nil || ds.SizeBytes <= 0 || ds.TableCount != 3 || ds.Version != 2 {
		t.Fatalf("DatabaseStats: %+v %v", ds, err)
	}

	r, err := f.mgr.MigrateAll(ctx, tenancy.FleetOptions{CreatedAfter: time.Now().Add(time.Hour)})
	if err != nil || len(r.Outcomes) != 0 {
		t.Fatalf("created-after filter: %+v %v", r, err)
	}
	r, err = f.mgr.MigrateAll(ctx, tenancy.FleetOptions{Statuses: []tenancy.Status{tenancy.StatusActive}})
	if err != nil || len(r.Outcomes) != 1 {
		t.Fatalf("status filter: %+v %v", r, err)
	}
}

func TestUpdateDomain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	tn, _ := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	f.mgr.Create(ctx, tenancy.CreateRequest{Name: "B", Domain: "b.test"})
	tn, err := f.mgr.AddDomain(ctx, tn.UUID, tenancy.DomainRequest{Domain: "www.a.test"})
	if err != nil {
		t.Fatal(err)
	}
	second := tn.Domains[1].ID
	name, yes, no := "shop.a.test", true, false
	tn, err = f.mgr.UpdateDomain(ctx, tn.UUID, second, tenancy.DomainUpdate{Domain: &name, SSLEnabled: &yes, Primary: &yes})
	if err != nil || tn.PrimaryDomain() != "shop.a.test" {
		t.Fatalf("UpdateDomain: %+v %v", tn, err)
	}
	taken := "b.test"
	if _, err := f.mgr.UpdateDomain(ctx, tn.UUID, second, tenancy.DomainUpdate{Domain: &taken}); !errors.Is(err, tenancy.ErrDomainTaken) {
		t.Fatalf("taken: %v", err)
	}
	if _, err := f.mgr.UpdateDomain(ctx, tn.UUID, second, tenancy.DomainUpdate{Primary: &no}); !tenancy.IsValidation(err) {
		t.Fatalf("unset primary: %v", err)
	}
	if _, err := f.mgr.UpdateDomain(ctx, tn.UUID, 9999, tenancy.DomainUpdate{Primary: &yes}); !errors.Is(err, tenancy.ErrDomainNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if tn, err = f.mgr.RemoveDomain(ctx, tn.UUID, name); err != nil || len(tn.Domains) != 1 || tn.PrimaryDomain() != "a.test" {
		t.Fatalf("RemoveDomain: %+v %v", tn, err)
	}
}

func TestFreeTextTheCatalogsCannotStoreIsRejected(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		do   func() error
	}{
		{"reason with NUL", func() error {
			_, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "a\x00b"})
			return err
		}},
		{"reason not UTF-8", func() error {
			_, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "\xff"})
			return err
		}},
		{"reason too long", func() error {
			_, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: strings.Repeat("x", 17<<10)})
			return err
		}},
		{"bulk reason", func() error {
			_, err := f.mgr.BulkChangeStatus(ctx, []string{tn.UUID}, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "\xff"})
			return err
		}},
		{"maintenance message", func() error { _, err := f.mgr.SetMaintenance(ctx, tn.UUID, true, "a\x00"); return err }},
		{"all maintenance message", func() error { _, err := f.mgr.SetMaintenanceAll(ctx, true, "a\x00"); return err }},
		{"notes with NUL", func() error {
			n := "a\x00"
			_, err := f.mgr.Update(ctx, tn.UUID, tenancy.UpdateRequest{Notes: &n})
			return err
		}},
		{"settings value", func() error {
			_, err := f.mgr.Update(ctx, tn.UUID, tenancy.UpdateRequest{Settings: map[string]any{"k": []any{"a\x00"}}})
			return err
		}},
		{"data key", func() error {
			_, err := f.mgr.Update(ctx, tn.UUID, tenancy.UpdateRequest{Data: map[string]any{"\xff": 1}})
			return err
		}},
		{"create settings", func() error {
			_, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "B", Domain: "b.test", Settings: map[string]any{"k": map[string]any{"x": "\x00"}}})
			return err
		}},
	}
	for _, tc := range bad {
		if err := tc.do(); !tenancy.IsValidation(err) {
			t.Errorf("%s: %v, want a validation error", tc.name, err)
		}
	}
	got, err := f.mgr.Get(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != tenancy.StatusActive || got.Maintenance || got.Notes != "" || len(got.Settings) != 0 || len(got.Data) != 0 {
		t.Fatalf("a rejected change changed the tenant: %+v", got)
	}
	if _, err := f.mgr.Get(ctx, "b.test"); err == nil {
		t.Fatal("a rejected create made a tenant")
	}
}
