package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/monitor"
)

// newManager returns a Manager on a temporary data directory, and the
// directory.
func newManager(t testing.TB) (*tenancy.Manager, string) {
	t.Helper()
	return newManagerWithDir(t, nil)
}

// newManagerWith returns a Manager whose catalog is wrap of a SQLite
// catalog.
func newManagerWith(t testing.TB, wrap func(tenancy.Store) tenancy.Store) *tenancy.Manager {
	t.Helper()
	m, _ := newManagerWithDir(t, wrap)
	return m
}

func newManagerWithDir(t testing.TB, wrap func(tenancy.Store) tenancy.Store) (*tenancy.Manager, string) {
	t.Helper()
	dir := t.TempDir()
	m, _ := testenv.NewManager(t, dir, &testenv.ManagerConfig{WrapStore: wrap})
	return m, dir
}

// get serves one GET request and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Result().Header
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	mgr, dir := newManager(t)
	if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Beta", Domain: "beta.test", Status: tenancy.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	rm := tenancy.NewRequestMetrics()
	now := time.Now()
	// Tenant i serves i requests, so tenants 11..60 are the 50 busiest.
	for id := int64(1); id <= 60; id++ {
		for j := range id {
			status := 200
			switch j % 10 {
			case 3:
				status = 404
			case 7:
				status = 503
			}
			rm.Observe(id, status, time.Duration(j)*time.Millisecond, now)
		}
	}
	mc, err := cache.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	mon, err := monitor.New(&monitor.Config{Manager: mgr, Metrics: rm, Cache: mc, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	code, body, hdr := get(t, mon.Metrics(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}

	tenants := map[string]bool{}
	re := regexp.MustCompile(`tenant="([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		tenants[m[1]] = true
	}
	if len(tenants) > monitor.MaxTenantLabels+1 || !tenants["other"] || !tenants["60"] || !tenants["11"] || tenants["10"] {
		t.Errorf("%d tenant label values: %v", len(tenants), tenants)
	}

	// Tenants 1..10 serve 55 requests in all: j%10 == 3 is a 404 for
	// tenants 4..10 (7), j%10 == 7 a 503 for tenants 8..10 (3).
	for _, line := range []string{
		`tenancy_http_requests_total{class="ok",tenant="other"} 45`,
		`tenancy_http_requests_total{class="4xx",tenant="other"} 7`,
		`tenancy_http_requests_total{class="5xx",tenant="other"} 3`,
		`tenancy_http_request_duration_seconds_count{tenant="other"} 55`,
		`tenancy_http_request_duration_seconds_bucket{tenant="60",le="+Inf"} 60`,
		`tenancy_http_request_duration_seconds_bucket{tenant="60",le="0.001"} 2`,
		`tenancy_http_request_duration_seconds_sum{tenant="60"} 1.77`,
		`tenancy_tenants{status="active"} 1`,
		`tenancy_tenants{status="suspended"} 1`,
		`tenancy_tenants{status="blocked"} 0`,
		`tenancy_cache_hits_total 0`,
		"# TYPE tenancy_http_request_duration_seconds histogram",
		"# TYPE tenancy_http_requests_total counter",
		"# TYPE tenancy_connections_open gauge",
		"# TYPE tenancy_connections_hits_total counter",
		"# TYPE tenancy_connections_max_open gauge",
		"# TYPE go_goroutines gauge",
		"# TYPE process_resident_memory_bytes gauge",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("missing %q", line)
		}
	}
	// Components not configured are left out.
	for _, absent := range []string{"tenancy_resolver_", "tenancy_jobs_"} {
		if strings.Contains(body, absent) {
			t.Errorf("unexpected %s metrics", absent)
		}
	}
}

func TestMetricsWithoutRequests(t *testing.T) {
	mgr, _ := newManager(t)
	mon, err := monitor.New(&monitor.Config{Manager: mgr})
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := get(t, mon.Metrics(), "/metrics")
	if strings.Contains(body, "tenancy_http_") {
		t.Error("request metrics without RequestMetrics")
	}
	if !strings.Contains(body, `tenancy_tenants{status="active"} 0`+"\n") {
		t.Errorf("no tenant counts in:\n%s", body)
	}
}

func TestHealthz(t *testing.T) {
	mgr, _ := newManager(t)
	mon, err := monitor.New(&monitor.Config{Manager: mgr})
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, mon.Healthz(), "/healthz")
	if code != http.StatusOK || body != `{"status":"ok"}`+"\n" {
		t.Errorf("%d %q", code, body)
	}
	rec := httptest.NewRecorder()
	mon.Healthz().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// readyz calls /readyz and decodes its body.
func readyz(t *testing.T, mon *monitor.Monitor) (int, monitor.Readiness) {
	t.Helper()
	code, body, _ := get(t, mon.Readyz(), "/readyz")
	var rd monitor.Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return code, rd
}

func TestReadyz(t *testing.T) {
	ctx := context.Background()
	mgr, dir := newManager(t)
	healthy := true
	checks := map[string]func(context.Context) error{
		"redis": func(context.Context) error {
			if !healthy {
				return errors.New("connection refused")
			}
			return nil
		},
	}
	logs := &testenv.LogRecorder{}
	mon, err := monitor.New(&monitor.Config{Manager: mgr, DataDir: dir, MinFreeBytes: 1, ReadyChecks: checks, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}

	// No tenant yet: the tenant database check is skipped.
	code, rd := readyz(t, mon)
	if code != http.StatusOK || rd.Status != "ready" || !rd.Checks[monitor.CheckTenantDatabase].Skipped {
		t.Fatalf("%d %+v", code, rd)
	}

	if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"}); err != nil {
		t.Fatal(err)
	}
	code, rd = readyz(t, mon)
	if code != http.StatusOK || rd.Status != "ready" {
		t.Fatalf("%d %+v", code, rd)
	}
	for _, name := range []string{monitor.CheckCatalog, monitor.CheckTenantDatabase, monitor.CheckDisk, "redis"} {
		c, ok := rd.Checks[name]
		if !ok || !c.OK || c.Skipped || c.Error != "" {
			t.Errorf("check %s: %+v (present %v)", name, c, ok)
		}
	}

	healthy = false
	code, rd = readyz(t, mon)
	if code != http.StatusServiceUnavailable || rd.Status != "not_ready" {
		t.Fatalf("%d %+v", code, rd)
	}
	// /readyz needs no credentials: it says that a check failed, not why.
	if c := rd.Checks["redis"]; c.OK || c.Error != "failed: see the server log" {
		t.Errorf("redis: %+v", c)
	}
	if c := mon.Check(ctx).Checks["redis"]; c.OK || c.Error != "connection refused" {
		t.Errorf("Check: redis: %+v", c)
	}
	if n := logs.Count("readiness check failed"); n != 1 {
		t.Errorf("failed readiness check logged %d times, want 1", n)
	}
	if c := rd.Checks[monitor.CheckCatalog]; !c.OK {
		t.Errorf("catalog: %+v", c)
	}
}

func TestReadyzDiskAndTimeout(t *testing.T) {
	mgr, dir := newManager(t)
	mon, err := monitor.New(&monitor.Config{Manager: mgr, DataDir: dir, MinFreeBytes: 1 << 62, ReadyChecks: map[string]func(context.Context) error{
		"stuck": func(context.Context) error { select {} },
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, rd := readyz(t, mon)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("%d %+v", code, rd)
	}
	if c := rd.Checks[monitor.CheckDisk]; c.OK || c.Error != "failed: see the server log" {
		t.Errorf("disk: %+v", c)
	}
	if c := rd.Checks["stuck"]; c.OK || c.DurationMS < 1000 || !c.TimedOut || c.Error != "no answer within 2s" {
		t.Errorf("stuck: %+v", c)
	}
	if c := mon.Check(context.Background()).Checks[monitor.CheckDisk]; c.OK || !strings.Contains(c.Error, "below the minimum") {
		t.Errorf("Check: disk: %+v", c)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("readyz took %v", took)
	}
}

func TestNewValidates(t *testing.T) {
	mgr, _ := newManager(t)
	for i, cfg := range []*monitor.Config{
		nil,
		{},
		{Manager: mgr, MinFreeBytes: -1},
		{Manager: mgr, ReadyChecks: map[string]func(context.Context) error{"catalog": func(context.Context) error { return nil }}},
		{Manager: mgr, ReadyChecks: map[string]func(context.Context) error{"x": nil}},
	} {
		if _, err := monitor.New(cfg); err == nil {
			t.Errorf("config %d: no error", i)
		}
	}
}

// Example wiring: New once at start-up, mount the handlers, and run the
// sampler for the live monitoring until shutdown.
func ExampleMonitor() {
	var mgr *tenancy.Manager // from tenancy.NewManager
	mon, err := monitor.New(&monitor.Config{Manager: mgr, DataDir: "/var/lib/tenancy"})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mon.Metrics())
	mux.Handle("GET /healthz", mon.Healthz())
	mux.Handle("GET /readyz", mon.Readyz())
	// Behind the admin sign-in: the dashboard, its stream and JSON routes.
	mux.Handle(monitor.AdminPrefix, mon.AdminHandler())

	ctx, stop := context.WithCancel(context.Background())
	defer stop() // stops the sampler and ends the streams
	if err := mon.Start(ctx); err != nil {
		fmt.Println(err)
	}
}

func TestFreeBytesAndCheckFreeDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free, err := monitor.FreeBytes(dir)
	if errors.Is(err, monitor.ErrDiskUnsupported) {
		if err := monitor.CheckFreeDisk(dir, 1); !errors.Is(err, monitor.ErrDiskUnsupported) {
			t.Fatalf("CheckFreeDisk on an unsupported platform: %v", err)
		}
		t.Skip(err)
	}
	if err != nil || free <= 0 {
		t.Fatalf("FreeBytes: %d, %v", free, err)
	}
	if err := monitor.CheckFreeDisk(dir, 1); err != nil {
		t.Errorf("CheckFreeDisk(1 byte): %v", err)
	}
	if err := monitor.CheckFreeDisk(dir, 1<<62); err == nil || !strings.Contains(err.Error(), "below the minimum") {
		t.Errorf("CheckFreeDisk(1<<62): %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := monitor.FreeBytes(missing); err == nil {
		t.Error("FreeBytes of a missing directory: no error")
	}
	if err := monitor.CheckFreeDisk(missing, 1); err == nil || errors.Is(err, monitor.ErrDiskUnsupported) {
		t.Errorf("CheckFreeDisk of a missing directory: %v", err)
	}
}
