package monitor_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/monitor"
)

// fleet is a Manager with two tenants, Acme (active, in maintenance) and
// Beta (suspended), request metrics and a memory cache.
type fleet struct {
	mgr        *tenancy.Manager
	dir        string
	rm         *tenancy.RequestMetrics
	cache      *cache.Memory
	acme, beta *tenancy.Tenant
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	ctx := context.Background()
	f := &fleet{rm: tenancy.NewRequestMetrics()}
	f.mgr, f.dir = newManager(t)
	var err error
	if f.acme, err = f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"}); err != nil {
		t.Fatal(err)
	}
	if f.beta, err = f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Beta", Domain: "beta.test", Status: tenancy.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.SetMaintenance(ctx, f.acme.UUID, true, "upgrading"); err != nil {
		t.Fatal(err)
	}
	if f.cache, err = cache.NewMemory(nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// monitor returns a Monitor over the fleet, closed when the test ends.
func (f *fleet) monitor(t *testing.T, cfg monitor.Config) *monitor.Monitor {
	t.Helper()
	cfg.Manager, cfg.Metrics, cfg.Cache, cfg.DataDir = f.mgr, f.rm, f.cache, f.dir
	mon, err := monitor.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	return mon
}

// observe records n requests of a tenant, each taking took.
func (f *fleet) observe(id int64, n, status int, took time.Duration) {
	for range n {
		f.rm.Observe(id, status, took, time.Now())
	}
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance }

func TestSampleDeltas(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	clk := testclock.New(time.Now())
	mon := f.monitor(t, monitor.Config{Now: clk.Now})

	// Before the first sample: 3 requests of Beta, 1 of Acme.
	f.observe(f.beta.ID, 3, 200, time.Millisecond)
	f.observe(f.acme.ID, 1, 200, time.Millisecond)
	first := mon.Sample(ctx)
	if first.IntervalSeconds != 0 || first.Requests.PerSecond != 0 || first.Requests.Total != 4 {
		t.Errorf("first sample: interval %v, requests %+v", first.IntervalSeconds, first.Requests)
	}
	// Without an interval the hit ratios are unknown; so is the disk use
	// before the first walk.
	if first.Connections.HitRatio != -1 || first.Cache.HitRatio != -1 || first.Resolver.HitRatio != -1 {
		t.Errorf("first sample's hit ratios: %v, %v, %v", first.Connections.HitRatio, first.Cache.HitRatio, first.Resolver.HitRatio)
	}
	if first.Disk.UsedBytes != -1 || first.Disk.Files != -1 || first.Disk.FreeBytes <= 0 {
		t.Errorf("first sample's disk %+v", first.Disk)
	}
	// The first sample ranks by requests since start.
	if len(first.TopTenants) != 2 || first.TopTenants[0].UUID != f.beta.UUID || first.TopTenants[0].Total != 3 {
		t.Errorf("first top tenants %+v", first.TopTenants)
	}

	// The interval: Acme 100 requests (90 within 1 ms, 10 of 7 ms; 10
	// answered 404, 5 answered 503), Beta 20 of 3 ms.
	f.observe(f.acme.ID, 75, 200, 500*time.Microsecond)
	f.observe(f.acme.ID, 10, 404, 500*time.Microsecond)
	f.observe(f.acme.ID, 5, 503, 500*time.Microsecond)
	f.observe(f.acme.ID, 10, 200, 7*time.Millisecond)
	f.observe(f.beta.ID, 20, 200, 3*time.Millisecond)
	clk.Advance(100 * time.Millisecond)
	s := mon.Sample(ctx)

	r := s.Requests
	if s.IntervalSeconds < 0.1 {
		t.Fatalf("interval %v", s.IntervalSeconds)
	}
	if r.Total != 124 || r.Errors4xx != 10 || r.Errors5xx != 5 {
		t.Errorf("counts %+v", r)
	}
	if want := 120 / s.IntervalSeconds; !near(r.PerSecond, want, want*0.01) {
		t.Errorf("per second %v, want %v", r.PerSecond, want)
	}
	// 120 requests: 90 ≤1 ms, 20 in (2.5, 5], 10 in (5, 10]. The 114th is
	// the 4th of 10 in (5, 10]: 5 + 5*4/10 = 7 ms.
	if r.P95Ms != 7 {
		t.Errorf("p95 %v ms, want 7", r.P95Ms)
	}
	if r.ErrorRate != 0.0417 || r.ClientErrorRate != 0.0833 {
		t.Errorf("error rates %v, %v", r.ErrorRate, r.ClientErrorRate)
	}

	if len(s.TopTenants) != 2 {
		t.Fatalf("top tenants %+v", s.TopTenants)
	}
	acme, beta := s.TopTenants[0], s.TopTenants[1]
	if acme.UUID != f.acme.UUID || acme.Name != "Acme" || acme.Total != 101 || beta.UUID != f.beta.UUID || beta.Name != "Beta" {
		t.Errorf("top tenants %+v", s.TopTenants)
	}
	if want := 100 / s.IntervalSeconds; !near(acme.PerSecond, want, want*0.01) {
		t.Errorf("Acme per second %v, want %v", acme.PerSecond, want)
	}
	// Acme: 90 ≤1 ms and 10 in (5, 10]: the 95th is 5 + 5*5/10 = 7.5 ms.
	// Beta: 20 in (2.5, 5]: the 19th is 2.5 + 2.5*19/20 = 4.875 ms.
	if acme.P95Ms != 7.5 || acme.ErrorRate != 0.05 || acme.ClientErrorRate != 0.1 || beta.P95Ms != 4.875 || beta.ErrorRate != 0 {
		t.Errorf("Acme %+v, Beta %+v", acme.RequestFigures, beta.RequestFigures)
	}

	// An interval without requests has no rates and no top tenants.
	if err := f.cache.For(f.acme.UUID).Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	mon.Sample(ctx)
	if _, _, err := f.cache.For(f.acme.UUID).Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	quiet := mon.Sample(ctx)
	if quiet.Requests.PerSecond != 0 || quiet.Requests.P95Ms != 0 || len(quiet.TopTenants) != 0 || quiet.Requests.Total != 124 {
		t.Errorf("quiet sample %+v, top %+v", quiet.Requests, quiet.TopTenants)
	}
	// A get in the interval gives a hit ratio; none, an unknown one.
	if quiet.Cache.HitRatio != 1 {
		t.Errorf("cache hit ratio of an interval with one hit: %v", quiet.Cache.HitRatio)
	}
	clk.Advance(time.Second)
	if s := mon.Sample(ctx); s.Cache.HitRatio != -1 {
		t.Errorf("cache hit ratio of an interval without gets: %v", s.Cache.HitRatio)
	}

	want := monitor.TenantCounts{Total: 2, Active: 1, Suspended: 1, Maintenance: 1}
	if s.Tenants != want {
		t.Errorf("tenants %+v, want %+v", s.Tenants, want)
	}
	if s.Connections.Budget <= 0 {
		t.Errorf("connections %+v", s.Connections)
	}
	if s.Node == "" || s.UptimeSeconds <= 0 || s.Time.IsZero() {
		t.Errorf("node %q, uptime %v, time %v", s.Node, s.UptimeSeconds, s.Time)
	}
	rt := s.Runtime
	if rt.Goroutines <= 0 || rt.HeapAllocBytes == 0 || rt.SysBytes == 0 || rt.GoVersion != runtime.Version() {
		t.Errorf("runtime %+v", rt)
	}
	p := s.Process
	if p.PID <= 0 || p.CPUs <= 0 {
		t.Errorf("process %+v", p)
	}
	if runtime.GOOS == "linux" {
		if p.RSSBytes == 0 || p.CPUSeconds <= 0 || p.OpenFiles <= 0 || p.MemoryLimitBytes == 0 || p.MemoryUse <= 0 || p.MemoryUse > 1 {
			t.Errorf("process figures on Linux: %+v", p)
		}
	}
}

func TestSampleDisk(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{})
	s := mon.Sample(ctx)
	if s.Disk.DataDir != f.dir || s.Disk.FreeBytes <= 0 {
		t.Errorf("disk %+v", s.Disk)
	}
	// The walk runs in the background; the sample after it shows it.
	mon.WaitBackground()
	s = mon.Sample(ctx)
	if s.Disk.UsedBytes <= 0 || s.Disk.Files < 3 || s.Disk.MeasuredAt.IsZero() {
		t.Errorf("disk after the walk %+v", s.Disk)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{History: 3})
	if _, ok := mon.Latest(); ok {
		t.Error("Latest before any sample")
	}
	var taken []monitor.Snapshot
	for range 5 {
		taken = append(taken, mon.Sample(ctx))
	}
	h := mon.History()
	if len(h) != 3 {
		t.Fatalf("%d samples kept, want 3", len(h))
	}
	for i, s := range h {
		if !s.Time.Equal(taken[2+i].Time) {
			t.Errorf("sample %d is from %v, want %v", i, s.Time, taken[2+i].Time)
		}
	}
	if l, ok := mon.Latest(); !ok || !l.Time.Equal(taken[4].Time) {
		t.Errorf("latest %v", l.Time)
	}
}

