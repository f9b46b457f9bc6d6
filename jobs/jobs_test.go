package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/jobs"
)

// awaitTimeout bounds every wait for River; jobs normally finish in
// milliseconds.
const awaitTimeout = 15 * time.Second

// noteArgs asks for a row in the tenant's notes table; Want is the tenant
// the enqueuer meant.
type noteArgs struct {
	Want string `json:"want"`
	N    int    `json:"n"`
}

func (noteArgs) Kind() string { return "note" }

// noteWorker writes a note into the current tenant's database.
type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	ran atomic.Int64
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	w.ran.Add(1)
	t, ok := tenancy.FromContext(ctx)
	if !ok {
		return river.JobCancel(errors.New("no tenant in the job's context"))
	}
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO notes (tenant, want, n) VALUES (?, ?, ?)`, t.UUID, job.Args.Want, job.Args.N)
	return err
}

// env is a Manager on a temporary directory and a jobs client on a
// separate SQLite file, with the client's Bootstrapper registered.
type env struct {
	mgr    *tenancy.Manager
	jobs   *jobs.Client
	notes  *noteWorker
	events <-chan *river.Event
}

// templateDB is a jobs database River's migrations already ran on, copied
// for each test: the migrations are the slowest part of a test under -race.
var templateDB string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jobs-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	templateDB = filepath.Join(dir, "jobs.sqlite")
	ctx := context.Background()
	db, err := jobs.OpenSQLite(ctx, templateDB)
	if err == nil {
		err = jobs.Migrate(ctx, db)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// jobsDB opens a copy of templateDB in dir, closed when the test ends.
func jobsDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	data, err := os.ReadFile(templateDB)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jobs.sqlite")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := jobs.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// envOptions adjust newEnv.
type envOptions struct {
	register  func(*river.Workers)
	wrapStore func(tenancy.Store) tenancy.Store
	// pool runs the jobs on PostgreSQL instead of a SQLite file.
	pool *pgxpool.Pool
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mgr, _ := testenv.NewManager(t, dir, &testenv.ManagerConfig{WrapStore: opts.wrapStore})

	db := jobsDB(t, dir)
	e := &env{mgr: mgr, notes: &noteWorker{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, e.notes)
	if opts.register != nil {
		opts.register(workers)
	}
	cfg := &jobs.Config{
		Manager: mgr,
		DB:      db,
		Workers: workers,
		Logger:  slog.New(slog.DiscardHandler),
		River:   &river.Config{TestOnly: true},
	}
	if opts.pool != nil {
		cfg.DB, cfg.Pool = nil, opts.pool
	}
	var err error
	e.jobs, err = jobs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mgr.Use(e.jobs.Bootstrapper())
	if rc := e.jobs.River(); rc != nil {
		events, cancel := rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
		t.Cleanup(cancel)
		e.events = events
	}
	return e
}

// start starts the jobs client; it is stopped when the test ends, before
// the Manager and the databases close.
func (e *env) start(t *testing.T) {
	t.Helper()
	if err := e.jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
		defer cancel()
		if err := e.jobs.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// tenant creates a tenant with a notes table in its database.
func (e *env) tenant(t *testing.T, name string) *tenancy.Tenant {
	t.Helper()
	ctx := context.Background()
	tn, err := e.mgr.Create(ctx, tenancy.CreateRequest{Name: name, Domain: strings.ToLower(strings.ReplaceAll(name, " ", "-")) + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = e.mgr.Run(ctx, tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, `CREATE TABLE notes (tenant TEXT NOT NULL, want TEXT NOT NULL, n INTEGER NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// notes returns the (tenant, want) pairs in tn's notes table.
func (e *env) notesOf(t *testing.T, tn *tenancy.Tenant) [][2]string {
	t.Helper()
	var rows [][2]string
	err := e.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		rs, err := db.QueryContext(ctx, `SELECT tenant, want FROM notes ORDER BY n`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var r [2]string
			if err := rs.Scan(&r[0], &r[1]); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// await returns the next n job events, failing the test at the deadline.
func (e *env) await(t *testing.T, n int) []*river.Event {
	t.Helper()
	deadline := time.NewTimer(awaitTimeout)
	defer deadline.Stop()
	var got []*river.Event
	for len(got) < n {
		select {
		case ev, ok := <-e.events:
			if !ok {
				t.Fatalf("the subscription closed after %d job events, want %d", len(got), n)
			}
			got = append(got, ev)
		case <-deadline.C:
			t.Fatalf("got %d job events after %s, want %d", len(got), awaitTimeout, n)
		}
	}
	return got
}

// enqueueAs enqueues args the way tenant code does: tenancy.Enqueue inside
// Manager.Run.
func (e *env) enqueueAs(t *testing.T, tn *tenancy.Tenant, args tenancy.JobArgs) {
	t.Helper()
	err := e.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		return tenancy.Enqueue(ctx, args)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lastError(job *rivertype.JobRow) string {
	if len(job.Errors) == 0 {
		return ""
	}
	return job.Errors[len(job.Errors)-1].Error
}

func TestJobRunsInTenantContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	acme := e.tenant(t, "Acme")
	e.start(t)

	e.enqueueAs(t, acme, noteArgs{Want: acme.UUID, N: 1})
	ev := e.await(t, 1)[0]
	if ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("event %s (%s), want job_completed", ev.Kind, lastError(ev.Job))
	}
	if got := string(ev.Job.Metadata); !strings.Contains(got, `"tenant_uuid":"`+acme.UUID+`"`) {
		t.Errorf("job metadata %s lacks the tenant uuid", got)
	}
	notes := e.notesOf(t, acme)
	if len(notes) != 1 || notes[0] != [2]string{acme.UUID, acme.UUID} {
		t.Fatalf("notes = %v, want one note written as %s", notes, acme.UUID)
	}
	if s := e.jobs.Stats(); s.Completed != 1 || s.Failed != 0 || s.Refused != 0 || s.Running != 0 {
		t.Errorf("stats = %+v, want one completed", s)
	}
}

// chainArgs enqueues a note from inside a job, through tenancy.Enqueue.
type chainArgs struct{}

func (chainArgs) Kind() string { return "chain" }

func TestJobEnqueuesForItsOwnTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{register: func(w *river.Workers) {
		river.AddWorker(w, river.WorkFunc(func(ctx context.Context, job *river.Job[chainArgs]) error {
			tn, err := tenancy.MustFromContext(ctx)
			if err != nil {
				return err
			}
			return tenancy.Enqueue(ctx, noteArgs{Want: tn.UUID, N: 7})
		}))
	}})
	acme := e.tenant(t, "Acme")
	e.start(t)

	e.enqueueAs(t, acme, chainArgs{})
	for _, ev := range e.await(t, 2) {
		if ev.Kind != river.EventKindJobCompleted {
			t.Fatalf("%s job: event %s (%s), want job_completed", ev.Job.Kind, ev.Kind, lastError(ev.Job))
		}
	}
	if notes := e.notesOf(t, acme); len(notes) != 1 || notes[0] != [2]string{acme.UUID, acme.UUID} {
		t.Fatalf("notes = %v, want the chained note", notes)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	const tenants, perTenant = 20, 3
	e := newEnv(t, envOptions{})
	ts := make([]*tenancy.Tenant, tenants)
	for i := range ts {
		ts[i] = e.tenant(t, fmt.Sprintf("Tenant %02d", i))
	}
	e.start(t)

	var wg sync.WaitGroup
	errs := make(chan error, tenants*perTenant)
	for _, tn := range ts {
		for n := range perTenant {
			wg.Go(func() {
				errs <- e.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
					return tenancy.Enqueue(ctx, noteArgs{Want: tn.UUID, N: n})
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range e.await(t, tenants*perTenant) {
		if ev.Kind != river.EventKindJobCompleted {
			t.Fatalf("event %s (%s), want job_completed", ev.Kind, lastError(ev.Job))
		}
	}
	for _, tn := range ts {
		notes := e.notesOf(t, tn)
		if len(notes) != perTenant {
			t.Errorf("%s holds %d notes, want %d", tn.Name, len(notes), perTenant)
		}
		for _, n := range notes {
			if n != [2]string{tn.UUID, tn.UUID} {
				t.Errorf("%s (%s) holds a note written as %s for %s", tn.Name, tn.UUID, n[0], n[1])
			}
		}
	}
	if s := e.jobs.Stats(); s.Completed != tenants*perTenant {
		t.Errorf("stats = %+v, want %d completed", s, tenants*perTenant)
	}
}

// assertRefused checks that every event is a cancellation by the tenant
// gate and that no note worker body ran.
func assertRefused(t *testing.T, e *env, events []*river.Event) {
	t.Helper()
	for _, ev := range events {
		if ev.Kind != river.EventKindJobCancelled {
			t.Errorf("event %s (%s), want job_cancelled", ev.Kind, lastError(ev.Job))
			continue
		}
		if ev.Job.State != rivertype.JobStateCancelled {
			t.Errorf("job state %s, want cancelled", ev.Job.State)
		}
		if msg := lastError(ev.Job); !strings.Contains(msg, jobs.ErrTenantRefused.Error()) {
			t.Errorf("job error %q does not say %q", msg, jobs.ErrTenantRefused)
		}
	}
	if n := e.notes.ran.Load(); n != 0 {
		t.Errorf("the worker ran %d times for refused jobs", n)
	}
	if s := e.jobs.Stats(); s.Refused != uint64(len(events)) || s.Completed != 0 {
		t.Errorf("stats = %+v, want %d refused", s, len(events))
	}
}

func TestRefusesInactiveTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	statuses := []tenancy.Status{tenancy.StatusBlocked, tenancy.StatusSuspended, tenancy.StatusInactive}
	for _, st := range statuses {
		tn := e.tenant(t, "Tenant "+string(st))
		if _, err := e.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: st, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := e.jobs.Enqueue(ctx, tn, noteArgs{Want: tn.UUID}); err != nil {
			t.Fatal(err)
		}
	}
	e.start(t)
	assertRefused(t, e, e.await(t, len(statuses)))
}

func TestRefusesDeletedTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	gone := e.tenant(t, "Gone")
	e.enqueueAs(t, gone, noteArgs{Want: gone.UUID})
	if _, err := e.mgr.Delete(ctx, gone.UUID); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	assertRefused(t, e, e.await(t, 1))
}

// lifecycleStore reports the tenants it is told about in a lifecycle
// state, as the catalog does while they are created or deleted.
type lifecycleStore struct {
	tenancy.Store
	mu    sync.Mutex
	state map[string]tenancy.Status
}

func (s *lifecycleStore) TenantByUUID(ctx context.Context, id string) (*tenancy.Tenant, error) {
	t, err := s.Store.TenantByUUID(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.state[id]; ok && err == nil {
		t.Status = st
	}
	return t, err
}

func TestRefusesTenantsBeingCreatedOrDeleted(t *testing.T) {
	t.Parallel()
	ls := &lifecycleStore{state: map[string]tenancy.Status{}}
	e := newEnv(t, envOptions{wrapStore: func(s tenancy.Store) tenancy.Store {
		ls.Store = s
		return ls
	}})
	for _, st := range tenancy.LifecycleStatuses {
		tn := e.tenant(t, "Tenant "+string(st))
		e.enqueueAs(t, tn, noteArgs{Want: tn.UUID})
		ls.mu.Lock()
		ls.state[tn.UUID] = st
		ls.mu.Unlock()
	}
	e.start(t)
	events := e.await(t, len(tenancy.LifecycleStatuses))
	assertRefused(t, e, events)
	for _, ev := range events {
		// Refused like the job of a deleted tenant.
		if msg := lastError(ev.Job); !strings.Contains(msg, tenancy.ErrNotFound.Error()) {
			t.Errorf("job error %q, want it to say %q", msg, tenancy.ErrNotFound)
		}
	}
}

func TestRefusesJobsWithoutTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	acme := e.tenant(t, "Acme")
	// Straight into River, bypassing Enqueue: no metadata, a domain instead
	// of a uuid (Manager.Get would resolve it), a value of the wrong type.
	for _, md := range []string{"", `{"tenant_uuid":"` + acme.PrimaryDomain() + `"}`, `{"tenant_uuid":42}`} {
		if _, err := e.jobs.River().Insert(ctx, noteArgs{Want: "nobody"}, &river.InsertOpts{Metadata: []byte(md)}); err != nil {
			t.Fatal(err)
		}
	}
	e.start(t)
	assertRefused(t, e, e.await(t, 3))
}

// flakyStore fails tenant lookups by uuid while down is set.
type flakyStore struct {
	tenancy.Store
	down atomic.Bool
}

var errCatalogDown = errors.New("catalog down")

func (s *flakyStore) TenantByUUID(ctx context.Context, id string) (*tenancy.Tenant, error) {
	if s.down.Load() {
		return nil, errCatalogDown
	}
	return s.Store.TenantByUUID(ctx, id)
}

func TestCatalogFailureIsRetriedNotRefused(t *testing.T) {
	t.Parallel()
	flaky := &flakyStore{}
	e := newEnv(t, envOptions{wrapStore: func(s tenancy.Store) tenancy.Store {
		flaky.Store = s
		return flaky
	}})
	acme := e.tenant(t, "Acme")
	flaky.down.Store(true)
	e.enqueueAs(t, acme, noteArgs{Want: acme.UUID})
	e.start(t)
	ev := e.await(t, 1)[0]
	// A first retry due within seconds is made available at once.
	if st := ev.Job.State; ev.Kind != river.EventKindJobFailed || (st != rivertype.JobStateRetryable && st != rivertype.JobStateAvailable) {
		t.Fatalf("event %s, job %s, want job_failed and the job to be retried", ev.Kind, st)
	}
	if msg := lastError(ev.Job); !strings.Contains(msg, errCatalogDown.Error()) || strings.Contains(msg, jobs.ErrTenantRefused.Error()) {
		t.Errorf("job error %q, want the catalog's error and no refusal", msg)
	}
	if n := e.notes.ran.Load(); n != 0 {
		t.Errorf("the worker ran %d times without its tenant", n)
	}
	if s := e.jobs.Stats(); s.Failed != 1 || s.Refused != 0 {
		t.Errorf("stats = %+v, want one failed", s)
	}
}

func TestMaintenanceDoesNotStopJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	acme := e.tenant(t, "Acme")
	if _, err := e.mgr.SetMaintenance(ctx, acme.UUID, true, "upgrading"); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.enqueueAs(t, acme, noteArgs{Want: acme.UUID})
	if ev := e.await(t, 1)[0]; ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("event %s (%s), want job_completed", ev.Kind, lastError(ev.Job))
	}
}

func TestEnqueueWithoutTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	if err := tenancy.Enqueue(ctx, noteArgs{}); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("tenancy.Enqueue outside a tenant = %v, want ErrNoTenant", err)
	}
	if err := e.jobs.Enqueue(ctx, nil, noteArgs{}); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Enqueue(nil tenant) = %v, want ErrNoTenant", err)
	}
}

