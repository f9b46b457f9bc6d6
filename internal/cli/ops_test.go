package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/monitor"
)

// opsRun runs the command line with ctx and returns stdout, stderr and the exit code.
func opsRun(ctx context.Context, dataDir string, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := Main(ctx, append([]string{"--data-dir", dataDir}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// opsFleet makes a data directory with three migrated tenants: test1 with
// a second domain, test2 in maintenance, test3 suspended.
func opsFleet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ok(t, dir, "create-test-tenants", "--count", "3", "--with-data")
	ok(t, dir, "domains", "add", "test1.localhost", "first.localhost")
	ok(t, dir, "maintenance", "test2.localhost", "--enable")
	ok(t, dir, "suspend", "test3.localhost")
	return dir
}

// checksByName indexes a health result's checks.
func checksByName(r healthResult) map[string]healthCheck {
	m := map[string]healthCheck{}
	for _, c := range r.Checks {
		m[c.Name] = c
	}
	return m
}

// oneLineError fails unless errOut is a single "Error: …" line.
func oneLineError(t *testing.T, args []string, errOut string) {
	t.Helper()
	msg := strings.TrimSpace(errOut)
	if !strings.HasPrefix(msg, "Error: ") || strings.Contains(msg, "\n") {
		t.Errorf("tenancy %q: want a one-line error, got %q", args, errOut)
	}
}

func TestHealthCommand(t *testing.T) {
	t.Parallel()
	dir := opsFleet(t)

	out := ok(t, dir, "health")
	for _, name := range []string{checkCatalog, checkDisk, checkDatabases, checkMigration} {
		if !strings.Contains(out, "ok    "+name) {
			t.Errorf("health lacks an ok %s line:\n%s", name, out)
		}
	}
	if strings.Contains(out, "FAIL") || strings.Contains(out, "test1.localhost") {
		t.Fatalf("health without --detailed:\n%s", out)
	}
	if out := ok(t, dir, "health", "--detailed"); !strings.Contains(out, "test1.localhost") ||
		!strings.Contains(out, "active+maintenance") || !strings.Contains(out, "LAST ACCESS") {
		t.Fatalf("health --detailed:\n%s", out)
	}

	res := decode[healthResult](t, ok(t, dir, "health", "-o", "json"))
	checks := checksByName(res)
	if !res.Healthy || len(res.Checks) != 4 || !checks[checkCatalog].OK || checks[checkCatalog].Detail != "3 tenants" {
		t.Fatalf("health json: %+v", res)
	}
	if len(res.Tenants) != 3 {
		t.Fatalf("health json tenants: %+v", res.Tenants)
	}
	for _, f := range res.Tenants {
		if !f.Reachable || f.TableCount == 0 || f.MigrationVersion == 0 || f.PendingMigrations != 0 || f.SizeBytes == 0 || f.Error != "" {
			t.Errorf("tenant figures: %+v", f)
		}
	}

	one := decode[healthResult](t, ok(t, dir, "health", "first.localhost", "-o", "json"))
	if !one.Healthy || len(one.Tenants) != 1 || one.Tenants[0].PrimaryDomain != "test1.localhost" || one.Tenants[0].Domains != 2 {
		t.Fatalf("health TENANT json: %+v", one)
	}
	if c := checksByName(one); !c[checkDatabase].OK || !c[checkMigration].OK || len(one.Checks) != 2 {
		t.Fatalf("health TENANT checks: %+v", one.Checks)
	}
	if out := ok(t, dir, "health", one.Tenants[0].UUID); !strings.Contains(out, "ok    database") || !strings.Contains(out, "test1.localhost") {
		t.Fatalf("health TENANT is detailed:\n%s", out)
	}
}

func TestHealthFails(t *testing.T) {
	t.Parallel()
	dir := opsFleet(t)
	victim := decode[healthResult](t, ok(t, dir, "health", "test2.localhost", "-o", "json")).Tenants[0]
	files, _ := filepath.Glob(filepath.Join(dir, "tenants", victim.DatabaseName+".sqlite*"))
	if len(files) == 0 {
		t.Fatal("no database file to remove")
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, code := run(t, dir, "health")
	if code != 1 || !strings.Contains(out, "FAIL  "+checkDatabases) || !strings.Contains(out, "test2.localhost") ||
		!strings.Contains(out, "ok    "+checkCatalog) {
		t.Fatalf("health with a missing database: exit %d\n%s\n%s", code, out, errOut)
	}
	oneLineError(t, []string{"health"}, errOut)
	if !strings.Contains(errOut, checkDatabases) {
		t.Fatalf("the error does not name the failing check: %s", errOut)
	}

	out, _, code = run(t, dir, "health", "-o", "json")
	res := decode[healthResult](t, out)
	if code != 1 || res.Healthy || checksByName(res)[checkDatabases].OK {
		t.Fatalf("health json: exit %d %+v", code, res)
	}
	for _, f := range res.Tenants {
		if want := f.UUID != victim.UUID; f.Reachable != want {
			t.Errorf("tenant %s reachable %v, want %v", f.PrimaryDomain, f.Reachable, want)
		}
	}
	if _, errOut, code := run(t, dir, "health", "test2.localhost"); code != 1 || !strings.Contains(errOut, checkDatabase) {
		t.Fatalf("health TENANT with a missing database: exit %d %s", code, errOut)
	}
	if _, _, code := run(t, dir, "health", "test1.localhost"); code != 0 {
		t.Fatal("another tenant's health fails")
	}

	// The report goes on, the broken database in its error column.
	out, errOut, code = run(t, dir, "report")
	rep := decode[fleetReport](t, out)
	if code != 0 || rep.Totals.Failed != 1 || !strings.Contains(errOut, "1 tenant database could not be measured") {
		t.Fatalf("report with a missing database: exit %d %+v %s", code, rep.Totals, errOut)
	}

	// A migration no tenant has yet fails the migrations check.
	dir2 := opsFleet(t)
	os.WriteFile(filepath.Join(dir2, "migrations", "tenant", "00099_more.sql"),
		[]byte("-- +goose Up\nCREATE TABLE more (x INTEGER);\n-- +goose Down\nDROP TABLE more;\n"), 0o644)
	out, errOut, code = run(t, dir2, "health", "--detailed")
	if code != 1 || !strings.Contains(out, "FAIL  "+checkMigration) || !strings.Contains(errOut, checkMigration) ||
		!strings.Contains(out, "ok    "+checkDatabases) {
		t.Fatalf("health with pending migrations: exit %d\n%s\n%s", code, out, errOut)
	}
	ok(t, dir2, "migrate", "--all")
	ok(t, dir2, "health")

	// Unreadable migrations fail that check; the others still run.
	os.WriteFile(filepath.Join(dir2, "migrations", "tenant", "not_a_version.sql"), []byte("x"), 0o644)
	out, _, code = run(t, dir2, "health", "-o", "json")
	res = decode[healthResult](t, out)
	if c := checksByName(res); code != 1 || c[checkMigration].OK || !c[checkDatabases].OK || !strings.Contains(c[checkMigration].Error, "not_a_version.sql") {
		t.Fatalf("health with unreadable migrations: exit %d %+v", code, res.Checks)
	}
}

func TestStatsCommand(t *testing.T) {
	t.Parallel()
	dir := opsFleet(t)
	s := decode[fleetStats](t, ok(t, dir, "stats", "-o", "json"))
	want := monitor.TenantCounts{Total: 3, Active: 2, Suspended: 1, Maintenance: 1}
	if s.Tenants != want || s.Domains != 4 {
		t.Fatalf("stats tenants %+v domains %d", s.Tenants, s.Domains)
	}
	d := s.Databases
	if d.Measured != 3 || d.Unmeasured != 0 || d.TotalBytes <= 0 || d.AvgBytes != d.TotalBytes/3 || d.Largest == nil || d.Largest.SizeBytes < d.AvgBytes {
		t.Fatalf("stats databases %+v", d)
	}
	if s.Budget.MaxOpenDatabases != 256 || s.Budget.TenantDB != modeSQLite || s.Budget.ConnectionBudget != 0 {
		t.Fatalf("stats budget %+v", s.Budget)
	}
	out := ok(t, dir, "stats", "--max-open-databases", "7")
	for _, want := range []string{"3: 2 active, 0 inactive, 1 suspended, 0 blocked; 1 in maintenance", "Domains:", "Largest:", "7 tenant databases open at most"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}

	// --live with -o json: one object per line per refresh, stopped by --count.
	out = ok(t, dir, "stats", "--live", "--interval", "10ms", "--count", "3", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("stats --live --count 3 -o json: %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if got := decode[fleetStats](t, l); got.Tenants != want {
			t.Fatalf("live refresh: %+v", got)
		}
	}
	// Not a terminal: blocks follow each other, no escape codes.
	out = ok(t, dir, "stats", "--live", "--interval", "10ms", "--count", "2")
	if strings.Count(out, "tenancy stats, every 10ms") != 2 || strings.Contains(out, "\x1b") || !strings.Contains(out, "\n\ntenancy stats") {
		t.Fatalf("stats --live text:\n%q", out)
	}

	// Until the context ends (Ctrl-C), exiting 0.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, errOut, code := opsRun(ctx, dir, "stats", "--live", "--interval", "300ms", "-o", "json")
	if n := strings.Count(out, "\n"); code != 0 || n < 2 || n > 5 {
		t.Fatalf("stats --live until cancelled: exit %d, %d refreshes: %s", code, n, errOut)
	}
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	dir := opsFleet(t)
	before := snapshot(t, dir)
	rep := decode[fleetReport](t, ok(t, dir, "report", "--format", "json"))
	if len(rep.Tenants) != 3 || rep.GeneratedAt.IsZero() {
		t.Fatalf("report: %+v", rep)
	}
	tt := rep.Totals
	if tt.Tenants != (monitor.TenantCounts{Total: 3, Active: 2, Suspended: 1, Maintenance: 1}) || tt.Domains != 4 ||
		tt.DatabaseSizeBytes <= 0 || tt.TableCount == 0 || tt.PendingMigrations != 0 || tt.Failed != 0 {
		t.Fatalf("report totals: %+v", tt)
	}
	byDomain := map[string]tenantFigures{}
	for _, f := range rep.Tenants {
		byDomain[f.PrimaryDomain] = f
	}
	if f := byDomain["test1.localhost"]; f.Domains != 2 || f.Status != "active" || !f.Reachable || f.MigrationVersion == 0 || f.CreatedAt.IsZero() {
		t.Fatalf("report row: %+v", f)
	}
	if !byDomain["test2.localhost"].Maintenance || byDomain["test3.localhost"].Status != "suspended" {
		t.Fatalf("report rows: %+v", rep.Tenants)
	}

	readCSV := func(s string) [][]string {
		t.Helper()
		recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
		if err != nil {
			t.Fatalf("parsing CSV %q: %v", s, err)
		}
		return recs
	}
	recs := readCSV(ok(t, dir, "report", "--format", "csv"))
	if len(recs) != 4 || !slices.Equal(recs[0], reportColumns) {
		t.Fatalf("CSV: %v", recs)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	for _, r := range recs[1:] {
		f := byDomain[r[col["primary_domain"]]]
		if r[col["uuid"]] != f.UUID || r[col["database_name"]] != f.DatabaseName || r[col["domains"]] != fmt.Sprint(f.Domains) ||
			r[col["database_reachable"]] != "true" || r[col["created_at"]] != f.CreatedAt.UTC().Format(time.RFC3339) {
			t.Errorf("CSV row %v, JSON row %+v", r, f)
		}
	}

	// --output writes the file atomically, over an older one.
	file := filepath.Join(t.TempDir(), "fleet.csv")
	os.WriteFile(file, []byte("old"), 0o644)
	out := ok(t, dir, "report", "--format", "csv", "--output", file)
	if out != "wrote 3 tenants to "+file+"\n" {
		t.Fatalf("report --output said %q", out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := readCSV(string(data)); len(got) != 4 || !slices.Equal(got[0], reportColumns) {
		t.Fatalf("written CSV: %v", got)
	}
	jsonFile := filepath.Join(filepath.Dir(file), "fleet.json")
	ok(t, dir, "report", "--output", jsonFile)
	data, _ = os.ReadFile(jsonFile)
	if got := decode[fleetReport](t, string(data)); len(got.Tenants) != 3 {
		t.Fatalf("written JSON: %s", data)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 2 {
		t.Fatalf("files left beside the report: %v", entries)
	}

	// Looking changes nothing.
	ok(t, dir, "health", "--detailed")
	ok(t, dir, "stats")
	if after := snapshot(t, dir); after != before {
		t.Fatalf("report, health or stats changed the catalog or files:\nbefore %s\nafter  %s", before, after)
	}
}

func TestOpsBadInput(t *testing.T) {
	t.Parallel()
	dir := opsFleet(t)
	before := snapshot(t, dir)
	outDir := t.TempDir()
	cases := [][]string{
		{"health", "nobody.localhost"},
		{"health", "01a2185c-8068-7cbf-ba4e-a68e05dd8e16"},
		{"health", "test1.localhost", "test2.localhost"},
		{"health", "--detailed=maybe"},
		{"stats", "extra"},
		{"stats", "--interval", "2s"},
		{"stats", "--live", "--interval", "0s"},
		{"stats", "--live", "--interval", "-1s"},
		{"stats", "--live", "--interval", "soon"},
		{"stats", "--live", "--count", "-1"},
		{"stats", "--count", "2"},
		{"report", "--format", "xml", "--output", filepath.Join(outDir, "r.xml")},
		{"report", "--format", "", "--output", filepath.Join(outDir, "r")},
		{"report", "--format", "CSV", "--output", filepath.Join(outDir, "r.csv")},
		{"report", "--output", ""},
		{"report", "-o", "json"},
		{"report", "--output", filepath.Join(outDir, "missing", "r.json")},
		{"monitor", "--url", "ftp://localhost:8080"},
		{"monitor", "--url", "localhost:8080"},
		{"monitor", "--url", ""},
		{"monitor", "--interval", "1s"},
		{"monitor", "--live", "--interval", "0s"},
		{"monitor", "extra"},
	}
	for _, args := range cases {
		out, errOut, code := run(t, dir, args...)
		if code == 0 {
			t.Errorf("tenancy %q succeeded: %s", args, out)
			continue
		}
		oneLineError(t, args, errOut)
	}
	if _, errOut, _ := run(t, dir, "report", "--format", "xml"); !strings.Contains(errOut, "want json or csv") {
		t.Errorf("bad --format error does not list the formats: %s", errOut)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("bad input wrote files: %v", entries)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("bad input changed the catalog or files:\nbefore %s\nafter  %s", before, after)
	}
}

// testSnapshot is the snapshot the fake server serves.
func testSnapshot() monitor.Snapshot {
	return monitor.Snapshot{
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Node: "node-a", IntervalSeconds: 1, UptimeSeconds: 93784,
		Requests: monitor.RequestFigures{Total: 12345, Errors5xx: 3, PerSecond: 42.5, P95Ms: 17.3, ErrorRate: 0.002},
		TopTenants: []monitor.TenantFigures{
			{UUID: "0192a7b0-0000-7000-8000-000000000001", Name: "Acme", RequestFigures: monitor.RequestFigures{Total: 9000, PerSecond: 30, P95Ms: 12}},
			{UUID: "0192a7b0-0000-7000-8000-000000000002", Name: "Globex", RequestFigures: monitor.RequestFigures{Total: 3345, PerSecond: 12.5, P95Ms: 20}},
		},
		Tenants:     monitor.TenantCounts{Total: 5, Active: 3, Suspended: 1, Blocked: 1, Maintenance: 1},
		Connections: monitor.ConnectionFigures{Open: 12, InUse: 2, Budget: 256, BudgetUse: 12.0 / 256, HitRatio: 0.98},
		Cache:       monitor.CacheFigures{Entries: 1234, HitRatio: 0.91},
		Process:     monitor.ProcessFigures{PID: 7, RSSBytes: 120 << 20, MemoryLimitBytes: 1 << 30, MemoryUse: 120.0 / 1024, CPUPercent: 12.5, CPUs: 8},
		Runtime:     monitor.RuntimeFigures{Goroutines: 45},
		Disk:        monitor.DiskFigures{DataDir: "/data", UsedBytes: 5 << 20, Files: 40, FreeBytes: 50 << 30},
	}
}

// fakeServer serves GET /admin/monitoring/dashboard as a tenancy server
// would, for the API key "good"; it counts the requests.
func fakeServer(t *testing.T, body func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+dashboardPath, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept: %q", r.Header.Get("Accept"))
		}
		if r.Header.Get("X-API-Key") != "good" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"success":false,"error":"unauthorized","message":"A valid API key is required.","code":401}`)
			return
		}
		body(w)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestMonitorCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := testSnapshot()
	good, requests := fakeServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": want, "timestamp": "2026-03-01T12:00:00Z"})
	})
	garbage, _ := fakeServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body>Welcome</body></html>")
	})
	notEnvelope, _ := fakeServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	failing, _ := fakeServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"success":false,"message":"monitor not running"}`)
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	out := ok(t, dir, "monitor", "--url", good.URL, "--api-key", "good")
	for _, s := range []string{"node-a", "up 1d 2h", "42.5/s", "p95 17.3 ms", "errors 0.2% 5xx, 0.0% 4xx", "12 open of 256 (4.7%)", "hit ratio 98.0%",
		"hit ratio 91.0%", "5: 3 active, 0 inactive, 1 suspended, 1 blocked; 1 in maintenance", "RSS 126 MB (11.7% of 1.1 GB)",
		"CPU 12.5% of 8 CPUs", "45 goroutines", "54 GB free", "TOP TENANT", "Acme", "Globex", "12,345"} {
		if !strings.Contains(out, s) {
			t.Errorf("monitor output lacks %q:\n%s", s, out)
		}
	}
	got := decode[monitor.Snapshot](t, ok(t, dir, "monitor", "--url", good.URL+"/", "--api-key", "good", "-o", "json"))
	if !got.Time.Equal(want.Time) || got.Requests != want.Requests || got.Tenants != want.Tenants || len(got.TopTenants) != 2 || got.Disk.FreeBytes != want.Disk.FreeBytes {
		t.Fatalf("monitor json: %+v", got)
	}

	requests.Store(0)
	out = ok(t, dir, "monitor", "--url", good.URL, "--api-key", "good", "--live", "--interval", "10ms", "--count", "3", "-o", "json")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || requests.Load() != 3 {
		t.Fatalf("monitor --live --count 3: %d requests, output:\n%s", requests.Load(), out)
	}
	out = ok(t, dir, "monitor", "--url", good.URL, "--api-key", "good", "--live", "--interval", "10ms", "--count", "2")
	if strings.Count(out, "tenancy monitor "+good.URL+", every 10ms") != 2 || strings.Count(out, "TOP TENANT") != 2 || strings.Contains(out, "\x1b") {
		t.Fatalf("monitor --live text:\n%s", out)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"refused key", []string{"--url", good.URL, "--api-key", "bad"}, "Error: the server refused the API key (create one with `tenancy api-key create`)"},
		{"no key", []string{"--url", good.URL, "--api-key", ""}, "wants an API key: pass --api-key or set TENANT_API_KEY"},
		{"not JSON", []string{"--url", garbage.URL, "--api-key", "good"}, "did not answer with a tenancy JSON envelope (got text/html"},
		{"not an envelope", []string{"--url", notEnvelope.URL, "--api-key", "good"}, "did not answer with a tenancy JSON envelope"},
		{"server error", []string{"--url", failing.URL, "--api-key", "good"}, "answered GET /admin/monitoring/dashboard with 500 Internal Server Error: monitor not running"},
		{"connection refused", []string{"--url", closedURL, "--api-key", "good"}, "Error: cannot reach the server at " + closedURL + ": "},
		{"refused while live", []string{"--url", closedURL, "--api-key", "good", "--live", "--interval", "10ms"}, "cannot reach the server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"monitor"}, c.args...)
			out, errOut, code := run(t, dir, args...)
			if code != 1 || out != "" || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, c.want)
			}
			oneLineError(t, args, errOut)
		})
	}
}

