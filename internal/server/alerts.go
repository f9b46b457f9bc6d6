package server

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/monitor"
)

// DefaultDatabaseSizeInterval is how often tenant database sizes are
// measured for the database size alert.
const DefaultDatabaseSizeInterval = 5 * time.Minute

// alertWindowSamples is the number of monitoring samples (seconds, at the
// default sampling interval) over which the latency and error-rate rules
// are judged.
const alertWindowSamples = 30

// alerter evaluates the alert rules against the monitor's samples on its
// own goroutine, so that slow notifications never delay sampling: a sample
// that arrives while the previous one is still being evaluated is dropped.
// The latency and error-rate rules see the last alertWindowSamples samples
// evaluated (see figures). Tenant database sizes are measured only when the
// database size rule is on, at most every sizeEvery.
type alerter struct {
	engine    *alert.Engine
	mgr       *tenancy.Manager
	log       *slog.Logger
	sizeEvery time.Duration
	samples   chan monitor.Snapshot
	lastSizes time.Time

	// window holds the request figures of the last samples (run's
	// goroutine only).
	window requestWindow
	// knownSizes is the last measured size of every tenant of the
	// catalog (run's goroutine only).
	knownSizes map[string]int64
}

func newAlerter(engine *alert.Engine, mgr *tenancy.Manager, sizeEvery time.Duration, log *slog.Logger) *alerter {
	if sizeEvery <= 0 {
		sizeEvery = DefaultDatabaseSizeInterval
	}
	return &alerter{engine: engine, mgr: mgr, log: log, sizeEvery: sizeEvery, samples: make(chan monitor.Snapshot, 1)}
}

// offer hands a sample over without ever blocking the sampler.
func (a *alerter) offer(s monitor.Snapshot) {
	select {
	case a.samples <- s:
	default:
	}
}

// run evaluates offered samples until ctx ends.
func (a *alerter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-a.samples:
			var f alert.Figures
			f, a.window = figures(a.window, s)
			if a.engine.Thresholds().DatabaseSizeBytes > 0 && s.Time.Sub(a.lastSizes) >= a.sizeEvery {
				a.lastSizes = s.Time
				f.DatabaseSizes, f.TenantNames = a.databaseSizes(ctx)
			}
			a.engine.Evaluate(ctx, f)
		}
	}
}

// requestSample is one sample's request figures.
type requestSample struct {
	requests int
	errors   float64 // ErrorRate × requests
	p95Ms    float64
}

// requestWindow is a ring of the request figures of the last
// alertWindowSamples samples. The zero value is empty; it is a value, so
// that figures can be a pure function.
type requestWindow struct {
	samples [alertWindowSamples]requestSample
	next    int // where the next sample goes
	n       int // samples held
}

// figures returns the alert engine's view of the latest sample s and the
// window with s added (the oldest sample dropped when it was full).
//
// The request figures are those of the whole window, so that MinRequests
// counts the requests of the last alertWindowSamples samples rather than
// of one (at the default 1 s interval, one sample's 20 requests would keep
// a node with fewer than 20 req/s out of the latency and error-rate rules
// even when every request fails): Requests is the sum of the samples'
// requests and ErrorRate the share of 5xx over that sum. P95 is an
// approximation: the samples carry only their p95, not their latency
// histogram, so the window's p95 is their mean weighted by each sample's
// requests. At and the other figures are the latest sample's.
func figures(w requestWindow, s monitor.Snapshot) (alert.Figures, requestWindow) {
	n := max(0, int(math.Round(s.Requests.PerSecond*s.IntervalSeconds)))
	w.samples[w.next] = requestSample{requests: n, errors: s.Requests.ErrorRate * float64(n), p95Ms: s.Requests.P95Ms}
	w.next = (w.next + 1) % len(w.samples)
	w.n = min(w.n+1, len(w.samples))

	var requests int
	var errors, weightedP95 float64
	for _, r := range w.samples[:w.n] {
		requests += r.requests
		errors += r.errors
		weightedP95 += r.p95Ms * float64(r.requests)
	}
	f := alert.Figures{
		At:        s.Time,
		Node:      s.Node,
		Requests:  requests,
		MemoryUse: s.Process.MemoryUse,
		BudgetUse: s.Connections.BudgetUse,
	}
	if requests > 0 {
		f.ErrorRate = errors / float64(requests)
		f.P95 = time.Duration(weightedP95 / float64(requests) * float64(time.Millisecond))
	}
	return f, w
}

// databaseSizes measures every tenant's database, four at a time. A
// tenant whose size cannot be read this time (logged) keeps its last
// measured size, so that a passing failure neither resolves nor re-raises
// its alert; a tenant never measured is left out. Tenants no longer in the
// catalog are forgotten, which resolves their alerts. Nil when the catalog
// cannot be read.
func (a *alerter) databaseSizes(ctx context.Context) (map[string]int64, map[string]string) {
	tenants, err := a.mgr.AllTenants(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "alerts: listing tenants for database sizes", "err", err)
		return nil, nil
	}
	measured := make(map[string]int64, len(tenants))
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, t := range tenants {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, err := a.mgr.Databases().Size(ctx, t)
			if err != nil {
				a.log.WarnContext(ctx, "alerts: measuring a tenant database", "tenant", t.UUID, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			measured[t.UUID] = n
		})
	}
	wg.Wait()
	sizes, names := mergeSizes(tenants, measured, a.knownSizes)
	a.knownSizes = sizes
	return sizes, names
}

// mergeSizes returns the sizes of the tenants: measured where it has them,
// else the last known size from last; and their names. Tenants in neither
// are left out, and uuids of last that are no longer tenants are dropped.
func mergeSizes(tenants []*tenancy.Tenant, measured, last map[string]int64) (map[string]int64, map[string]string) {
	sizes := make(map[string]int64, len(tenants))
	names := make(map[string]string, len(tenants))
	for _, t := range tenants {
		n, ok := measured[t.UUID]
		if !ok {
			n, ok = last[t.UUID]
		}
		if ok {
			sizes[t.UUID] = n
			names[t.UUID] = t.Name
		}
	}
	return sizes, names
}