func TestStartStop(t *testing.T) {
	f := newFleet(t)
	samples := make(chan monitor.Snapshot, 100)
	mon := f.monitor(t, monitor.Config{SampleInterval: 5 * time.Millisecond, OnSample: func(s monitor.Snapshot) { samples <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	if err := mon.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(ctx); err == nil {
		t.Error("second Start: no error")
	}
	first, second := <-samples, <-samples
	if !second.Time.After(first.Time) || second.IntervalSeconds <= 0 {
		t.Errorf("samples at %v and %v, interval %v", first.Time, second.Time, second.IntervalSeconds)
	}
	cancel()
	<-mon.Done()
	if err := mon.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(mon.History())
	if n < 2 {
		t.Errorf("%d samples kept", n)
	}
	if err := mon.Start(context.Background()); err == nil {
		t.Error("Start after stop: no error")
	}
}

func TestNewValidatesSampler(t *testing.T) {
	mgr, _ := newManager(t)
	for _, cfg := range []monitor.Config{
		{Manager: mgr, SampleInterval: -1},
		{Manager: mgr, History: -1},
		{Manager: mgr, DiskWalkInterval: -1},
		{Manager: mgr, DirectoryInterval: -1},
	} {
		if _, err := monitor.New(&cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// Only the sampler passes snapshots to OnSample: not the monitoring
// routes that take one when there is none, nor Sample.
func TestOnSampleOnlyFromSampler(t *testing.T) {
	f := newFleet(t)
	var calls atomic.Int32
	mon := f.monitor(t, monitor.Config{SampleInterval: time.Hour, OnSample: func(monitor.Snapshot) { calls.Add(1) }})
	h := mon.AdminHandler()
	var s monitor.Snapshot
	success(t, serve(t, h, "GET", "/admin/monitoring/dashboard?format=json", nil), &s)
	success(t, serve(t, h, "DELETE", "/admin/monitoring/clear-caches", nil), &monitor.ClearReport{})
	if rec := serve(t, h, "GET", "/admin/monitoring/dashboard", nil); rec.Code != 200 {
		t.Fatalf("page: %d", rec.Code)
	}
	// The routes' snapshots did not move the baseline of the rates.
	if s := mon.Sample(context.Background()); s.IntervalSeconds != 0 {
		t.Errorf("the first Sample after the routes' snapshots has an interval of %v s", s.IntervalSeconds)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("OnSample called %d times without the sampler", n)
	}
	if err := mon.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, "the sampler's first OnSample", func() bool { return calls.Load() > 0 })
}

// stuckCatalog is a catalog whose tenant reads fail or hang: the first
// AllTenants fails at once when failFirst is set; the others, and
// CountByStatus when hangCounts is set, wait for their context.
type stuckCatalog struct {
	tenancy.Store
	failFirst, hangCounts bool
	reads                 atomic.Int32
	started               chan struct{} // receives a value as each hanging read starts
}

func (c *stuckCatalog) AllTenants(ctx context.Context, _ ...tenancy.Status) ([]*tenancy.Tenant, error) {
	if c.reads.Add(1) == 1 && c.failFirst {
		return nil, errors.New("catalog unavailable")
	}
	select {
	case c.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (c *stuckCatalog) CountByStatus(ctx context.Context) (map[tenancy.Status]int, error) {
	if !c.hangCounts {
		return c.Store.CountByStatus(ctx)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// stuckMonitor returns a monitor over a stuckCatalog.
func stuckMonitor(t *testing.T, c *stuckCatalog, now func() time.Time) *monitor.Monitor {
	t.Helper()
	mgr := newManagerWith(t, func(st tenancy.Store) tenancy.Store { c.Store = st; return c })
	c.started = make(chan struct{}, 1)
	rm := tenancy.NewRequestMetrics()
	rm.Observe(1, 200, time.Millisecond, time.Now()) // a tenant the directory does not know
	mon, err := monitor.New(&monitor.Config{Manager: mgr, Metrics: rm, Now: now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	return mon
}

// When the directory's first read fails, the later ones run in the
// background: a sample never waits for a hanging catalog.
func TestDirectoryReadsAfterAFailedFirstDoNotBlockSampling(t *testing.T) {
	ctx := context.Background()
	c := &stuckCatalog{failFirst: true}
	clk := testclock.New(time.Now())
	mon := stuckMonitor(t, c, clk.Now)
	mon.SetDirectoryTimings(time.Millisecond, time.Minute)
	mon.Sample(ctx) // waits for the first read, which fails at once
	if n := c.reads.Load(); n != 1 {
		t.Fatalf("%d directory reads", n)
	}
	clk.Advance(5 * time.Millisecond) // past the retry interval
	start := time.Now()
	mon.Sample(ctx) // starts the second read, which hangs
	<-c.started
	mon.Sample(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("samples took %v while the directory read hangs", took)
	}
	// Close cancels the hanging read and does not wait longer.
	start = time.Now()
	mon.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
}

// The very first directory read is waited for at most directoryFirstWait,
// and Close ends the wait and the catalog reads of the sampler.
func TestCloseDoesNotWaitForTheSamplersCatalogRead(t *testing.T) {
	c := &stuckCatalog{hangCounts: true}
	mon := stuckMonitor(t, c, nil)
	mon.SetDirectoryTimings(time.Millisecond, time.Minute)
	if err := mon.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-c.started // the sampler waits for the first read
	start := time.Now()
	mon.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
}

// A first directory read longer than directoryFirstWait is left to the
// background.
func TestDirectoryFirstWaitIsBounded(t *testing.T) {
	c := &stuckCatalog{}
	mon := stuckMonitor(t, c, nil)
	mon.SetDirectoryTimings(time.Millisecond, 20*time.Millisecond)
	start := time.Now()
	s := mon.Sample(context.Background())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the first sample took %v", took)
	}
	// The maintenance count is unknown until the directory is read; the
	// counts by status are known.
	if want := (monitor.TenantCounts{Maintenance: -1}); s.Tenants != want {
		t.Errorf("tenants %+v, want %+v", s.Tenants, want)
	}
}

// uncountedCatalog cannot count tenants.
type uncountedCatalog struct{ tenancy.Store }

func (uncountedCatalog) CountByStatus(context.Context) (map[tenancy.Status]int, error) {
	return nil, errors.New("catalog unavailable")
}

// Until the catalog counted the tenants once, the counts are unknown, not
// 0.
func TestTenantCountsUnknownUntilCounted(t *testing.T) {
	mgr := newManagerWith(t, func(st tenancy.Store) tenancy.Store { return uncountedCatalog{st} })
	mon, err := monitor.New(&monitor.Config{Manager: mgr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	s := mon.Sample(context.Background())
	if want := (monitor.TenantCounts{Total: -1, Active: -1, Inactive: -1, Suspended: -1, Blocked: -1}); s.Tenants != want {
		t.Errorf("tenants %+v, want %+v", s.Tenants, want)
	}
	page := serve(t, mon.AdminHandler(), "GET", "/admin/monitoring/dashboard", nil).Body.String()
	if !strings.Contains(page, `id="tenants-total">—<`) || !strings.Contains(page, `— active · — inactive · — suspended · — blocked · 0 maintenance`) {
		t.Errorf("page does not show the unknown counts: %s", page)
	}
}

// Disk figures that cannot be measured are unknown, not 0.
func TestDiskUnmeasurable(t *testing.T) {
	f := newFleet(t)
	mon, err := monitor.New(&monitor.Config{Manager: f.mgr, DataDir: filepath.Join(f.dir, "missing"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mon.Sample(context.Background())
	mon.WaitBackground() // the walk, which fails
	s := mon.Sample(context.Background())
	if d := s.Disk; d.FreeBytes != -1 || d.UsedBytes != -1 || d.Files != -1 || !d.MeasuredAt.IsZero() {
		t.Errorf("disk %+v", d)
	}
	page := serve(t, mon.AdminHandler(), "GET", "/admin/monitoring/dashboard", nil).Body.String()
	if !strings.Contains(page, `id="disk-free">—<`) {
		t.Error("page does not show the unknown free space")
	}
}
