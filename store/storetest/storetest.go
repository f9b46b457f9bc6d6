// Package storetest is the conformance suite every model.Store
// implementation runs: the SQLite store now, the PostgreSQL and MySQL stores
// later. Run it from the implementation's tests with a constructor that
// returns a fresh, empty store.
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/model"
)

// Run runs the conformance suite. newStore must return an empty store that
// the suite may close, stamping times with now (nil: the wall clock).
func Run(t *testing.T, newStore func(t *testing.T, now func() time.Time) model.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s model.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Conflicts", testConflicts},
		{"NotFound", testNotFound},
		{"AllTenants", testAllTenants},
		{"Domains", testDomains},
		{"Delete", testDelete},
		{"Operations", testOperations},
		{"Touch", testTouch},
		{"ConcurrentCreate", testConcurrentCreate},
		{"CountByStatus", testCountByStatus},
		{"UpdateDomain", testUpdateDomain},
		{"APIKeys", testAPIKeys},
		{"Audit", testAudit},
		{"Admin", testAdmin},
		{"Lifecycle", testLifecycle},
		{"LifecycleStates", testLifecycleStates},
		{"RemoveDomainRace", testRemoveDomainRace},
		{"Locks", testLocks},
		{"LockRace", testLockRace},
		{"RecordOperations", testRecordOperations},
		{"OperationRuns", testOperationRuns},
		{"NullJSON", testNullJSON},
		{"Backups", testBackups},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, nil)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
	// These tests move the store's clock themselves.
	clocked := []struct {
		name string
		fn   func(t *testing.T, s model.Store, clk *testclock.Clock)
	}{
		{"List", testList},
		{"Update", testUpdate},
	}
	for _, tc := range clocked {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := testclock.New(time.Now())
			s := newStore(t, clk.Now)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s, clk)
		})
	}
}

// CreatesTenants returns a change for the watcher suite
// (resolve/watchertest): each call creates a new tenant through s, which
// stands for another node sharing the watched catalog.
func CreatesTenants(s model.Store) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		tn := NewTenant("Other", "")
		tn.Domains[0].Domain = tn.UUID + ".test"
		if err := s.CreateTenant(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
	}
}

// NewTenant returns an unsaved active tenant with one primary domain.
func NewTenant(name, domain string) *model.Tenant {
	id := uuid.Must(uuid.NewV7()).String()
	return &model.Tenant{
		UUID:         id,
		Name:         name,
		Status:       model.StatusActive,
		DatabaseName: "tenant_" + id[len(id)-12:],
		Settings:     map[string]any{},
		Data:         map[string]any{},
		Domains:      []model.Domain{{Domain: domain, IsPrimary: true}},
	}
}

func mustCreate(t *testing.T, s model.Store, tn *model.Tenant) *model.Tenant {
	t.Helper()
	if err := s.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("CreateTenant(%s): %v", tn.Name, err)
	}
	return tn
}

func testCreateAndGet(t *testing.T, s model.Store) {
	ctx := context.Background()
	tn := NewTenant("Acme", "acme.example.com")
	tn.Notes = "first customer"
	tn.Shard = "s1"
	tn.Settings = map[string]any{"plan": "pro", "seats": float64(5)}
	tn.Data = map[string]any{"color": "red"}
	tn.Domains = append(tn.Domains, model.Domain{Domain: "acme.test", SSLEnabled: true})
	before := time.Now().Add(-time.Second)
	mustCreate(t, s, tn)
	if tn.ID == 0 || tn.CreatedAt.Before(before) || !tn.UpdatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("create did not set id/timestamps: %+v", tn)
	}
	for _, d := range tn.Domains {
		if d.ID == 0 || d.TenantID != tn.ID {
			t.Fatalf("domain ids not set: %+v", d)
		}
	}
	for _, get := range []func() (*model.Tenant, error){
		func() (*model.Tenant, error) { return s.TenantByUUID(ctx, tn.UUID) },
		func() (*model.Tenant, error) { return s.TenantByDomain(ctx, "acme.example.com") },
		func() (*model.Tenant, error) { return s.TenantByDomain(ctx, "acme.test") },
	} {
		got, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tn.ID || got.UUID != tn.UUID || got.Name != "Acme" || got.Status != model.StatusActive ||
			got.Notes != "first customer" || got.Shard != "s1" || got.DatabaseName != tn.DatabaseName {
			t.Fatalf("got %+v, want %+v", got, tn)
		}
		if got.Settings["plan"] != "pro" || got.Settings["seats"] != float64(5) || got.Data["color"] != "red" {
			t.Fatalf("settings/data not kept: %v %v", got.Settings, got.Data)
		}
		if !got.CreatedAt.Equal(tn.CreatedAt) || got.LastAccessedAt != nil {
			t.Fatalf("timestamps: got %v/%v want %v", got.CreatedAt, got.LastAccessedAt, tn.CreatedAt)
		}
		if len(got.Domains) != 2 || got.PrimaryDomain() != "acme.example.com" || !got.Domains[1].SSLEnabled {
			t.Fatalf("domains: %+v", got.Domains)
		}
	}
	// Without a primary flag the first domain becomes primary.
	other := NewTenant("Other", "a.other.test")
	other.Domains = []model.Domain{{Domain: "a.other.test"}, {Domain: "b.other.test"}}
	mustCreate(t, s, other)
	got, err := s.TenantByUUID(ctx, other.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrimaryDomain() != "a.other.test" || primaries(got) != 1 {
		t.Fatalf("primary: %+v", got.Domains)
	}
}