// unknownArgs has no registered worker.
type unknownArgs struct{}

func (unknownArgs) Kind() string { return "unknown" }

// badArgs cannot be encoded as JSON.
type badArgs struct{ C chan int }

func (badArgs) Kind() string { return "bad" }

func TestEnqueueInvalidJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	acme := e.tenant(t, "Acme")
	var nilArgs *noteArgs
	for name, args := range map[string]tenancy.JobArgs{
		"nil":           nil,
		"nil pointer":   nilArgs,
		"unknown kind":  unknownArgs{},
		"not encodable": badArgs{C: make(chan int)},
	} {
		err := e.mgr.Run(ctx, acme, func(ctx context.Context) error { return tenancy.Enqueue(ctx, args) })
		if !errors.Is(err, jobs.ErrInvalidJob) {
			t.Errorf("%s: Enqueue = %v, want ErrInvalidJob", name, err)
		}
	}
	_, err := e.jobs.Insert(ctx, acme, noteArgs{}, &river.InsertOpts{Metadata: []byte(`[1]`)})
	if !errors.Is(err, jobs.ErrInvalidJob) {
		t.Errorf("Insert with array metadata = %v, want ErrInvalidJob", err)
	}
}

func TestInsertKeepsMetadataAndSetsTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	acme := e.tenant(t, "Acme")
	opts := &river.InsertOpts{Metadata: []byte(`{"trace":"abc","tenant_uuid":"00000000-0000-0000-0000-000000000000"}`)}
	res, err := e.jobs.Insert(ctx, acme, noteArgs{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	md := string(res.Job.Metadata)
	if !strings.Contains(md, `"trace":"abc"`) || !strings.Contains(md, `"tenant_uuid":"`+acme.UUID+`"`) {
		t.Errorf("metadata = %s, want the trace kept and tenant_uuid %s", md, acme.UUID)
	}
	if strings.Contains(string(opts.Metadata), acme.UUID) {
		t.Error("Insert modified the caller's options")
	}
}

// blockArgs runs a job that waits for the test.
type blockArgs struct{}

func (blockArgs) Kind() string { return "block" }

func TestStopWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	e := newEnv(t, envOptions{register: func(w *river.Workers) {
		river.AddWorker(w, river.WorkFunc(func(ctx context.Context, job *river.Job[blockArgs]) error {
			close(started)
			<-release
			finished.Store(true)
			return nil
		}))
	}})
	acme := e.tenant(t, "Acme")
	if err := e.jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.enqueueAs(t, acme, blockArgs{})
	select {
	case <-started:
	case <-time.After(awaitTimeout):
		t.Fatal("the job did not start")
	}

	// The job is blocked, so Stop cannot finish whatever the deadline.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.jobs.Stop(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a job running = %v, want DeadlineExceeded", err)
	}

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
		defer cancel()
		err := e.jobs.Stop(ctx)
		if err == nil && !finished.Load() {
			err = errors.New("Stop returned before the job finished")
		}
		stopped <- err
	}()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	ev := e.await(t, 1)[0]
	if ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("event %s (%s), want job_completed", ev.Kind, lastError(ev.Job))
	}
	job, err := e.jobs.River().JobGet(context.Background(), ev.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != rivertype.JobStateCompleted {
		t.Errorf("after Stop the job is %s, want completed", job.State)
	}
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := jobs.OpenSQLite(ctx, filepath.Join(t.TempDir(), "jobs.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, cfg := range map[string]*jobs.Config{
		"nil":                  nil,
		"no manager":           {DB: db, Workers: river.NewWorkers()},
		"no db":                {Manager: &tenancy.Manager{}, Workers: river.NewWorkers()},
		"no workers":           {Manager: &tenancy.Manager{}, DB: db},
		"negative concurrency": {Manager: &tenancy.Manager{}, DB: db, Workers: river.NewWorkers(), Concurrency: -1},
	} {
		if _, err := jobs.Open(ctx, cfg); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// TestPostgres runs jobs on River's pgx driver against a real PostgreSQL:
// the tenant travels with the job there too.
func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := newEnv(t, envOptions{pool: pool})
	e.start(t)
	a, b := e.tenant(t, "Pg A"), e.tenant(t, "Pg B")
	e.enqueueAs(t, a, noteArgs{Want: a.UUID, N: 1})
	e.enqueueAs(t, b, noteArgs{Want: b.UUID, N: 1})
	for _, tn := range []*tenancy.Tenant{a, b} {
		var rows [][2]string
		testwait.Within(t, awaitTimeout, "tenant "+tn.Name+"'s job on PostgreSQL", func() bool {
			rows = e.notesOf(t, tn)
			return len(rows) == 1
		})
		if rows[0][0] != tn.UUID || rows[0][1] != tn.UUID {
			t.Fatalf("tenant %s got note %v", tn.Name, rows[0])
		}
	}
}