// TestMonitorAPIKeyFromEnv is not parallel: it sets TENANT_API_KEY.
func TestMonitorAPIKeyFromEnv(t *testing.T) {
	srv, _ := fakeServer(t, func(w http.ResponseWriter) {
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": testSnapshot()})
	})
	t.Setenv("TENANT_API_KEY", "good")
	if out := ok(t, t.TempDir(), "monitor", "--url", srv.URL); !strings.Contains(out, "node-a") {
		t.Fatalf("monitor with TENANT_API_KEY:\n%s", out)
	}
}

// TestMonitorHelpHidesAPIKey is not parallel: it sets TENANT_API_KEY.
func TestMonitorHelpHidesAPIKey(t *testing.T) {
	const secret = "tk_live_do-not-print-me"
	t.Setenv("TENANT_API_KEY", secret)
	out, errOut, code := run(t, t.TempDir(), "monitor", "--help")
	if code != 0 || strings.Contains(out+errOut, secret) {
		t.Fatalf("monitor --help: exit %d, the key from the environment shows:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "$TENANT_API_KEY") {
		t.Fatalf("monitor --help does not name the environment variable:\n%s", out)
	}
}

func TestMonitorRedirects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "" {
			leaked.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": testSnapshot()})
	}))
	t.Cleanup(elsewhere.Close)
	good, _ := fakeServer(t, func(w http.ResponseWriter) {
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": testSnapshot()})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /away"+dashboardPath, http.RedirectHandler(elsewhere.URL+dashboardPath, http.StatusFound))
	mux.Handle("GET /moved"+dashboardPath, http.RedirectHandler(dashboardPath, http.StatusMovedPermanently))
	mux.Handle("GET "+dashboardPath, http.RedirectHandler(good.URL+dashboardPath, http.StatusFound))
	redirecting := httptest.NewServer(mux)
	t.Cleanup(redirecting.Close)

	args := []string{"monitor", "--url", redirecting.URL + "/away", "--api-key", "good"}
	out, errOut, code := run(t, dir, args...)
	if code != 1 || out != "" || !strings.Contains(errOut, "redirected to "+elsewhere.URL+dashboardPath+": not followed") {
		t.Fatalf("redirect to another host: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	oneLineError(t, args, errOut)
	if leaked.Load() != 0 {
		t.Fatal("the API key was sent to another host")
	}

	// On the same host a redirect is followed, until one leaves it.
	_, errOut, code = run(t, dir, "monitor", "--url", redirecting.URL+"/moved", "--api-key", "good")
	if code != 1 || !strings.Contains(errOut, "redirected to "+good.URL+dashboardPath) {
		t.Fatalf("redirect on the same host, then away: exit %d, stderr %q", code, errOut)
	}
	sameHost := http.NewServeMux()
	sameHost.Handle("GET /moved"+dashboardPath, http.RedirectHandler(dashboardPath, http.StatusMovedPermanently))
	sameHost.HandleFunc("GET "+dashboardPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "good" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": testSnapshot()})
	})
	same := httptest.NewServer(sameHost)
	t.Cleanup(same.Close)
	if out := ok(t, dir, "monitor", "--url", same.URL+"/moved", "--api-key", "good"); !strings.Contains(out, "node-a") {
		t.Fatalf("redirect on the same host:\n%s", out)
	}
	if leaked.Load() != 0 {
		t.Fatal("the API key was sent to another host")
	}
}

func TestMonitorUnknownTenantName(t *testing.T) {
	t.Parallel()
	s := testSnapshot()
	s.TopTenants[1].Name = ""
	var b bytes.Buffer
	if err := printSnapshot(&b, &s); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "(unknown)") || strings.Contains(out, "(deleted)") {
		t.Fatalf("a top tenant without a name:\n%s", out)
	}
}

