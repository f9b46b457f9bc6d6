package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

// keptRuns is how many fleet runs the dashboard remembers.
const keptRuns = 10

// maxConcurrency bounds the concurrency a fleet run may be started with.
const maxConcurrency = 256

// sseHeartbeat is how often an idle event stream sends a comment, so
// proxies keep it open.
const sseHeartbeat = 15 * time.Second

// sseWriteTimeout bounds each write to an event stream, so a client that
// stops reading cannot hold the handler.
const sseWriteTimeout = 10 * time.Second

// shuttingDown is the answer to a fleet run started after Close.
const shuttingDown = "The dashboard is shutting down; start the migration again once it is back."

// registerMigrationRoutes adds the fleet migrations pages.
func (a *Admin) registerMigrationRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/migrations", a.signedIn(a.migrationsPage))
	mux.Handle("POST /admin/migrations", a.signedIn(a.startMigrations))
	mux.Handle("GET /admin/migrations/runs/{id}", a.signedIn(a.runPage))
	mux.Handle("GET /admin/migrations/runs/{id}/events", a.signedIn(a.runEvents))
}

// fleetRuns tracks the fleet migrations started from the dashboard: at
// most one runs at a time, and the last keptRuns are remembered (in
// memory, for this process only).
type fleetRuns struct {
	mu      sync.Mutex
	next    int
	runs    []*fleetRun // oldest first
	running *fleetRun
	// now is the clock of start times (the dashboard's Config.Now).
	now func() time.Time
}

func newFleetRuns(now func() time.Time) *fleetRuns { return &fleetRuns{now: now} }

// start registers a new run unless one is running, which it returns
// instead.
func (f *fleetRuns) start(by string, opts runOptions) (run *fleetRun, running *fleetRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running != nil {
		return nil, f.running
	}
	f.next++
	run = &fleetRun{ID: strconv.Itoa(f.next), By: by, Options: opts, StartedAt: f.now(), changed: make(chan struct{})}
	f.running = run
	f.runs = append(f.runs, run)
	if len(f.runs) > keptRuns {
		f.runs = slices.Delete(f.runs, 0, len(f.runs)-keptRuns)
	}
	return run, nil
}

// finish marks run as no longer running.
func (f *fleetRuns) finish(run *fleetRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == run {
		f.running = nil
	}
}

// get returns a remembered run.
func (f *fleetRuns) get(id string) *fleetRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.runs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// list returns the remembered runs, newest first, and the running one.
func (f *fleetRuns) list() ([]*fleetRun, *fleetRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.runs)
	slices.Reverse(out)
	return out, f.running
}

// runOptions are the options a run was started with.
type runOptions struct {
	RetryFailed bool
	// Concurrency is 0 for the Manager's default.
	Concurrency int
}

// fleetRun is one fleet migration started from the dashboard.
type fleetRun struct {
	ID        string
	By        string
	Options   runOptions
	StartedAt time.Time

	mu       sync.Mutex
	progress runProgress
	report   *tenancy.FleetReport
	err      string
	finished time.Time
	// changed is closed and replaced on every change, waking the event
	// streams.
	changed chan struct{}
}

