package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/monitor"
)

// alerts is a fixed AlertSource.
type alerts struct{ history, active []alert.Event }

func (a alerts) History() []alert.Event { return a.history }
func (a alerts) Active() []alert.Event  { return a.active }

var _ monitor.AlertSource = alerts{}

// serve serves one request and returns the recorder.
func serve(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// success decodes a success envelope's data into data, checking the
// envelope.
func success(t *testing.T, rec *httptest.ResponseRecorder, data any) {
	t.Helper()
	var env struct {
		Success   bool            `json:"success"`
		Data      json.RawMessage `json:"data"`
		Timestamp string          `json:"timestamp"`
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if _, err := time.Parse(time.RFC3339, env.Timestamp); err != nil || !env.Success {
		t.Fatalf("envelope %s", rec.Body)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		t.Fatalf("data: %v: %s", err, env.Data)
	}
}

// failure checks an error envelope.
func failure(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	var env struct {
		Success   bool   `json:"success"`
		Error     string `json:"error"`
		Message   string `json:"message"`
		Code      int    `json:"code"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if rec.Code != code || env.Success || env.Code != code || env.Error != http.StatusText(code) || env.Message == "" || env.Timestamp == "" {
		t.Errorf("want %d, got %d %s", code, rec.Code, rec.Body)
	}
}

func TestAdminRoutes(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := alerts{
		history: []alert.Event{
			{ID: 1, Rule: alert.RuleP95Latency, Message: "p95 above 500 ms", Value: 700, Threshold: 500, At: at},
			{ID: 2, Rule: alert.RuleP95Latency, Message: "p95 back to normal", Value: 100, Threshold: 500, Resolved: true, At: at.Add(time.Minute)},
			{ID: 3, Rule: alert.RuleErrorRate, Message: "errors <b>high</b>", Value: 0.2, Threshold: 0.05, At: at.Add(2 * time.Minute)},
		},
	}
	src.active = src.history[2:]
	mon := f.monitor(t, monitor.Config{Alerts: src})
	h := mon.AdminHandler()
	f.observe(f.acme.ID, 30, 200, 2*time.Millisecond)
	f.observe(f.beta.ID, 10, 500, 20*time.Millisecond)
	mon.Sample(ctx)
	f.observe(f.acme.ID, 10, 200, 2*time.Millisecond)
	mon.Sample(ctx)

	t.Run("dashboard json", func(t *testing.T) {
		for _, rec := range []*httptest.ResponseRecorder{
			serve(t, h, "GET", "/admin/monitoring/dashboard", map[string]string{"Accept": "application/json"}),
			serve(t, h, "GET", "/admin/monitoring/dashboard?format=json", nil),
			serve(t, h, "GET", "/admin/monitoring/dashboard", map[string]string{"Accept": "text/html;q=0.5, application/json"}),
		} {
			var s monitor.Snapshot
			success(t, rec, &s)
			if s.Requests.Total != 50 || len(s.TopTenants) != 1 || s.TopTenants[0].Name != "Acme" || s.AlertsActive != 1 {
				t.Errorf("snapshot %+v", s)
			}
		}
	})

	t.Run("dashboard page", func(t *testing.T) {
		rec := serve(t, h, "GET", "/admin/monitoring/dashboard", map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, want := range []string{
			`<meta name="viewport"`, `id="rps" data-total-requests="50"`, `<body data-total-requests="50"`,
			`id="p95"`, `id="error-rate"`, `id="open-dbs"`, `id="conn-hit-ratio"`, `id="cache-hit-ratio"`,
			`id="tenants-total">2<`, `id="rss"`, `id="cpu"`, `id="disk-used"`, `id="uptime"`, `id="top-tenants"`,
			`id="alerts"`, `href="/admin"`, `<script src="dashboard.js">`, `href="/admin/tenants/` + f.acme.UUID + `">Acme</a>`,
			`errors &lt;b&gt;high&lt;/b&gt;`, `<tr class="firing">`, `<tr class="resolved">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if len(body) > 16<<10 {
			t.Errorf("page is %d bytes", len(body))
		}
		for _, asset := range []string{"dashboard.js", "dashboard.css"} {
			rec := serve(t, h, "GET", "/admin/monitoring/"+asset, nil)
			if rec.Code != 200 || rec.Body.Len() == 0 {
				t.Errorf("%s: %d, %d bytes", asset, rec.Code, rec.Body.Len())
			}
			if strings.Contains(rec.Body.String(), "://") && asset == "dashboard.css" {
				t.Error("the stylesheet loads something from elsewhere")
			}
		}
	})

	t.Run("system-stats", func(t *testing.T) {
		var s monitor.SystemStats
		success(t, serve(t, h, "GET", "/admin/monitoring/system-stats", nil), &s)
		if s.Node == "" || s.Time.IsZero() || s.UptimeSeconds <= 0 || s.Runtime.Goroutines == 0 || s.Disk.DataDir != f.dir {
			t.Errorf("%+v", s)
		}
	})

	t.Run("tenant-stats", func(t *testing.T) {
		var list []monitor.TenantStats
		success(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats", nil), &list)
		if len(list) != 2 || list[0].UUID != f.acme.UUID || list[0].Total != 40 || list[0].PerSecond <= 0 || list[0].P95Ms <= 1 || list[0].P95Ms > 2.5 {
			t.Fatalf("%+v", list)
		}
		b := list[1]
		if b.Name != "Beta" || b.Status != "suspended" || b.Errors5xx != 10 || b.ErrorRate != 1 || b.PerSecond != 0 || b.LastAccess == nil || b.AvgMs != 20 {
			t.Errorf("Beta %+v", b)
		}
		success(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats?limit=1", nil), &list)
		if len(list) != 1 {
			t.Errorf("limit=1: %d tenants", len(list))
		}
		failure(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats?limit=x", nil), http.StatusUnprocessableEntity)
	})

	t.Run("tenant detail", func(t *testing.T) {
		for _, ref := range []string{f.acme.UUID, "acme.test", "ACME.test"} {
			var d monitor.TenantDetail
			success(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats/"+ref, nil), &d)
			if d.UUID != f.acme.UUID || d.Name != "Acme" || d.Total != 40 || !d.Maintenance || d.Status != "active" ||
				len(d.Domains) != 1 || d.Domains[0] != "acme.test" || d.Database == nil || d.Database.SizeBytes <= 0 || d.DatabaseError != "" {
				t.Errorf("%s: %+v", ref, d)
			}
		}
		failure(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats/nobody.test", nil), http.StatusNotFound)
		failure(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats/0190d6c1-0000-7000-8000-000000000000", nil), http.StatusNotFound)
	})

	t.Run("connections", func(t *testing.T) {
		var c monitor.ConnectionReport
		success(t, serve(t, h, "GET", "/admin/monitoring/connections", nil), &c)
		// The tenant detail above opened Acme's database.
		if c.MaxOpen <= 0 || c.Open != 1 || len(c.OpenDatabases) != 1 || c.OpenDatabases[0] != f.acme.DatabaseName || c.BudgetUse <= 0 {
			t.Errorf("%+v", c)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		var a monitor.AlertReport
		success(t, serve(t, h, "GET", "/admin/monitoring/alerts", nil), &a)
		if !a.Configured || len(a.Active) != 1 || len(a.History) != 3 || a.History[0].ID != 3 || a.History[2].ID != 1 {
			t.Errorf("%+v", a)
		}
	})

	t.Run("errors", func(t *testing.T) {
		rec := serve(t, h, "POST", "/admin/monitoring/dashboard", nil)
		failure(t, rec, http.StatusMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
			t.Errorf("Allow %q", got)
		}
		rec = serve(t, h, "GET", "/admin/monitoring/clear-caches", nil)
		failure(t, rec, http.StatusMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != "DELETE" {
			t.Errorf("Allow %q", got)
		}
		failure(t, serve(t, h, "GET", "/admin/monitoring/nothing", nil), http.StatusNotFound)
		if rec := serve(t, h, "GET", "/admin/monitoring/", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/monitoring/dashboard" {
			t.Errorf("index: %d %s", rec.Code, rec.Header().Get("Location"))
		}
		if rec := serve(t, h, "HEAD", "/admin/monitoring/system-stats", nil); rec.Code != 200 || rec.Body.Len() != 0 {
			t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
		}
	})
}

func TestWithoutOptionalParts(t *testing.T) {
	mgr, _ := newManager(t)
	mon, err := monitor.New(&monitor.Config{Manager: mgr})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	h := mon.AdminHandler()
	// No sample yet: the dashboard takes one.
	var s monitor.Snapshot
	success(t, serve(t, h, "GET", "/admin/monitoring/dashboard?format=json", nil), &s)
	if s.TopTenants == nil || s.Requests.Total != 0 || s.Disk.DataDir != "" {
		t.Errorf("%+v", s)
	}
	// What is not measured is unknown (-1), not 0: the disk without a data
	// directory, the hit ratios without an interval or without a cache and
	// resolver.
	if d := s.Disk; d.UsedBytes != -1 || d.Files != -1 || d.FreeBytes != -1 {
		t.Errorf("disk without a data directory %+v", d)
	}
	if s.Connections.HitRatio != -1 || s.Cache.HitRatio != -1 || s.Resolver.HitRatio != -1 {
		t.Errorf("hit ratios %v, %v, %v", s.Connections.HitRatio, s.Cache.HitRatio, s.Resolver.HitRatio)
	}
	var c0 monitor.ConnectionReport
	success(t, serve(t, h, "GET", "/admin/monitoring/connections", nil), &c0)
	if c0.HitRatio != -1 || c0.IntervalHitRatio != -1 {
		t.Errorf("connections without acquires %+v", c0)
	}
	page := serve(t, h, "GET", "/admin/monitoring/dashboard", nil).Body.String()
	for _, want := range []string{`id="disk-used">—<`, `id="disk-free">—<`, `id="conn-hit-ratio">—<`, `id="cache-hit-ratio">—<`, `id="tenants-total">0<`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	var list []monitor.TenantStats
	success(t, serve(t, h, "GET", "/admin/monitoring/tenant-stats", nil), &list)
	if list == nil || len(list) != 0 {
		t.Errorf("tenant stats %v", list)
	}
	var a monitor.AlertReport
	success(t, serve(t, h, "GET", "/admin/monitoring/alerts", nil), &a)
	if a.Configured || a.Active == nil || a.History == nil {
		t.Errorf("%+v", a)
	}
	if rec := serve(t, h, "GET", "/admin/monitoring/dashboard", nil); !strings.Contains(rec.Body.String(), "Alerts are not configured.") {
		t.Errorf("page: %s", rec.Body)
	}
	var c monitor.ClearReport
	success(t, serve(t, h, "DELETE", "/admin/monitoring/clear-caches", nil), &c)
	if strings.Join(c.Cleared, ",") != "history,disk_usage,tenant_directory" || c.HistorySamples != 1 {
		t.Errorf("%+v", c)
	}
}

func TestClearCaches(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{})
	h := mon.AdminHandler()
	if err := f.cache.For(f.acme.UUID).Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	mon.Sample(ctx)
	mon.WaitBackground()
	if s := mon.Sample(ctx); s.Disk.MeasuredAt.IsZero() {
		t.Fatal("no disk walk")
	}

	var c monitor.ClearReport
	rec := serve(t, h, "DELETE", "/admin/monitoring/clear-caches", nil)
	success(t, rec, &c)
	if strings.Join(c.Cleared, ",") != "history,disk_usage,tenant_directory" || c.HistorySamples != 2 {
		t.Errorf("%+v", c)
	}
	if strings.Contains(rec.Body.String(), "tenant_cache") {
		t.Errorf("the report mentions the tenant cache: %s", rec.Body)
	}
	// The monitoring memos are not the application's cache: it keeps its
	// entries.
	if v, ok, err := f.cache.For(f.acme.UUID).Get(ctx, "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("the tenant cache lost its entry: %q, %v, %v", v, ok, err)
	}
	if n := len(mon.History()); n != 0 {
		t.Errorf("%d samples kept", n)
	}
	// The next sample walks the data directory again: until that walk
	// ends, it has no used space. The tenant counts and the maintenance
	// count keep their values while the directory is read again.
	s := mon.Sample(ctx)
	if !s.Disk.MeasuredAt.IsZero() || s.Disk.UsedBytes != -1 || s.Disk.Files != -1 || s.Disk.FreeBytes <= 0 {
		t.Errorf("disk after clearing %+v", s.Disk)
	}
	if want := (monitor.TenantCounts{Total: 2, Active: 1, Suspended: 1, Maintenance: 1}); s.Tenants != want {
		t.Errorf("tenants after clearing %+v, want %+v", s.Tenants, want)
	}
	mon.WaitBackground()
	if s := mon.Sample(ctx); s.Tenants.Maintenance != 1 || s.Disk.MeasuredAt.IsZero() {
		t.Errorf("after the directory read and the walk: tenants %+v, disk %+v", s.Tenants, s.Disk)
	}
}

// brokenCatalog fails tenant reads with an error naming a file.
type brokenCatalog struct{ tenancy.Store }

const brokenCatalogError = "open /srv/secret/catalog.sqlite: permission denied"

func (brokenCatalog) TenantByUUID(context.Context, string) (*tenancy.Tenant, error) {
	return nil, errors.New(brokenCatalogError)
}

// An error without an answer of its own is logged and answered with a
// fixed message: its detail is for the server's log only.
func TestInternalErrorsAreLoggedNotAnswered(t *testing.T) {
	mgr := newManagerWith(t, func(st tenancy.Store) tenancy.Store { return brokenCatalog{st} })
	var logged bytes.Buffer
	mon, err := monitor.New(&monitor.Config{Manager: mgr, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	rec := serve(t, mon.AdminHandler(), "GET", "/admin/monitoring/tenant-stats/0190d6c1-0000-7000-8000-000000000000", nil)
	failure(t, rec, http.StatusInternalServerError)
	if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "permission") {
		t.Errorf("the answer shows the error: %s", rec.Body)
	}
	if !strings.Contains(logged.String(), brokenCatalogError) {
		t.Errorf("the error was not logged: %q", logged.String())
	}
}

// A p95 at the latency histogram's last bound shows as that or more.
func TestDashboardP95AtTheCap(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{})
	mon.Sample(ctx)
	f.observe(f.acme.ID, 10, 200, 8*time.Second)
	if s := mon.Sample(ctx); s.Requests.P95Ms != 5000 {
		t.Fatalf("p95 %v ms, want the cap of 5000", s.Requests.P95Ms)
	}
	body := serve(t, mon.AdminHandler(), "GET", "/admin/monitoring/dashboard", nil).Body.String()
	for _, want := range []string{`<span id="p95">≥ 5000</span> ms`, `<td>≥ 5000</td>`, `data-p95-cap="5000"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}