func TestReportCSVFormulas(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""}, {"Acme", "Acme"}, {"a=b", "a=b"}, {"=1+2", "'=1+2"}, {"+1", "'+1"}, {"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"}, {"\tx", "'\tx"}, {"\rx", "'\rx"}, {"'quoted", "'quoted"},
	} {
		if got := csvText(c.in); got != c.want {
			t.Errorf("csvText(%q) = %q, want %q", c.in, got, c.want)
		}
	}

	dir := t.TempDir()
	const name = `=HYPERLINK("http://evil.example","x")`
	ok(t, dir, "create", name, "formula.localhost")
	if got := decode[fleetReport](t, ok(t, dir, "report", "--format", "json")); len(got.Tenants) != 1 || got.Tenants[0].Name != name {
		t.Fatalf("JSON report: %+v", got.Tenants)
	}
	recs, err := csv.NewReader(strings.NewReader(ok(t, dir, "report", "--format", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1][slices.Index(reportColumns, "name")] != "'"+name ||
		recs[1][slices.Index(reportColumns, "database_size_bytes")][0] == '\'' {
		t.Fatalf("CSV report: %q", recs)
	}
}

// TestAlertsFromEnv is not parallel: it sets the TENANCY_ALERT_* variables.
func TestAlertsFromEnv(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        map[string]string
		engine     bool
		wantErr    []string
		wantWarn   string
		wantNoWarn bool
	}{
		{name: "nothing set", wantNoWarn: true},
		{name: "a bad channel without a threshold", env: map[string]string{alert.EnvWebhookURL: "htp://hooks.example"},
			wantErr: []string{alert.EnvWebhookURL}},
		{name: "a half-set channel without a threshold", env: map[string]string{alert.EnvTelegramChatID: "42"},
			wantErr: []string{alert.EnvTelegramBotToken}},
		{name: "a channel without a threshold", env: map[string]string{alert.EnvWebhookURL: "https://hooks.example/x"},
			wantWarn: "no alert rule is on"},
		{name: "a threshold without a channel", env: map[string]string{alert.EnvErrorRate: "5%"},
			engine: true, wantWarn: "no notification channel"},
		{name: "a threshold and a channel", env: map[string]string{alert.EnvErrorRate: "5%", alert.EnvWebhookURL: "https://hooks.example/x"},
			engine: true, wantNoWarn: true},
		{name: "a bad threshold and a bad channel", env: map[string]string{alert.EnvErrorRate: "lots", alert.EnvWebhookURL: "ftp://x"},
			wantErr: []string{alert.EnvErrorRate, alert.EnvWebhookURL}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range []string{alert.EnvDatabaseSize, alert.EnvP95Latency, alert.EnvErrorRate, alert.EnvMinRequests,
				alert.EnvMemoryUse, alert.EnvConnectionBudget, alert.EnvWebhookURL, alert.EnvSlackWebhookURL,
				alert.EnvTelegramBotToken, alert.EnvTelegramChatID, alert.EnvSMTPAddr, alert.EnvSMTPUsername,
				alert.EnvSMTPPassword, alert.EnvEmailFrom, alert.EnvEmailTo} {
				t.Setenv(name, c.env[name])
			}
			var logs bytes.Buffer
			e, err := alertsFromEnv(slog.New(slog.NewTextHandler(&logs, nil)))
			if len(c.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (e != nil) != c.engine {
				t.Fatalf("engine %v, want one: %v", e, c.engine)
			}
			if c.wantWarn != "" && !strings.Contains(logs.String(), c.wantWarn) {
				t.Errorf("logs lack %q: %s", c.wantWarn, logs.String())
			}
			if c.wantNoWarn && logs.Len() != 0 {
				t.Errorf("unexpected logs: %s", logs.String())
			}
		})
	}
}

func TestMonitorShowsUnknownFigures(t *testing.T) {
	t.Parallel()
	s := &monitor.Snapshot{Node: "n", Tenants: monitor.TenantCounts{Total: -1, Active: -1, Inactive: -1, Suspended: -1, Blocked: -1, Maintenance: -1},
		Connections: monitor.ConnectionFigures{HitRatio: -1}, Cache: monitor.CacheFigures{HitRatio: -1},
		Disk: monitor.DiskFigures{UsedBytes: -1, Files: -1, FreeBytes: -1}}
	var out strings.Builder
	if err := printSnapshot(&out, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "-1") || strings.Contains(out.String(), "-100") {
		t.Fatalf("unknown figures printed as numbers:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "—: — active") {
		t.Fatalf("unknown tenant counts not shown as —:\n%s", out.String())
	}
}