// runProgress is what a progress event carries.
type runProgress struct {
	Done      int `json:"done"`
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// runSummary is what the done event carries.
type runSummary struct {
	runProgress
	Skipped    int    `json:"skipped"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// runState is a consistent snapshot of a run.
type runState struct {
	ID          string
	By          string
	Options     runOptions
	StartedAt   time.Time
	FinishedAt  time.Time
	Running     bool
	Progress    runProgress
	Summary     runSummary
	Failures    []*tenancy.Outcome
	MoreFailing int
	changed     <-chan struct{}
}

// maxFailuresShown bounds the failed tenants listed on a run's page.
const maxFailuresShown = 100

func (run *fleetRun) state() runState {
	run.mu.Lock()
	defer run.mu.Unlock()
	s := runState{ID: run.ID, By: run.By, Options: run.Options, StartedAt: run.StartedAt, FinishedAt: run.finished,
		Running: run.finished.IsZero(), Progress: run.progress, changed: run.changed}
	s.Summary = runSummary{runProgress: run.progress, Error: run.err}
	if run.report != nil {
		rep := run.report
		s.Summary.Succeeded, s.Summary.Failed, s.Summary.Skipped = rep.Succeeded, rep.Failed, rep.Skipped
		s.Summary.Total = len(rep.Outcomes)
		s.Summary.Done = rep.Succeeded + rep.Failed
		s.Summary.DurationMS = rep.Duration.Milliseconds()
		for _, o := range rep.Outcomes {
			if o.State != tenancy.StateFailed {
				continue
			}
			if len(s.Failures) == maxFailuresShown {
				s.MoreFailing++
				continue
			}
			s.Failures = append(s.Failures, o)
		}
	} else if !run.finished.IsZero() {
		s.Summary.DurationMS = run.finished.Sub(run.StartedAt).Milliseconds()
	}
	return s
}

// update changes the run under its lock and wakes the event streams.
func (run *fleetRun) update(fn func()) {
	run.mu.Lock()
	defer run.mu.Unlock()
	fn()
	close(run.changed)
	run.changed = make(chan struct{})
}

// execute runs the migration and records its outcome. The context
// carries the request's values (the admin stays the audit log's actor)
// and is cancelled by Close, not by the end of the request: the run
// outlives the request but not the dashboard.
func (a *Admin) execute(ctx context.Context, run *fleetRun) {
	defer a.fleet.finish(run)
	opts := tenancy.FleetOptions{
		Concurrency: run.Options.Concurrency,
		RetryFailed: run.Options.RetryFailed,
		Progress: func(p migrate.Progress) {
			run.update(func() {
				run.progress = runProgress{Done: p.Done, Total: p.Total, Failed: p.Failed, Succeeded: p.Done - p.Failed}
			})
		},
	}
	var (
		report *tenancy.FleetReport
		err    error
	)
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		report, err = a.mgr.MigrateAll(ctx, opts)
	}()
	stopped := ctx.Err() != nil
	switch {
	case stopped:
		skipped := 0
		if report != nil {
			skipped = report.Skipped
		}
		a.log.WarnContext(ctx, "admin: fleet migration stopped at shutdown", "run", run.ID, "skipped", skipped, "err", err)
	case err != nil:
		a.log.ErrorContext(ctx, "admin: fleet migration", "run", run.ID, "err", err)
	}
	run.update(func() {
		run.report = report
		switch {
		case stopped:
			run.err = "Stopped at shutdown; the tenants not yet started were skipped."
		case err == nil:
		case report != nil:
			run.err = "Some outcomes could not be recorded in the catalog; see the server log."
		default:
			run.err = "The run could not start; see the server log."
		}
		run.finished = a.cfg.Now()
	})
}

// migrationsData is the migrations page's data.
type migrationsData struct {
	Migrations int
	Latest     int64
	// Tenants counts the tenants by their last migrate outcome: never,
	// succeeded, failed; Behind counts those whose recorded version is
	// below Latest.
	Tenants, Never, Succeeded, Failed, Behind int
	Failing                                   []tenancy.TenantOperation
	MoreFailing                               int
	StatusError                               string

	Runs    []runState
	Running *runState

	// The start form.
	RetryFailed bool
	Concurrency string
	Errors      formErrors
	Error       string
}

// migrationsPage serves GET /admin/migrations.
func (a *Admin) migrationsPage(w http.ResponseWriter, r *http.Request) {
	a.renderMigrations(w, r, http.StatusOK, migrationsData{})
}

// renderMigrations renders the migrations page with the form's values
// and errors in d.
func (a *Admin) renderMigrations(w http.ResponseWriter, r *http.Request, status int, d migrationsData) {
	d.Migrations, d.Latest = a.mgr.Databases().Migrations()
	ops, err := a.mgr.OperationStatus(r.Context(), tenancy.OpMigrate)
	if err != nil {
		a.log.ErrorContext(r.Context(), "admin: migration outcomes", "err", err)
		d.StatusError = "the catalog failed; see the server log."
	}
	d.Tenants = len(ops)
	for _, op := range ops {
		switch {
		case op.Last == nil:
			d.Never++
		case op.Last.State == tenancy.StateFailed:
			d.Failed++
			if len(d.Failing) < maxFailuresShown {
				d.Failing = append(d.Failing, op)
			} else {
				d.MoreFailing++
			}
		default:
			d.Succeeded++
		}
		if op.Last != nil && op.Last.Version < d.Latest {
			d.Behind++
		}
	}
	runs, running := a.fleet.list()
	for _, run := range runs {
		d.Runs = append(d.Runs, run.state())
	}
	if running != nil {
		st := running.state()
		d.Running = &st
	}
	a.render(w, r, status, "migrations", page{Title: "Migrations", Nav: "migrations", Data: d})
}

// startMigrations serves POST /admin/migrations: it starts the Manager's
// MigrateAll in the background (one run at a time; a second start while
// one runs is 409) and sends the admin to the run's page.
func (a *Admin) startMigrations(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, maxFormBytes) {
		return
	}
	d := migrationsData{Concurrency: strings.TrimSpace(r.PostForm.Get("concurrency")), Errors: formErrors{}}
	var opts runOptions
	var err error
	if d.RetryFailed, err = formBool(r.PostForm.Get("retry_failed")); err != nil {
		d.Errors["retry_failed"] = "Retry failed only must be checked or not."
	}
	opts.RetryFailed = d.RetryFailed
	if d.Concurrency != "" {
		n, err := strconv.Atoi(d.Concurrency)
		if err != nil || n < 1 || n > maxConcurrency {
			d.Errors["concurrency"] = fmt.Sprintf("Concurrency must be a whole number from 1 to %d, or empty for the default.", maxConcurrency)
		}
		opts.Concurrency = n
	}
	if len(d.Errors) > 0 {
		a.renderMigrations(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	by := "system"
	if u := userFrom(r.Context()); u != nil {
		by = u.Email
	}
	if a.runsCtx.Err() != nil {
		a.renderError(w, r, http.StatusServiceUnavailable, shuttingDown)
		return
	}
	run, running := a.fleet.start(by, opts)
	if running != nil {
		d.Error = "A fleet migration is already running (run " + running.ID + "); wait for it to finish."
		a.renderMigrations(w, r, http.StatusConflict, d)
		return
	}
	if !a.background(r.Context(), func(ctx context.Context) { a.execute(ctx, run) }) {
		run.update(func() {
			run.err = "Not started: the dashboard is shutting down."
			run.finished = a.cfg.Now()
		})
		a.fleet.finish(run)
		a.renderError(w, r, http.StatusServiceUnavailable, shuttingDown)
		return
	}
	setFlash(w, "Started migrating the fleet.")
	http.Redirect(w, r, "/admin/migrations/runs/"+run.ID, http.StatusSeeOther)
}

// runPage serves GET /admin/migrations/runs/{id}: the run's counts as of
// now, kept live by migrations.js from the event stream.
func (a *Admin) runPage(w http.ResponseWriter, r *http.Request) {
	run := a.fleet.get(r.PathValue("id"))
	if run == nil {
		a.renderError(w, r, http.StatusNotFound, "There is no such migration run (the dashboard remembers the last 10 since it started).")
		return
	}
	a.render(w, r, http.StatusOK, "migrations_run", page{Title: "Migration run " + run.ID, Nav: "migrations", Data: run.state()})
}

// runEvents serves GET /admin/migrations/runs/{id}/events, a Server-Sent
// Events stream: "progress" after each tenant ({done, total, succeeded,
// failed}) and "done" with the summary, after which it ends. Each write
// has its own deadline (sseWriteTimeout); the stream as a whole lasts as
// long as the run.
func (a *Admin) runEvents(w http.ResponseWriter, r *http.Request) {
	run := a.fleet.get(r.PathValue("id"))
	if run == nil {
		a.renderError(w, r, http.StatusNotFound, "There is no such migration run.")
		return
	}
	rc := http.NewResponseController(w)
	// send writes and flushes one chunk of the stream; false when the
	// client is gone or did not take it within the timeout.
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	var last *runProgress
	for {
		st := run.state()
		var buf []byte
		if last == nil || st.Progress != *last {
			b, err := eventBytes("progress", st.Progress)
			if err != nil {
				return
			}
			buf = append(buf, b...)
			p := st.Progress
			last = &p
		}
		if !st.Running {
			if b, err := eventBytes("done", st.Summary); err == nil {
				buf = append(buf, b...)
			}
			send(buf)
			return
		}
		if len(buf) > 0 && !send(buf) {
			return
		}
		select {
		case <-st.changed:
		case <-heartbeat.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-a.closing:
			return
		}
	}
}

// eventBytes renders one Server-Sent Event with a JSON data line.
func eventBytes(event string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, b), nil
}
