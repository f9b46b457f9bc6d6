package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

// Fleet job states.
const (
	jobRunning   = "running"
	jobSucceeded = "succeeded"
	jobFailed    = "failed"
)

// Bounds of the job registry.
const (
	maxFinishedJobs = 100
	maxRunningJobs  = 8
	maxJobFailures  = 50 // failed tenants listed in a job's summary
)

// jobRegistry keeps the fleet jobs this process started: every running job
// and the last maxFinishedJobs finished ones.
type jobRegistry struct {
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	jobs     map[string]*job
	finished []string // ids in the order they finished
	running  int
	closed   bool

	// now is the clock of finish times.
	now func() time.Time
}

// newJobRegistry returns an empty registry whose jobs finish by now.
func newJobRegistry(now func() time.Time) *jobRegistry {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobRegistry{ctx: ctx, cancel: cancel, jobs: map[string]*job{}, now: now}
}

// job is one background fleet run.
type job struct {
	mu         sync.Mutex
	id         string
	operation  string
	state      string
	progress   jobProgress
	startedAt  time.Time
	finishedAt time.Time
	summary    *jobSummary
	// result is what a one-step job made (a backup record).
	result any
}

type jobProgress struct {
	Done   int `json:"done"`
	Total  int `json:"total"`
	Failed int `json:"failed"`
}

// jobSummary is the result of a finished job.
type jobSummary struct {
	Tenants    int          `json:"tenants"`
	Succeeded  int          `json:"succeeded"`
	Failed     int          `json:"failed"`
	Skipped    int          `json:"skipped"`
	DurationMS float64      `json:"duration_ms"`
	Failures   []jobFailure `json:"failures,omitempty"`
	// MoreFailures counts failed tenants beyond those listed.
	MoreFailures int    `json:"more_failures,omitempty"`
	Error        string `json:"error,omitempty"`
}

type jobFailure struct {
	TenantUUID string `json:"tenant_uuid"`
	Domain     string `json:"domain"`
	Error      string `json:"error"`
}

// jobView is a job's JSON.
type jobView struct {
	ID         string      `json:"id"`
	Operation  string      `json:"operation"`
	State      string      `json:"state"`
	Progress   jobProgress `json:"progress"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt *time.Time  `json:"finished_at"`
	Summary    *jobSummary `json:"summary"`
	Result     any         `json:"result,omitempty"`
}

func (j *job) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := jobView{ID: j.id, Operation: j.operation, State: j.state, Progress: j.progress, StartedAt: j.startedAt, Summary: j.summary, Result: j.result}
	if !j.finishedAt.IsZero() {
		t := j.finishedAt
		v.FinishedAt = &t
	}
	return v
}

// fleetRun runs a fleet operation, reporting progress.
type fleetRun func(ctx context.Context, progress func(migrate.Progress)) (*tenancy.FleetReport, error)

// errClosed refuses fleet jobs after Close.
var errClosed = &apiError{Status: http.StatusConflict, Message: "The API is shutting down; no new fleet jobs are started."}

// start runs fn in the background. Its context keeps the request's values
// (the actor, for the audit log) but not its cancellation; close cancels it.
func (reg *jobRegistry) start(reqCtx context.Context, operation string, now time.Time, fn fleetRun) (*job, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	j := &job{id: "job_" + hex.EncodeToString(b[:]), operation: operation, state: jobRunning, startedAt: now.UTC()}
	reg.mu.Lock()
	if reg.closed {
		reg.mu.Unlock()
		return nil, errClosed
	}
	if reg.running >= maxRunningJobs {
		reg.mu.Unlock()
		return nil, &apiError{Status: http.StatusConflict, Message: "Too many fleet jobs are running; wait for one to finish."}
	}
	reg.running++
	reg.jobs[j.id] = j
	reg.wg.Add(1)
	reg.mu.Unlock()

	ctx, cancel := context.WithCancel(context.WithoutCancel(reqCtx))
	stop := context.AfterFunc(reg.ctx, cancel)
	go func() {
		defer reg.wg.Done()
		defer cancel()
		defer stop()
		report, err := fn(ctx, func(p migrate.Progress) {
			j.mu.Lock()
			j.progress = jobProgress{Done: p.Done, Total: p.Total, Failed: p.Failed}
			j.mu.Unlock()
		})
		reg.finish(j, report, err, ctx.Err())
	}()
	return j, nil
}

// finish records a job's outcome and forgets the oldest finished jobs.
func (reg *jobRegistry) finish(j *job, report *tenancy.FleetReport, err, ctxErr error) {
	s := &jobSummary{}
	state := jobSucceeded
	if report != nil {
		s.Tenants = len(report.Outcomes)
		s.Succeeded, s.Failed, s.Skipped = report.Succeeded, report.Failed, report.Skipped
		s.DurationMS = durationMS(report.Duration)
		for _, o := range report.Outcomes {
			if o.State != tenancy.StateFailed {
				continue
			}
			if len(s.Failures) < maxJobFailures {
				s.Failures = append(s.Failures, jobFailure{TenantUUID: o.UUID, Domain: o.Domain, Error: o.Error})
			} else {
				s.MoreFailures++
			}
		}
		if report.Failed > 0 || report.Skipped > 0 {
			state = jobFailed
		}
	}
	switch {
	case errors.Is(ctxErr, context.Canceled):
		state, s.Error = jobFailed, "stopped: the API was closed"
	case err != nil:
		state, s.Error = jobFailed, err.Error()
	}
	j.mu.Lock()
	j.state, j.summary, j.finishedAt = state, s, reg.now().UTC()
	if report != nil {
		j.progress.Total = len(report.Outcomes)
		j.progress.Done = report.Succeeded + report.Failed
		j.progress.Failed = report.Failed
	}
	j.mu.Unlock()

	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.running--
	reg.finished = append(reg.finished, j.id)
	for len(reg.finished) > maxFinishedJobs {
		delete(reg.jobs, reg.finished[0])
		reg.finished = reg.finished[1:]
	}
}

// get returns a job by id.
func (reg *jobRegistry) get(id string) (*job, bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	j, ok := reg.jobs[id]
	return j, ok
}

// runningCount is the number of jobs running.
func (reg *jobRegistry) runningCount() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.running
}

// close cancels the running jobs and waits for them.
func (reg *jobRegistry) close() {
	reg.mu.Lock()
	reg.closed = true
	reg.mu.Unlock()
	reg.cancel()
	reg.wg.Wait()
}

// durationMS is d in milliseconds.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
