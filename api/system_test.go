package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

func TestBulkStatusUpdate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	a := f.tenant("A", "a.example.test", false)
	b := f.tenant("B", "b.example.test", false)
	c := f.tenant("C", "c.example.test", false)

	res := f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{
		"tenant_uuids": []string{a.UUID, b.UUID}, "status": "suspended", "reason": "Bulk suspension", "notify": false,
	})}).expect(t, http.StatusOK)
	if d := res.data(t); d["updated"] != 2.0 || d["notify"] != false {
		t.Fatalf("answer: %s", res.body)
	}
	for _, tn := range []*tenancy.Tenant{a, b} {
		if got := f.get(tn.UUID); got.Status != tenancy.StatusSuspended || got.StatusReason != "Bulk suspension" {
			t.Fatalf("catalog: %+v", got)
		}
	}
	if f.get(c.UUID).Status != tenancy.StatusActive {
		t.Fatal("an unlisted tenant changed")
	}

	before := f.catalog()
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{
		"tenant_uuids": []string{c.UUID, "0198a0c0-0000-7000-8000-000000000000"}, "status": "blocked"})}).expect(t, http.StatusNotFound)
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{
		"tenant_uuids": []string{c.UUID, "nope"}, "status": "blocked"})}).expectField(t, "tenant_uuids")
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: `{"status":"blocked"}`}).expectField(t, "tenant_uuids")
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{"tenant_uuids": []string{c.UUID}})}).expectField(t, "status")
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{"tenant_uuids": []string{c.UUID}, "status": "x"})}).expectField(t, "status")
	if f.catalog() != before {
		t.Fatal("a failed bulk update changed the catalog")
	}
}

func TestFleetJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	for i := range 3 {
		f.tenant(fmt.Sprint("T", i), fmt.Sprintf("t%d.example.test", i), false)
	}
	suspended := f.tenant("S", "s.example.test", false)
	if _, err := f.mgr.ChangeStatus(ctx, suspended.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: ""}); err != nil {
		t.Fatal(err)
	}

	res := f.do(req{method: "POST", path: "/tenancy/migrate-all-tenants", body: `{"fresh": false, "seed": false, "filter": {"status": "active", "created_after": "2024-01-01"}}`}).expect(t, http.StatusAccepted)
	d := res.data(t)
	url := d["status_url"].(string)
	if url != "/tenancy/jobs/"+d["job_id"].(string) || res.header.Get("Location") != url {
		t.Fatalf("202: %s", res.body)
	}
	job := f.waitJob(url)
	prog := job["progress"].(map[string]any)
	sum := job["summary"].(map[string]any)
	if job["state"] != jobSucceeded || job["operation"] != "migrate" || prog["done"] != 3.0 || prog["total"] != 3.0 || prog["failed"] != 0.0 ||
		sum["succeeded"] != 3.0 || job["finished_at"] == nil {
		t.Fatalf("job: %v", job)
	}
	ops, err := f.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		migrated := op.Last != nil && op.Last.State == tenancy.StateSucceeded
		if migrated != (op.Tenant.UUID != suspended.UUID) {
			t.Fatalf("tenant %s (%s) migrated=%v", op.Tenant.Name, op.Tenant.Status, migrated)
		}
	}

	// The other name, with a list of statuses; then seeding everything.
	res = f.do(req{method: "POST", path: "/tenancy/migrate-all", body: `{"filter": {"status": ["active", "suspended"]}}`}).expect(t, http.StatusAccepted)
	if job := f.waitJob(res.data(t)["status_url"].(string)); job["state"] != jobSucceeded || job["progress"].(map[string]any)["total"] != 4.0 {
		t.Fatalf("migrate-all: %v", job)
	}
	res = f.do(req{method: "POST", path: "/tenancy/seed-all-tenants", body: `{"class": "sample_notes"}`}).expect(t, http.StatusAccepted)
	job = f.waitJob(res.data(t)["status_url"].(string))
	if job["state"] != jobSucceeded || job["operation"] != "seed" || job["summary"].(map[string]any)["succeeded"] != 4.0 {
		t.Fatalf("seed-all: %v", job)
	}
	// Seeding an unmigrated tenant fails; the job says so.
	f.tenant("Bare", "bare.example.test", false)
	res = f.do(req{method: "POST", path: "/tenancy/seed-all-tenants"}).expect(t, http.StatusAccepted)
	job = f.waitJob(res.data(t)["status_url"].(string))
	sum = job["summary"].(map[string]any)
	if job["state"] != jobFailed || sum["failed"] != 1.0 || len(sum["failures"].([]any)) != 1 {
		t.Fatalf("failed seed-all: %v", job)
	}

	f.do(req{method: "POST", path: "/tenancy/migrate-all", body: `{"filter": {"status": "deleted"}}`}).expectField(t, "filter.status")
	f.do(req{method: "POST", path: "/tenancy/migrate-all", body: `{"filter": {"status": 3}}`}).expectField(t, "filter.status")
	f.do(req{method: "POST", path: "/tenancy/migrate-all", body: `{"filter": {"created_after": "yesterday"}}`}).expectField(t, "filter.created_after")
	f.do(req{method: "POST", path: "/tenancy/migrate-all", body: `{"filter": {"tags": []}}`}).expectField(t, "tags")
	f.do(req{method: "POST", path: "/tenancy/seed-all-tenants", body: `{"class": "Nope"}`}).expectField(t, "class")
	f.do(req{method: "GET", path: "/tenancy/jobs/job_unknown"}).expect(t, http.StatusNotFound)

	// After Close no job starts.
	f.api.Close()
	f.do(req{method: "POST", path: "/tenancy/migrate-all"}).expect(t, http.StatusConflict)
}

