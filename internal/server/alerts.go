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

// alerter evaluates the alert rules against the monitor's samples on its
// own goroutine, so that slow notifications never delay sampling: a sample
// that arrives while the previous one is still being evaluated is dropped.
// Tenant database sizes are measured only when the database size rule is
// on, at most every sizeEvery.
type alerter struct {
	engine    *alert.Engine
	mgr       *tenancy.Manager
	log       *slog.Logger
	sizeEvery time.Duration
	samples   chan monitor.Snapshot
	lastSizes time.Time
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
			f := figures(s)
			if a.engine.Thresholds().DatabaseSizeBytes > 0 && s.Time.Sub(a.lastSizes) >= a.sizeEvery {
				a.lastSizes = s.Time
				f.DatabaseSizes, f.TenantNames = a.databaseSizes(ctx)
			}
			a.engine.Evaluate(ctx, f)
		}
	}
}

// figures are the alert engine's view of a sample.
func figures(s monitor.Snapshot) alert.Figures {
	return alert.Figures{
		At:        s.Time,
		Node:      s.Node,
		Requests:  int(math.Round(s.Requests.PerSecond * s.IntervalSeconds)),
		P95:       time.Duration(s.Requests.P95Ms * float64(time.Millisecond)),
		ErrorRate: s.Requests.ErrorRate,
		MemoryUse: s.Process.MemoryUse,
		BudgetUse: s.Connections.BudgetUse,
	}
}

// databaseSizes measures every tenant's database, four at a time. Tenants
// whose size cannot be read are left out (and logged); nil when the
// catalog cannot be read.
func (a *alerter) databaseSizes(ctx context.Context) (map[string]int64, map[string]string) {
	tenants, err := a.mgr.AllTenants(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "alerts: listing tenants for database sizes", "err", err)
		return nil, nil
	}
	sizes := make(map[string]int64, len(tenants))
	names := make(map[string]string, len(tenants))
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, t := range tenants {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, err := a.mgr.DatabaseSize(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				a.log.WarnContext(ctx, "alerts: measuring a tenant database", "tenant", t.UUID, "err", err)
				return
			}
			sizes[t.UUID] = n
			names[t.UUID] = t.Name
		})
	}
	wg.Wait()
	return sizes, names
}
