package admin

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// gatedMigration is a Go migration (version 900) that waits until the
// gate opens, so a test can hold a fleet run in the middle.
func gatedMigration(gate <-chan struct{}) *goose.Migration {
	up := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	down := &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }}
	return goose.NewGoMigration(900, up, down)
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data map[string]any
}

// readEvents reads the run's event stream until the done event (or
// failure) and returns every event.
func (f *dashFixture) readEvents(t *testing.T, id string) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/admin/migrations/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var (
		events []sseEvent
		ev     sseEvent
	)
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		case line == "" && ev.name != "":
			events = append(events, ev)
			if ev.name == "done" {
				return events
			}
			ev = sseEvent{}
		}
	}
	t.Fatalf("the stream ended without a done event (%v): %v", sc.Err(), events)
	return nil
}

// waitIdle waits until no fleet run is running.
func (f *dashFixture) waitIdle(t testing.TB) {
	if !testwait.Poll(60*time.Second, func() bool { _, running := f.admin.fleet.list(); return running == nil }) {
		t.Error("a fleet run is still running")
	}
}

func TestFleetMigration(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	f := newDashFixture(t, gatedMigration(gate))
	t.Cleanup(func() { release(); f.waitIdle(t) })
	ctx := context.Background()
	var tenants []*tenancy.Tenant
	for _, d := range []string{"a.test", "b.test", "c.test"} {
		tenants = append(tenants, f.create(strings.ToUpper(d[:1]), d, func(r *tenancy.CreateRequest) { r.Migrate = false }))
	}
	_, latest := f.mgr.Databases().Migrations()

	res := f.get("/admin/migrations")
	if res.code != http.StatusOK {
		t.Fatalf("migrations: %d", res.code)
	}
	mustContain(t, res.body, `id="migrations-count">3<`, `id="migrations-latest">900<`, `id="fleet-tenants">3<`, `id="fleet-never">3<`,
		`id="migrate-form"`, `name="retry_failed"`, `name="concurrency"`)

	res = f.post("/admin/migrations", url.Values{"concurrency": {"2"}})
	if res.code != http.StatusSeeOther || res.location != "/admin/migrations/runs/1" {
		t.Fatalf("start: %d to %q\n%s", res.code, res.location, clip(res.body))
	}
	run := f.get(res.location)
	if run.code != http.StatusOK {
		t.Fatalf("run page: %d", run.code)
	}
	mustContain(t, run.body, "Started migrating the fleet.", `id="migrate-progress"`, `id="migrate-done">0<`, `id="migrate-failed">0<`,
		`data-state="running"`, `data-events="/admin/migrations/runs/1/events"`, `src="/admin/static/migrations.js"`, "concurrency 2")

	// One run at a time.
	res = f.post("/admin/migrations", url.Values{})
	if res.code != http.StatusConflict {
		t.Fatalf("second start: %d, want 409", res.code)
	}
	mustContain(t, res.body, "A fleet migration is already running", `href="/admin/migrations/runs/1"`)
	if runs, _ := f.admin.fleet.list(); len(runs) != 1 {
		t.Fatalf("%d runs after a refused start", len(runs))
	}

	release()
	events := f.readEvents(t, "1")
	last := events[len(events)-1]
	if last.name != "done" || last.data["total"] != 3.0 || last.data["succeeded"] != 3.0 || last.data["failed"] != 0.0 || last.data["done"] != 3.0 {
		t.Fatalf("done event: %+v (all %+v)", last, events)
	}
	prev := -1.0
	for _, ev := range events[:len(events)-1] {
		if ev.name != "progress" {
			t.Fatalf("event %q before done", ev.name)
		}
		done := ev.data["done"].(float64)
		if done < prev || done > 3 {
			t.Fatalf("progress went from %v to %v", prev, done)
		}
		prev = done
	}
	for _, ten := range tenants {
		st, err := f.mgr.MigrationStatus(ctx, ten)
		if err != nil || len(st) != 3 || !st[2].Applied || st[2].Version != latest {
			t.Fatalf("%s after the run: %+v, %v", ten.Name, st, err)
		}
	}

	run = f.get("/admin/migrations/runs/1")
	mustContain(t, run.body, `data-state="finished"`, `id="migrate-done">3<`, `id="migrate-total">3<`, `id="migrate-succeeded">3<`,
		`id="migrate-progress" value="3" max="3"`, "Finished in")
	// A finished run's stream answers at once.
	if again := f.readEvents(t, "1"); again[len(again)-1].data["succeeded"] != 3.0 {
		t.Fatalf("events of a finished run: %+v", again)
	}
	page := f.get("/admin/migrations")
	mustContain(t, page.body, `id="fleet-succeeded">3<`, `id="fleet-behind">0<`, `href="/admin/migrations/runs/1"`)
	entries, err := cpOf(f.mgr).Audit(ctx, controlplane.AuditFilter{Action: "fleet.migrate"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "admin:"+dashEmail || entries[0].Outcome != tenancy.StateSucceeded {
		t.Fatalf("audit of the run: %+v, %v", entries, err)
	}
}

func TestFleetMigrationFailuresAndRetry(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	t.Cleanup(func() { f.waitIdle(t) })
	ctx := context.Background()
	f.create("Good", "good.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	bad := f.create("Bad <b>", "bad.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	f.mgr.Databases().Forget(bad)
	files, _ := filepath.Glob(filepath.Join(f.dir, "tenants", bad.DatabaseName+".*"))
	for _, p := range files {
		os.Remove(p)
	}

	res := f.post("/admin/migrations", url.Values{})
	if res.code != http.StatusSeeOther {
		t.Fatalf("start: %d", res.code)
	}
	events := f.readEvents(t, "1")
	if d := events[len(events)-1].data; d["failed"] != 1.0 || d["succeeded"] != 1.0 {
		t.Fatalf("done: %+v", d)
	}
	run := f.get("/admin/migrations/runs/1")
	mustContain(t, run.body, `id="run-failures"`, "Bad &lt;b&gt;", bad.DatabaseName, `id="migrate-failed">1<`)
	page := f.get("/admin/migrations")
	mustContain(t, page.body, `id="fleet-failed">1<`, `id="failing"`, `data-uuid="`+bad.UUID+`"`)

	// Retrying the failed tenants only runs the one.
	res = f.post("/admin/migrations", url.Values{"retry_failed": {"1"}, "concurrency": {"1"}})
	if res.code != http.StatusSeeOther || res.location != "/admin/migrations/runs/2" {
		t.Fatalf("retry: %d to %q", res.code, res.location)
	}
	events = f.readEvents(t, "2")
	if d := events[len(events)-1].data; d["total"] != 1.0 || d["failed"] != 1.0 {
		t.Fatalf("retry done: %+v", d)
	}
	mustContain(t, f.get("/admin/migrations/runs/2").body, "failed tenants only, concurrency 1")

	for _, form := range []url.Values{{"concurrency": {"0"}}, {"concurrency": {"many"}}, {"concurrency": {"100000"}}, {"retry_failed": {"perhaps"}}} {
		res := f.post("/admin/migrations", form)
		if res.code != http.StatusUnprocessableEntity {
			t.Errorf("start with %v: %d, want 422", form, res.code)
			continue
		}
		mustContain(t, res.body, `-error"`, `id="migrate-form"`)
	}
	for _, p := range []string{"/admin/migrations/runs/99", "/admin/migrations/runs/99/events", "/admin/migrations/runs/%3Cx%3E"} {
		if res := f.get(p); res.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.code)
		}
	}
	if runs, _ := f.admin.fleet.list(); len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	_ = ctx
}

func TestFleetRunsKeepTheLastTen(t *testing.T) {
	t.Parallel()
	f := newFleetRuns(time.Now)
	for i := range 12 {
		run, running := f.start("a@example.com", runOptions{})
		if running != nil || run == nil {
			t.Fatalf("start %d refused", i)
		}
		if _, again := f.start("b@example.com", runOptions{}); again != run {
			t.Fatalf("start %d while running was not refused", i)
		}
		f.finish(run)
	}
	runs, running := f.list()
	if running != nil || len(runs) != keptRuns || runs[0].ID != "12" || runs[len(runs)-1].ID != "3" {
		t.Fatalf("runs: %d, newest %s, oldest %s", len(runs), runs[0].ID, runs[len(runs)-1].ID)
	}
	if f.get("2") != nil || f.get("3") == nil {
		t.Fatal("the oldest runs were not the ones forgotten")
	}
}

func TestCloseStopsAFleetRun(t *testing.T) {
	t.Parallel()
	// The migration says when the first tenant reaches it, then waits
	// for a gate that never opens, or for its context to end.
	entered := make(chan struct{}, 10)
	up := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	down := &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }}
	f := newDashFixture(t, goose.NewGoMigration(900, up, down))
	ctx := context.Background()
	for _, d := range []string{"a.test", "b.test", "c.test"} {
		f.create(strings.ToUpper(d[:1]), d, func(r *tenancy.CreateRequest) { r.Migrate = false })
	}
	if res := f.post("/admin/migrations", url.Values{"concurrency": {"1"}}); res.code != http.StatusSeeOther {
		t.Fatalf("start: %d", res.code)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the run never reached the migration")
	}

	closed := make(chan struct{})
	go func() {
		f.admin.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: the run was not stopped")
	}
	// Close returned after the run ended, not before.
	if _, running := f.admin.fleet.list(); running != nil {
		t.Fatal("Close returned while the run was running")
	}
	st := f.admin.fleet.get("1").state()
	if st.Running || st.Summary.Failed != 1 || st.Summary.Skipped != 2 || st.Summary.Succeeded != 0 {
		t.Fatalf("run after Close: %+v", st.Summary)
	}
	if !strings.Contains(st.Summary.Error, "shutdown") {
		t.Fatalf("run's message: %q", st.Summary.Error)
	}
	if len(entered) != 0 {
		t.Fatalf("%d more tenants were started after Close", len(entered))
	}
	// The run kept the admin as the audit log's actor.
	entries, err := cpOf(f.mgr).Audit(ctx, controlplane.AuditFilter{Action: "fleet.migrate"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "admin:"+dashEmail || entries[0].Outcome != tenancy.StateFailed {
		t.Fatalf("audit of the run: %+v, %v", entries, err)
	}
	// No run starts after Close; a second Close returns at once.
	if res := f.post("/admin/migrations", url.Values{}); res.code != http.StatusServiceUnavailable {
		t.Fatalf("start after Close: %d, want 503", res.code)
	}
	f.admin.Close()
	if runs, _ := f.admin.fleet.list(); len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
}

// deadlineWriter is a ResponseWriter that records, for each write and
// flush, how far ahead the write deadline was.
type deadlineWriter struct {
	header   http.Header
	deadline time.Time
	body     strings.Builder
	ahead    []time.Duration // one per Write and Flush
	writes   atomic.Int64    // Writes so far, read while the stream runs
}

func (w *deadlineWriter) Header() http.Header { return w.header }
func (w *deadlineWriter) WriteHeader(int)     {}
func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.ahead = append(w.ahead, time.Until(w.deadline))
	defer w.writes.Add(1)
	return w.body.Write(b)
}
func (w *deadlineWriter) FlushError() error {
	w.ahead = append(w.ahead, time.Until(w.deadline))
	return nil
}
func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.deadline = t
	return nil
}