func primaries(t *model.Tenant) int {
	n := 0
	for _, d := range t.Domains {
		if d.IsPrimary {
			n++
		}
	}
	return n
}

func testConflicts(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	dup := NewTenant("B", "a.test")
	if err := s.CreateTenant(ctx, dup); !errors.Is(err, model.ErrDomainTaken) {
		t.Fatalf("duplicate domain: %v, want ErrDomainTaken", err)
	}
	dupDB := NewTenant("C", "c.test")
	dupDB.DatabaseName = a.DatabaseName
	if err := s.CreateTenant(ctx, dupDB); !errors.Is(err, model.ErrDatabaseTaken) {
		t.Fatalf("duplicate database: %v, want ErrDatabaseTaken", err)
	}
	// A failed create leaves nothing behind: not the tenant, not its first domain.
	half := NewTenant("D", "d.test")
	half.Domains = append(half.Domains, model.Domain{Domain: "a.test"})
	if err := s.CreateTenant(ctx, half); !errors.Is(err, model.ErrDomainTaken) {
		t.Fatalf("second domain taken: %v", err)
	}
	if _, err := s.TenantByDomain(ctx, "d.test"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("half-made tenant left behind: %v", err)
	}
	if _, total, _ := s.ListTenants(ctx, model.ListOptions{}); total != 1 {
		t.Fatalf("total after failed creates = %d, want 1", total)
	}
	b := mustCreate(t, s, NewTenant("B", "b.test"))
	if err := s.AddDomain(ctx, &model.Domain{TenantID: b.ID, Domain: "a.test"}); !errors.Is(err, model.ErrDomainTaken) {
		t.Fatalf("AddDomain taken: %v", err)
	}
}

func testNotFound(t *testing.T, s model.Store) {
	ctx := context.Background()
	if _, err := s.TenantByUUID(ctx, uuid.NewString()); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("TenantByUUID: %v", err)
	}
	if _, err := s.TenantByDomain(ctx, "nobody.test"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("TenantByDomain: %v", err)
	}
	if err := s.UpdateTenant(ctx, &model.Tenant{ID: 999, Status: model.StatusActive}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("UpdateTenant: %v", err)
	}
	if err := s.DeleteTenant(ctx, 999); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("DeleteTenant: %v", err)
	}
	if err := s.AddDomain(ctx, &model.Domain{TenantID: 999, Domain: "x.test"}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("AddDomain: %v", err)
	}
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	if err := s.RemoveDomain(ctx, a.ID, "zzz.test"); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("RemoveDomain: %v", err)
	}
	if err := s.SetPrimaryDomain(ctx, a.ID, "zzz.test"); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("SetPrimaryDomain: %v", err)
	}
	b := mustCreate(t, s, NewTenant("B", "b.test"))
	if err := s.RemoveDomain(ctx, a.ID, "b.test"); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("RemoveDomain of another tenant's domain: %v", err)
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: 999, Operation: model.OpMigrate, State: model.StateFailed}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("RecordOperation: %v", err)
	}
	_ = b
}