func TestJobRegistryBounds(t *testing.T) {
	t.Parallel()
	reg := newJobRegistry(time.Now)
	defer reg.close()
	block := make(chan struct{})
	var ids []string
	for range maxRunningJobs {
		j, err := reg.start(context.Background(), "migrate", time.Now(), func(ctx context.Context, _ func(migrate.Progress)) (*tenancy.FleetReport, error) {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return &tenancy.FleetReport{}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.id)
	}
	if _, err := reg.start(context.Background(), "migrate", time.Now(), func(context.Context, func(migrate.Progress)) (*tenancy.FleetReport, error) {
		return nil, nil
	}); err == nil {
		t.Fatal("a job beyond the bound started")
	}
	close(block)
	reg.wg.Wait()
	for range maxFinishedJobs + 10 {
		if _, err := reg.start(context.Background(), "seed", time.Now(), func(context.Context, func(migrate.Progress)) (*tenancy.FleetReport, error) {
			return &tenancy.FleetReport{}, nil
		}); err != nil {
			t.Fatal(err)
		}
		reg.wg.Wait()
	}
	reg.mu.Lock()
	n := len(reg.jobs)
	reg.mu.Unlock()
	if n != maxFinishedJobs {
		t.Fatalf("%d jobs kept, want %d", n, maxFinishedJobs)
	}
	if _, ok := reg.get(ids[0]); ok {
		t.Fatal("the oldest finished job is still kept")
	}
}

func TestSystemEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	a := f.tenant("A", "a.example.test", true)
	b := f.tenant("B", "b.example.test", true)
	if _, err := f.mgr.ChangeStatus(ctx, b.UUID, tenancy.StatusChange{Status: tenancy.StatusBlocked, Reason: ""}); err != nil {
		t.Fatal(err)
	}
	f.metrics.Observe(a.ID, 200, 2*time.Millisecond, f.clock.Now())
	f.metrics.Observe(a.ID, 404, 4*time.Millisecond, f.clock.Now())
	if err := os.WriteFile(filepath.Join(f.dir, "storage-probe"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := f.api.cfg.Storage.Root(a.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile("file.txt", []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	root.Close()

	d := f.do(req{method: "GET", path: "/tenancy/dashboard"}).expect(t, http.StatusOK).data(t)
	tc := d["tenants"].(map[string]any)
	if tc["total"] != 2.0 || tc["active"] != 1.0 || tc["blocked"] != 1.0 {
		t.Fatalf("dashboard tenants: %v", tc)
	}
	perf := d["performance"].(map[string]any)
	if perf["total_requests"] != 2.0 || perf["client_error_rate"] != 0.5 || perf["avg_response_time_ms"] != 3.0 {
		t.Fatalf("dashboard performance: %v", perf)
	}
	if d["resources"].(map[string]any)["total_database_size_bytes"].(float64) <= 0 {
		t.Fatalf("dashboard resources: %v", d["resources"])
	}

	d = f.do(req{method: "GET", path: "/tenancy/stats"}).expect(t, http.StatusOK).data(t)
	if d["total_tenants"] != 2.0 || d["active_tenants"] != 1.0 || d["blocked_tenants"] != 1.0 || d["total_domains"] != 2.0 ||
		d["system_uptime"] != "1 hour, 0 minutes" || d["uptime_seconds"] != 3600.0 {
		t.Fatalf("stats: %v", d)
	}
	if db := d["database"].(map[string]any); db["largest_tenant"] == nil || db["tenants"] != 2.0 {
		t.Fatalf("stats database: %v", db)
	}
	if _, ok := d["cache"]; !ok {
		t.Fatal("stats without cache figures")
	}

	d = f.do(req{method: "GET", path: "/tenancy/live-stats"}).expect(t, http.StatusOK).data(t)
	if d["memory"].(map[string]any)["sys_bytes"].(float64) <= 0 || d["requests"].(map[string]any)["total_requests"] != 2.0 {
		t.Fatalf("live-stats: %v", d)
	}

	d = f.do(req{method: "GET", path: "/tenancy/health"}).expect(t, http.StatusOK).data(t)
	if d["healthy"] != true || d["checks"].(map[string]any)["catalog"].(map[string]any)["ok"] != true {
		t.Fatalf("health: %v", d)
	}

	res := f.do(req{method: "GET", path: "/tenancy/performance?period=day&tenant_uuid=" + a.UUID}).expect(t, http.StatusOK)
	d = res.data(t)
	if d["period"] != "day" || d["tenant_uuid"] != a.UUID || d["since"] == nil || d["requests"].(map[string]any)["total_requests"] != 2.0 {
		t.Fatalf("performance: %v", d)
	}
	if p := d["requests"].(map[string]any)["p99_ms_at_most"]; p != 5.0 {
		t.Fatalf("p99 upper bound %v, want 5", p)
	}
	f.do(req{method: "GET", path: "/tenancy/performance?period=year"}).expectField(t, "period")
	f.do(req{method: "GET", path: "/tenancy/performance?tenant_uuid=abc"}).expectField(t, "tenant_uuid")
	f.do(req{method: "GET", path: "/tenancy/performance?tenant_uuid=0198a0c0-0000-7000-8000-000000000000"}).expect(t, http.StatusNotFound)

	d = f.do(req{method: "GET", path: "/tenancy/system-info"}).expect(t, http.StatusOK).data(t)
	if !strings.HasPrefix(d["go_version"].(string), "go") || d["pid"].(float64) != float64(os.Getpid()) || d["data_dir"] != f.dir || d["uptime_seconds"] != 3600.0 {
		t.Fatalf("system-info: %v", d)
	}

	d = f.do(req{method: "GET", path: "/tenancy/resources"}).expect(t, http.StatusOK).data(t)
	usage := d["data_dir_usage"].(map[string]any)
	if d["tenants"] != 2.0 || usage["bytes"].(float64) < 4096 || usage["files"].(float64) < 3 {
		t.Fatalf("resources: %v", d)
	}

	d = f.do(req{method: "GET", path: "/tenancy/tenants/" + a.UUID + "/resources"}).expect(t, http.StatusOK).data(t)
	if d["storage_bytes"] != 5.0 || d["database"].(map[string]any)["migration_version"] != 2.0 || d["requests"].(map[string]any)["total_requests"] != 2.0 {
		t.Fatalf("tenant resources: %v", d)
	}

	d = f.do(req{method: "GET", path: "/tenancy/connection-stats"}).expect(t, http.StatusOK).data(t)
	if d["stats"].(map[string]any)["open"].(float64) < 1 || len(d["open_databases"].([]any)) < 1 {
		t.Fatalf("connection-stats: %v", d)
	}
	d = f.do(req{method: "POST", path: "/tenancy/repair-connections"}).expect(t, http.StatusOK).data(t)
	if d["count"] != 0.0 || d["checked"].(float64) < 1 {
		t.Fatalf("repair: %v", d)
	}
	d = f.do(req{method: "POST", path: "/tenancy/optimize-connections", body: "{}"}).expect(t, http.StatusOK).data(t)
	if d["closed"].(float64) < 1 || f.mgr.Databases().Stats().Open != 0 {
		t.Fatalf("optimize: %v", d)
	}

	d = f.do(req{method: "POST", path: "/tenancy/maintenance/on", body: `{"message": "Back soon"}`}).expect(t, http.StatusOK).data(t)
	if d["changed"] != 2.0 {
		t.Fatalf("maintenance on: %v", d)
	}
	if got := f.get(a.UUID); !got.Maintenance || got.MaintenanceMessage != "Back soon" {
		t.Fatalf("catalog: %+v", got)
	}
	f.do(req{method: "POST", path: "/tenancy/maintenance/off", body: `{"message": "x"}`}).expectField(t, "message")
	f.do(req{method: "POST", path: "/tenancy/maintenance/off"}).expect(t, http.StatusOK)
	if f.get(a.UUID).Maintenance || f.get(b.UUID).Maintenance {
		t.Fatal("maintenance still on")
	}
}

func TestHealthUnhealthy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{config: func(c *Config) { c.DataDir = filepath.Join(c.DataDir, "missing") }})
	res := f.do(req{method: "GET", path: "/tenancy/health"}).expect(t, http.StatusServiceUnavailable)
	d := res.data(t)
	if d["healthy"] != false || d["checks"].(map[string]any)["data_dir"].(map[string]any)["ok"] != false {
		t.Fatalf("health: %s", res.body)
	}
}

func TestCacheEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{resolver: true})
	ctx := context.Background()
	tn := f.tenant("A", "a.example.test", false)
	ns := f.cache.For(tn.UUID)
	for _, k := range []string{"user_preferences", "settings", "other"} {
		if err := ns.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	has := func(k string) bool {
		_, ok, err := ns.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	res := f.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": tn.UUID, "keys": []string{"user_preferences", "settings"}})}).expect(t, http.StatusOK)
	if res.data(t)["deleted_keys"] != 2.0 || has("user_preferences") || has("settings") || !has("other") {
		t.Fatalf("clear keys: %s", res.body)
	}
	// The reference's body: tags flush the whole namespace.
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": tn.UUID, "keys": []string{"a"}, "tags": []string{"tenant_data"}})}).expect(t, http.StatusOK)
	if has("other") {
		t.Fatal("tags did not flush the namespace")
	}
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: `{}`}).expectField(t, "tenant_uuid")
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: `{"tenant_uuid": "x"}`}).expectField(t, "tenant_uuid")
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": tn.UUID, "keys": []string{""}})}).expectField(t, "keys")
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: `{"tenant_uuid": "0198a0c0-0000-7000-8000-000000000000"}`}).expect(t, http.StatusNotFound)

	if err := ns.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/tenancy/clear-all-caches", "/tenancy/cache/clear-all"} {
		d := f.do(req{method: "POST", path: path}).expect(t, http.StatusOK).data(t)
		if d["tenant_caches"] != "flushed" || d["resolver"] != "reloaded" || has("k") {
			t.Fatalf("%s: %v", path, d)
		}
	}
	d := f.do(req{method: "GET", path: "/tenancy/cache-stats"}).expect(t, http.StatusOK).data(t)
	if d["cache"].(map[string]any)["flushes"].(float64) < 3 || d["resolver"].(map[string]any)["tenants"] != 1.0 {
		t.Fatalf("cache-stats: %v", d)
	}

	bare := newFixture(t, fixtureOptions{config: func(c *Config) { c.Cache = nil }})
	bt := bare.tenant("A", "a.example.test", false)
	bare.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": bt.UUID})}).expect(t, http.StatusServiceUnavailable)
	bare.do(req{method: "POST", path: "/tenancy/clear-all-caches"}).expect(t, http.StatusServiceUnavailable)
	if d := bare.do(req{method: "GET", path: "/tenancy/cache-stats"}).expect(t, http.StatusOK).data(t); len(d) != 0 {
		t.Fatalf("cache-stats without a cache: %v", d)
	}
}

func TestAuditEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	res := f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"A","domain":"a.example.test"}`, key: f.write,
		header: map[string]string{"X-Request-ID": "req-123"}}).expect(t, http.StatusCreated)
	if res.header.Get("X-Request-ID") != "req-123" {
		t.Fatalf("request id not echoed: %q", res.header.Get("X-Request-ID"))
	}
	id := res.data(t)["tenant"].(map[string]any)["uuid"].(string)
	res = f.do(req{method: "PUT", path: "/tenancy/tenants/" + id + "/status", body: `{"status":"blocked","reason":"abuse"}`, remote: "198.51.100.7:4000",
		header: map[string]string{"X-Request-ID": "bad id with spaces"}}).expect(t, http.StatusOK)
	generated := res.header.Get("X-Request-ID")
	if generated == "" || strings.Contains(generated, " ") {
		t.Fatalf("generated request id %q", generated)
	}

	list := f.do(req{method: "GET", path: "/tenancy/audit?tenant_uuid=" + id}).expect(t, http.StatusOK).list(t)
	if len(list) != 2 {
		t.Fatalf("audit: %v", list)
	}
	status, create := list[0].(map[string]any), list[1].(map[string]any)
	if create["action"] != "tenant.create" || create["actor"] != "write-key" || create["request_id"] != "req-123" || create["client_ip"] != "192.0.2.1" {
		t.Fatalf("create entry: %v", create)
	}
	if status["action"] != "tenant.status" || status["actor"] != "admin-key" || status["request_id"] != generated || status["client_ip"] != "198.51.100.7" ||
		status["before"] == nil || status["after"] == nil {
		t.Fatalf("status entry: %v", status)
	}
	if l := f.do(req{method: "GET", path: "/tenancy/audit?actor=write-key&action=tenant.create&since=2000-01-01&limit=5"}).expect(t, http.StatusOK).list(t); len(l) != 1 {
		t.Fatalf("filtered: %v", l)
	}
	if l := f.do(req{method: "GET", path: "/tenancy/audit?since=2999-01-01T00:00:00Z"}).expect(t, http.StatusOK).list(t); len(l) != 0 {
		t.Fatalf("future since: %v", l)
	}
	f.do(req{method: "GET", path: "/tenancy/audit?since=last-week"}).expectField(t, "since")
	f.do(req{method: "GET", path: "/tenancy/audit?limit=0"}).expectField(t, "limit")
	f.do(req{method: "GET", path: "/tenancy/audit?tenant_uuid=x"}).expectField(t, "tenant_uuid")
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	res := f.do(req{method: "DELETE", path: "/tenancy/stats"}).expect(t, http.StatusMethodNotAllowed)
	if allow := res.header.Get("Allow"); allow != "GET, HEAD" {
		t.Fatalf("Allow %q", allow)
	}
	res = f.do(req{method: "PATCH", path: "/tenancy/tenants/0198a0c0-0000-7000-8000-000000000000"}).expect(t, http.StatusMethodNotAllowed)
	if allow := res.header.Get("Allow"); allow != "GET, PUT, DELETE, HEAD" {
		t.Fatalf("Allow %q", allow)
	}
	f.do(req{method: "GET", path: "/tenancy/nothing-here"}).expect(t, http.StatusNotFound)
	f.do(req{method: "GET", path: "/tenancy/tenants/"}).expect(t, http.StatusNotFound)
	f.do(req{method: "GET", path: "/elsewhere"}).expect(t, http.StatusNotFound)
	// Without a key, unknown paths are 401 like every other.
	f.do(req{method: "GET", path: "/tenancy/nothing-here", key: "-"}).expect(t, http.StatusUnauthorized)
}