func TestRunEventsSetAWriteDeadlinePerWrite(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	run, _ := f.admin.fleet.start(dashEmail, runOptions{})
	w := &deadlineWriter{header: http.Header{}}
	req, err := http.NewRequest(http.MethodGet, "/admin/migrations/runs/"+run.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetPathValue("id", run.ID)
	served := make(chan struct{})
	go func() {
		defer close(served)
		f.admin.runEvents(w, req)
	}()
	// Each change is made after the stream has written what it knew, so
	// that it is waiting for the change.
	wrote := func(n int64) func() bool { return func() bool { return w.writes.Load() >= n } }
	testwait.Eventually(t, "the stream's first event", wrote(1))
	n := w.writes.Load()
	run.update(func() { run.progress = runProgress{Done: 1, Total: 2, Succeeded: 1} })
	testwait.Eventually(t, "the stream's progress event", wrote(n+1))
	run.update(func() { run.progress = runProgress{Done: 2, Total: 2, Succeeded: 2}; run.finished = time.Now() })
	f.admin.fleet.finish(run)
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with the run")
	}
	if len(w.ahead) < 4 {
		t.Fatalf("%d writes and flushes, want at least 4:\n%s", len(w.ahead), w.body.String())
	}
	for i, d := range w.ahead {
		if d <= 0 || d > sseWriteTimeout {
			t.Fatalf("write %d had its deadline %v ahead, want within (0, %v]", i, d, sseWriteTimeout)
		}
	}
	body := w.body.String()
	mustContain(t, body, "event: progress", "event: done", `"succeeded":2`)
	mustNotContain(t, body, "current")
}
