package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/monitor"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// alertSample is a 1-second monitoring sample at second i.
func alertSample(i int, perSecond, errorRate, p95Ms float64) monitor.Snapshot {
	return monitor.Snapshot{
		Time:            time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC),
		Node:            "node-a",
		IntervalSeconds: 1,
		Requests:        monitor.RequestFigures{PerSecond: perSecond, ErrorRate: errorRate, P95Ms: p95Ms},
	}
}

func newTestEngine(t *testing.T, th alert.Thresholds) *alert.Engine {
	t.Helper()
	e, err := alert.New(&alert.Config{Thresholds: th, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAlertWindowLowTraffic: at 1 req/s every request failing, one sample
// never has MinRequests (20) requests, the 30-sample window does.
func TestAlertWindowLowTraffic(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, alert.Thresholds{ErrorRate: 0.5, P95Latency: 100 * time.Millisecond, MinRequests: 20})
	var w requestWindow
	firedAt := map[string]int{}
	for i := 1; i <= 30; i++ {
		var f alert.Figures
		f, w = figures(w, alertSample(i, 1, 1, 500))
		if f.Requests != i || f.ErrorRate != 1 || f.P95 != 500*time.Millisecond || !f.At.Equal(alertSample(i, 0, 0, 0).Time) {
			t.Fatalf("sample %d: figures %+v", i, f)
		}
		for _, ev := range e.Evaluate(context.Background(), f) {
			if !ev.Resolved {
				firedAt[ev.Rule] = i
			}
		}
	}
	if firedAt[alert.RuleErrorRate] != 20 || firedAt[alert.RuleP95Latency] != 20 {
		t.Fatalf("fired at samples %v, want both at the 20th", firedAt)
	}

	// The window slides: 30 healthy samples later the errors are gone.
	var resolved []string
	for i := 31; i <= 60; i++ {
		var f alert.Figures
		f, w = figures(w, alertSample(i, 1, 0, 10))
		if f.Requests != 30 {
			t.Fatalf("sample %d: %d requests in the window, want 30", i, f.Requests)
		}
		for _, ev := range e.Evaluate(context.Background(), f) {
			if ev.Resolved {
				resolved = append(resolved, fmt.Sprint(ev.Rule, "@", i))
			}
		}
	}
	// Error rate 15/30 is not above 0.5 at sample 45; the weighted p95
	// (15×500+15×10)/30 = 255 ms is still above 100 ms then, and
	// (5×500+25×10)/30 ≈ 92 ms at sample 55 (108 ms at 54).
	if want := []string{"error_rate@45", "p95_latency@55"}; fmt.Sprint(resolved) != fmt.Sprint(want) {
		t.Fatalf("resolved %v, want %v", resolved, want)
	}
}

func TestAlertWindowFigures(t *testing.T) {
	t.Parallel()
	var w requestWindow
	f, w := figures(w, monitor.Snapshot{}) // the first sample: no rates yet
	if f.Requests != 0 || f.ErrorRate != 0 || f.P95 != 0 {
		t.Fatalf("first sample: %+v", f)
	}
	f, w = figures(w, alertSample(1, 10, 0.5, 100))
	f, _ = figures(w, alertSample(2, 30, 0, 20))
	// 40 requests, 5 failed; p95 (10×100 + 30×20)/40 = 40 ms.
	if f.Requests != 40 || f.ErrorRate != 5.0/40 || f.P95 != 40*time.Millisecond {
		t.Fatalf("window figures: %+v", f)
	}
	// A 5-second interval counts its requests.
	s := alertSample(3, 2, 0, 0)
	s.IntervalSeconds = 5
	if f, _ := figures(requestWindow{}, s); f.Requests != 10 {
		t.Fatalf("5 s sample: %+v", f)
	}
}

// flakySizes is a provisioner whose Size fails for the names in fail.
type flakySizes struct {
	tenantdb.Provisioner
	mu   sync.Mutex
	fail map[string]bool
}

func (p *flakySizes) Size(ctx context.Context, name string) (int64, error) {
	p.mu.Lock()
	failing := p.fail[name]
	p.mu.Unlock()
	if failing {
		return 0, fmt.Errorf("size of %s: disk on fire", name)
	}
	return p.Provisioner.Size(ctx, name)
}

func (p *flakySizes) setFailing(name string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[name] = on
}

// TestAlertDatabaseSizeKeepsLastKnown: a tenant whose size cannot be read
// keeps its alert; a deleted tenant's alert resolves.
func TestAlertDatabaseSizeKeepsLastKnown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sqlite, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		t.Fatal(err)
	}
	prov := &flakySizes{Provisioner: sqlite, fail: map[string]bool{}}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: st, Provisioner: prov, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	var tenants []*tenancy.Tenant
	for i := range 2 {
		tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.example.test", i)})
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
	}

	e := newTestEngine(t, alert.Thresholds{DatabaseSizeBytes: 1}) // every database is too big
	a := newAlerter(e, mgr, time.Minute, slog.New(slog.DiscardHandler))
	evaluate := func() []alert.Event {
		t.Helper()
		sizes, names := a.databaseSizes(ctx)
		return e.Evaluate(ctx, alert.Figures{DatabaseSizes: sizes, TenantNames: names})
	}
	if evs := evaluate(); len(evs) != 2 || evs[0].Resolved || evs[1].Resolved {
		t.Fatalf("first measurement: %+v", evs)
	}
	firstSizes := a.knownSizes

	// A failed measurement keeps the last known size: nothing resolves.
	prov.setFailing(tenants[0].DatabaseName, true)
	if evs := evaluate(); len(evs) != 0 {
		t.Fatalf("a failed measurement raised %+v", evs)
	}
	if got := a.knownSizes[tenants[0].UUID]; got != firstSizes[tenants[0].UUID] || got <= 0 {
		t.Fatalf("last known size %d, first measured %d", got, firstSizes[tenants[0].UUID])
	}
	if len(e.Active()) != 2 {
		t.Fatalf("active after a failed measurement: %+v", e.Active())
	}

	// A deleted tenant is forgotten, which resolves its alert.
	if _, err := mgr.Delete(ctx, tenants[0].UUID); err != nil {
		t.Fatal(err)
	}
	evs := evaluate()
	if len(evs) != 1 || !evs[0].Resolved || evs[0].Subject != tenants[0].UUID {
		t.Fatalf("after deleting a tenant: %+v", evs)
	}
	if _, ok := a.knownSizes[tenants[0].UUID]; ok || len(a.knownSizes) != 1 {
		t.Fatalf("known sizes after the deletion: %v", a.knownSizes)
	}

	// A tenant never measured is left out.
	tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "New", Domain: "new.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	prov.setFailing(tn.DatabaseName, true)
	if evs := evaluate(); len(evs) != 0 {
		t.Fatalf("an unmeasured new tenant raised %+v", evs)
	}
	if _, ok := a.knownSizes[tn.UUID]; ok {
		t.Fatalf("an unmeasured tenant has a size: %v", a.knownSizes)
	}
}