func testList(t *testing.T, s model.Store, clk *testclock.Clock) {
	ctx := context.Background()
	names := []string{"delta", "Alpha", "charlie", "bravo", "echo_1", "foxtrot%"}
	var made []*model.Tenant
	for i, n := range names {
		tn := NewTenant(n, fmt.Sprintf("%s.list.test", fmt.Sprint("host", i)))
		if i%2 == 1 {
			tn.Status = model.StatusSuspended
		}
		made = append(made, mustCreate(t, s, tn))
		clk.Advance(time.Millisecond) // distinct created_at values
	}
	list := func(o model.ListOptions) ([]string, int) {
		t.Helper()
		ts, total, err := s.ListTenants(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tn := range ts {
			if len(tn.Domains) != 1 {
				t.Fatalf("list did not load domains of %s", tn.Name)
			}
			out = append(out, tn.Name)
		}
		return out, total
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	got, total := list(model.ListOptions{})
	eq(got, names...)
	if total != 6 {
		t.Fatalf("total %d", total)
	}
	got, _ = list(model.ListOptions{Sort: "name"})
	eq(got, "Alpha", "bravo", "charlie", "delta", "echo_1", "foxtrot%")
	got, _ = list(model.ListOptions{Sort: "name", Desc: true, PerPage: 2, Page: 2})
	eq(got, "delta", "charlie")
	got, total = list(model.ListOptions{Sort: "name", PerPage: 4, Page: 2})
	eq(got, "echo_1", "foxtrot%")
	if total != 6 {
		t.Fatalf("paged total %d", total)
	}
	got, total = list(model.ListOptions{Status: model.StatusSuspended, Sort: "created_at"})
	eq(got, "Alpha", "bravo", "foxtrot%")
	if total != 3 {
		t.Fatalf("status total %d", total)
	}
	got, _ = list(model.ListOptions{Search: "ALPH"})
	eq(got, "Alpha")
	got, total = list(model.ListOptions{Search: "alpha tenant_"})
	if len(got) != 0 || total != 0 {
		t.Fatalf("a search spanning two fields matched: %v", got)
	}
	got, _ = list(model.ListOptions{Search: "host3.list"})
	eq(got, "bravo")
	got, _ = list(model.ListOptions{Search: made[2].DatabaseName})
	eq(got, "charlie")
	// LIKE wildcards in the search are literal.
	got, _ = list(model.ListOptions{Search: "%"})
	eq(got, "foxtrot%")
	got, _ = list(model.ListOptions{Search: "o_1"})
	eq(got, "echo_1")
	got, total = list(model.ListOptions{Search: "nothing-matches"})
	if len(got) != 0 || total != 0 {
		t.Fatalf("no match: %v %d", got, total)
	}
	got, _ = list(model.ListOptions{Page: 9})
	if len(got) != 0 {
		t.Fatalf("page past the end: %v", got)
	}
	for _, f := range model.SortFields {
		for _, desc := range []bool{false, true} {
			if _, n := list(model.ListOptions{Sort: f, Desc: desc}); n != 6 {
				t.Fatalf("sort %s: total %d", f, n)
			}
		}
	}
}

func testAllTenants(t *testing.T, s model.Store) {
	ctx := context.Background()
	for i := range 5 {
		tn := NewTenant(fmt.Sprint("t", i), fmt.Sprintf("t%d.all.test", i))
		if i >= 3 {
			tn.Status = model.StatusBlocked
		}
		mustCreate(t, s, tn)
	}
	all, err := s.AllTenants(ctx)
	if err != nil || len(all) != 5 {
		t.Fatalf("AllTenants: %d %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID >= all[i].ID || len(all[i].Domains) != 1 {
			t.Fatalf("AllTenants order/domains wrong")
		}
	}
	blocked, err := s.AllTenants(ctx, model.StatusBlocked, model.StatusInactive)
	if err != nil || len(blocked) != 2 {
		t.Fatalf("AllTenants(blocked): %d %v", len(blocked), err)
	}
}

func testUpdate(t *testing.T, s model.Store, clk *testclock.Clock) {
	ctx := context.Background()
	tn := mustCreate(t, s, NewTenant("A", "a.test"))
	created := tn.UpdatedAt
	clk.Advance(time.Millisecond)
	tn.Name, tn.Status, tn.StatusReason, tn.Notes = "A2", model.StatusBlocked, "fraud", "n"
	tn.Settings = map[string]any{"k": "v"}
	tn.Data = map[string]any{"d": true}
	tn.Maintenance, tn.MaintenanceMessage, tn.MaintenanceSecret = true, "upgrading", "s3cret"
	if err := s.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if !tn.UpdatedAt.After(created) {
		t.Fatalf("updated_at not advanced")
	}
	got, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "A2" || got.Status != model.StatusBlocked || got.StatusReason != "fraud" || got.Notes != "n" ||
		got.Settings["k"] != "v" || got.Data["d"] != true || !got.Maintenance || got.MaintenanceMessage != "upgrading" || got.MaintenanceSecret != "s3cret" ||
		!got.UpdatedAt.Equal(tn.UpdatedAt) || !got.CreatedAt.Equal(created) {
		t.Fatalf("update not kept: %+v", got)
	}
}

func testDomains(t *testing.T, s model.Store) {
	ctx := context.Background()
	tn := mustCreate(t, s, NewTenant("A", "a.test"))
	d2 := &model.Domain{TenantID: tn.ID, Domain: "a2.test", SSLEnabled: true}
	if err := s.AddDomain(ctx, d2); err != nil {
		t.Fatal(err)
	}
	if d2.ID == 0 || d2.IsPrimary {
		t.Fatalf("added domain: %+v", d2)
	}
	d3 := &model.Domain{TenantID: tn.ID, Domain: "a3.test", IsPrimary: true}
	if err := s.AddDomain(ctx, d3); err != nil {
		t.Fatal(err)
	}
	get := func() *model.Tenant {
		got, err := s.TenantByUUID(ctx, tn.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if primaries(got) != 1 {
			t.Fatalf("want exactly one primary: %+v", got.Domains)
		}
		return got
	}
	if got := get(); got.PrimaryDomain() != "a3.test" || len(got.Domains) != 3 {
		t.Fatalf("after add primary: %+v", got.Domains)
	}
	if err := s.SetPrimaryDomain(ctx, tn.ID, "a2.test"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.PrimaryDomain() != "a2.test" {
		t.Fatalf("after set primary: %+v", got.Domains)
	}
	if err := s.RemoveDomain(ctx, tn.ID, "a2.test"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.PrimaryDomain() != "a.test" || len(got.Domains) != 2 {
		t.Fatalf("after removing primary the oldest should be primary: %+v", got.Domains)
	}
	if _, err := s.TenantByDomain(ctx, "a2.test"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("removed domain still resolves: %v", err)
	}
	// A removed domain can be taken by another tenant.
	mustCreate(t, s, NewTenant("B", "a2.test"))
}

func testDelete(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TenantByUUID(ctx, a.UUID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("deleted tenant found: %v", err)
	}
	if ops, err := s.Operations(ctx, model.OpMigrate, ""); err != nil || len(ops) != 0 {
		t.Fatalf("operations left after delete: %v %v", ops, err)
	}
	// Its domain and database name are free again.
	again := NewTenant("A", "a.test")
	again.DatabaseName = a.DatabaseName
	mustCreate(t, s, again)
}

func testOperations(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	b := mustCreate(t, s, NewTenant("B", "b.test"))
	at := time.Now().UTC().Truncate(time.Millisecond)
	recs := []model.OperationRecord{
		{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateFailed, Version: 2, Error: "boom", Duration: 1500 * time.Microsecond, FinishedAt: at},
		{TenantID: b.ID, Operation: model.OpMigrate, State: model.StateSucceeded, Version: 3},
		{TenantID: a.ID, Operation: model.OpSeed, State: model.StateSucceeded},
	}
	for _, r := range recs {
		if err := s.RecordOperation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	failed, err := s.Operations(ctx, model.OpMigrate, model.StateFailed)
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed: %v %v", failed, err)
	}
	f := failed[0]
	if f.TenantUUID != a.UUID || f.Version != 2 || f.Error != "boom" || f.Duration != 1500*time.Microsecond || !f.FinishedAt.Equal(at) {
		t.Fatalf("record not kept: %+v", f)
	}
	// A new outcome replaces the old one.
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateSucceeded, Version: 3}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Operations(ctx, model.OpMigrate, "")
	if err != nil || len(all) != 2 || all[0].State != model.StateSucceeded || all[0].Error != "" || all[0].FinishedAt.IsZero() {
		t.Fatalf("after replace: %+v %v", all, err)
	}
}

func testTouch(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	at := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.TouchTenants(ctx, map[int64]time.Time{a.ID: at, 12345: at}); err != nil {
		t.Fatal(err)
	}
	// An older time never moves last access backwards.
	if err := s.TouchTenants(ctx, map[int64]time.Time{a.ID: at.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.TenantByUUID(ctx, a.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastAccessedAt == nil || !got.LastAccessedAt.Equal(at) {
		t.Fatalf("last_accessed_at = %v, want %v", got.LastAccessedAt, at)
	}
}

func testConcurrentCreate(t *testing.T, s model.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, taken := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateTenant(ctx, NewTenant(fmt.Sprint("racer", i), "contested.test"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, model.ErrDomainTaken):
				taken++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || taken != 7 {
		t.Fatalf("won %d, taken %d; want 1 and 7", won, taken)
	}
}

func testCountByStatus(t *testing.T, s model.Store) {
	ctx := context.Background()
	for i, st := range []model.Status{model.StatusActive, model.StatusActive, model.StatusBlocked} {
		tn := NewTenant(fmt.Sprint("t", i), fmt.Sprintf("t%d.count.test", i))
		tn.Status = st
		mustCreate(t, s, tn)
	}
	got, err := s.CountByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[model.StatusActive] != 2 || got[model.StatusBlocked] != 1 || got[model.StatusSuspended] != 0 || len(got) != 4 {
		t.Fatalf("CountByStatus = %v", got)
	}
}

func testUpdateDomain(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.test"))
	b := mustCreate(t, s, NewTenant("B", "b.test"))
	d := a.Domains[0]
	if err := s.UpdateDomain(ctx, a.ID, d.ID, "renamed.test", true); err != nil {
		t.Fatal(err)
	}
	got, err := s.TenantByDomain(ctx, "renamed.test")
	if err != nil || got.ID != a.ID || !got.Domains[0].SSLEnabled || !got.Domains[0].IsPrimary {
		t.Fatalf("after rename: %+v %v", got, err)
	}
	if err := s.UpdateDomain(ctx, a.ID, d.ID, "b.test", false); !errors.Is(err, model.ErrDomainTaken) {
		t.Fatalf("rename onto a taken domain: %v", err)
	}
	if err := s.UpdateDomain(ctx, a.ID, b.Domains[0].ID, "x.test", false); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("rename of another tenant's domain: %v", err)
	}
}

func testAPIKeys(t *testing.T, st model.Store) {
	s := st.(controlplane.Store)
	ctx := context.Background()
	k := &model.APIKey{Name: "deploy", Prefix: "abcd1234", Hash: []byte("0123456789abcdef0123456789abcdef"), Scopes: []model.Scope{model.ScopeRead, model.ScopeWrite}}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if k.ID == 0 || k.CreatedAt.IsZero() {
		t.Fatalf("create did not set id/time: %+v", k)
	}
	dup := &model.APIKey{Name: "deploy", Prefix: "zzzz9999", Hash: []byte("x"), Scopes: []model.Scope{model.ScopeRead}}
	if err := s.CreateAPIKey(ctx, dup); !model.IsValidation(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	samePrefix := &model.APIKey{Name: "other", Prefix: "abcd1234", Hash: []byte("x"), Scopes: []model.Scope{model.ScopeRead}}
	if err := s.CreateAPIKey(ctx, samePrefix); err == nil || model.IsValidation(err) {
		t.Fatalf("duplicate prefix: %v, want a collision error", err)
	}
	got, err := s.APIKeyByPrefix(ctx, "abcd1234")
	if err != nil || got.Name != "deploy" || string(got.Hash) != string(k.Hash) || len(got.Scopes) != 2 || got.RevokedAt != nil {
		t.Fatalf("APIKeyByPrefix: %+v %v", got, err)
	}
	if _, err := s.APIKeyByPrefix(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("unknown prefix: %v", err)
	}
	if err := s.RevokeAPIKey(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, "deploy"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
		t.Fatalf("ListAPIKeys: %+v %v", keys, err)
	}
}

func testAudit(t *testing.T, st model.Store) {
	s := st.(controlplane.Store)
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	for i, e := range []model.AuditEntry{
		{Actor: "cli", Action: "tenant.create", TenantUUID: "u1", After: []byte(`{"name":"a"}`), Outcome: model.StateSucceeded},
		{Actor: "deploy", Action: "tenant.status", TenantUUID: "u1", Before: []byte(`{"status":"active"}`), After: []byte(`{"status":"blocked"}`), ClientIP: "10.0.0.1", RequestID: "r1", Outcome: model.StateSucceeded},
		{Actor: "deploy", Action: "tenant.create", TenantUUID: "u2", Outcome: model.StateFailed, Error: "domain taken"},
	} {
		if err := s.RecordAudit(ctx, &e); err != nil || e.ID == 0 {
			t.Fatalf("RecordAudit %d: %v", i, err)
		}
	}
	all, err := s.ListAudit(ctx, model.AuditFilter{Limit: 10})
	if err != nil || len(all) != 3 || all[0].TenantUUID != "u2" || all[0].Error != "domain taken" {
		t.Fatalf("newest first: %+v %v", all, err)
	}
	if all[1].ClientIP != "10.0.0.1" || all[1].RequestID != "r1" || string(all[1].Before) != `{"status":"active"}` || all[1].At.Before(start) {
		t.Fatalf("fields not kept: %+v", all[1])
	}
	for _, c := range []struct {
		f    model.AuditFilter
		want int
	}{
		{model.AuditFilter{TenantUUID: "u1"}, 2},
		{model.AuditFilter{Actor: "deploy"}, 2},
		{model.AuditFilter{Action: "tenant.create"}, 2},
		{model.AuditFilter{Actor: "deploy", Action: "tenant.create"}, 1},
		{model.AuditFilter{Since: time.Now().Add(time.Hour)}, 0},
		{model.AuditFilter{Limit: 1}, 1},
	} {
		got, err := s.ListAudit(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("ListAudit(%+v) = %d entries, %v; want %d", c.f, len(got), err, c.want)
		}
	}
}

func testLifecycleStates(t *testing.T, s model.Store) {
	ctx := context.Background()
	tn := NewTenant("New", "new.life.test")
	tn.Status = model.StatusProvisioning
	tn.VisitorMessage = "soon"
	mustCreate(t, s, tn)
	other := mustCreate(t, s, NewTenant("Old", "old.life.test"))
	if tn.Generation != 1 {
		t.Fatalf("zero generation stored as %d, want 1", tn.Generation)
	}
	moved := NewTenant("Moved", "moved.life.test")
	moved.Generation = 3
	mustCreate(t, s, moved)
	status := func(id *model.Tenant, want model.Status) *model.Tenant {
		t.Helper()
		got, err := s.TenantByUUID(ctx, id.UUID)
		if err != nil || got.Status != want {
			t.Fatalf("tenant %s: %+v, %v; want status %s", id.Name, got, err, want)
		}
		return got
	}
	if got := status(tn, model.StatusProvisioning); got.Generation != 1 || got.VisitorMessage != "soon" {
		t.Fatalf("created tenant: %+v", got)
	}
	if got := status(moved, model.StatusActive); got.Generation != 3 {
		t.Fatalf("generation %d, want 3", got.Generation)
	}
	count := func(st ...model.Status) int {
		t.Helper()
		all, err := s.AllTenants(ctx, st...)
		if err != nil {
			t.Fatal(err)
		}
		_, n, err := s.ListTenants(ctx, model.ListOptions{Status: st[0]})
		if err != nil || n != len(all) && len(st) == 1 {
			t.Fatalf("ListTenants(%s): %d, %v; AllTenants: %d", st[0], n, err, len(all))
		}
		return len(all)
	}
	if count(model.StatusProvisioning) != 1 || count(model.StatusInactive) != 0 || count(model.StatusActive) != 2 ||
		count(model.StatusActive, model.StatusProvisioning) != 3 {
		t.Fatal("status filters do not see lifecycle states")
	}
	if c, err := s.CountByStatus(ctx); err != nil || c[model.StatusProvisioning] != 1 || c[model.StatusInactive] != 0 {
		t.Fatalf("CountByStatus = %v, %v", c, err)
	}
	// Updates keep the lifecycle state and save the visitor message.
	tn.Status, tn.VisitorMessage = model.StatusActive, "almost"
	if err := s.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if got := status(tn, model.StatusProvisioning); got.VisitorMessage != "almost" {
		t.Fatalf("visitor message %q after update", got.VisitorMessage)
	}
	var se *model.StateError
	if err := s.MarkDeleting(ctx, tn.ID); !errors.As(err, &se) || se.Status != model.StatusProvisioning || se.Tenant != tn.UUID {
		t.Fatalf("MarkDeleting of a provisioning tenant: %v", err)
	}
	if err := s.CommitTenant(ctx, tn.ID, model.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	status(tn, model.StatusSuspended)
	if err := s.CommitTenant(ctx, tn.ID, model.StatusActive); !errors.As(err, &se) || se.Status != model.StatusSuspended {
		t.Fatalf("second CommitTenant: %v", err)
	}
	for range 2 {
		if err := s.MarkDeleting(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
	}
	other.Status = model.StatusBlocked
	if err := s.UpdateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	status(other, model.StatusDeleting)
	if err := s.CommitTenant(ctx, other.ID, model.StatusActive); !errors.As(err, &se) || se.Status != model.StatusDeleting {
		t.Fatalf("CommitTenant of a deleting tenant: %v", err)
	}
	if c, err := s.CountByStatus(ctx); err != nil || c[model.StatusDeleting] != 1 || c[model.StatusBlocked] != 0 {
		t.Fatalf("CountByStatus = %v, %v", c, err)
	}
	if err := s.CommitTenant(ctx, 1<<40, model.StatusActive); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("CommitTenant of a missing tenant: %v", err)
	}
	if err := s.MarkDeleting(ctx, 1<<40); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("MarkDeleting of a missing tenant: %v", err)
	}
}

func testOperationRuns(t *testing.T, s model.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, NewTenant("A", "a.runs.test"))
	b := mustCreate(t, s, NewTenant("B", "b.runs.test"))
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateSucceeded, Version: 4}); err != nil {
		t.Fatal(err)
	}
	// A batch of pending records: a's keeps its last version, the
	// missing tenant's record is left out.
	pending := []model.OperationRecord{
		{TenantID: a.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "r1"},
		{TenantID: 1 << 40, Operation: model.OpMigrate, State: model.StatePending, RunID: "r1"},
		{TenantID: b.ID, Operation: model.OpMigrate, State: model.StatePending, RunID: "r1"},
	}
	if err := s.RecordOperations(ctx, pending); err != nil {
		t.Fatal(err)
	}
	got, err := s.Operations(ctx, model.OpMigrate, model.StatePending)
	if err != nil || len(got) != 2 || got[0].TenantID != a.ID || got[0].Version != 4 || got[0].RunID != "r1" ||
		got[1].TenantID != b.ID || got[0].FinishedAt.IsZero() {
		t.Fatalf("pending records: %+v, %v", got, err)
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateRunning, RunID: "r1", Version: 9}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Operations(ctx, model.OpMigrate, model.StateRunning); err != nil || len(got) != 1 || got[0].Version != 4 {
		t.Fatalf("running record: %+v, %v", got, err)
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: a.ID, Operation: model.OpMigrate, State: model.StateSucceeded, RunID: "r1", Version: 5}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Operations(ctx, model.OpMigrate, model.StateSucceeded); err != nil || len(got) != 1 || got[0].Version != 5 || got[0].RunID != "r1" {
		t.Fatalf("outcome: %+v, %v", got, err)
	}
	if err := s.RecordOperations(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// testNullJSON writes a JSON null into a tenant's settings and data behind
// the store's back, where the schema lets one in, and reads it back as an
// empty object. It needs a store with a DB() *sql.DB method; a schema that
// refuses the null (PostgreSQL's CHECK on jsonb_typeof) passes too.
func testNullJSON(t *testing.T, s model.Store) {
	ctx := context.Background()
	withDB, ok := s.(interface{ DB() *sql.DB })
	if !ok {
		t.Skip("the store has no DB() *sql.DB")
	}
	tn := mustCreate(t, s, NewTenant("Null", "null.json.test"))
	if _, err := withDB.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE tenants SET settings = 'null', data = 'null' WHERE id = %d`, tn.ID)); err != nil {
		t.Logf("the schema refuses a JSON null: %v", err)
	}
	got, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.AllTenants(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("AllTenants: %d tenants, %v", len(all), err)
	}
	for _, tn := range []*model.Tenant{got, all[0]} {
		if tn.Settings == nil || len(tn.Settings) != 0 || tn.Data == nil || len(tn.Data) != 0 {
			t.Fatalf("a JSON null reads as settings %#v, data %#v; want empty maps", tn.Settings, tn.Data)
		}
	}
}
