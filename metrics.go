package tenancy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of the request latency histogram.
var LatencyBuckets = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// tenantStats are one tenant's request counters, updated with atomics.
type tenantStats struct {
	requests   atomic.Uint64
	errors4xx  atomic.Uint64
	errors5xx  atomic.Uint64
	latencySum atomic.Int64
	buckets    [13]atomic.Uint64 // len(LatencyBuckets)+1, the last for +Inf
	lastAccess atomic.Int64      // unix micro of the last request
	flushed    atomic.Int64      // lastAccess value last written to the catalog
}

// RequestStats is a snapshot of one tenant's request metrics.
type RequestStats struct {
	TenantID  int64  `json:"tenant_id"`
	Requests  uint64 `json:"requests"`
	Errors4xx uint64 `json:"errors_4xx"`
	Errors5xx uint64 `json:"errors_5xx"`
	// LatencySum is the total time spent serving the requests.
	LatencySum time.Duration `json:"latency_sum_ns"`
	// Buckets counts requests by latency: Buckets[i] are those at most
	// LatencyBuckets[i] (and above the previous bound); the last is the rest.
	Buckets    []uint64  `json:"buckets"`
	LastAccess time.Time `json:"last_access"`
}

// RequestMetrics keeps per-tenant request metrics in memory and tracks last
// access, which it writes to the catalog in batches (see Flush), never once
// per request. It is safe for concurrent use.
type RequestMetrics struct {
	mu      sync.RWMutex
	tenants map[int64]*tenantStats
}

// NewRequestMetrics returns empty metrics.
func NewRequestMetrics() *RequestMetrics {
	return &RequestMetrics{tenants: map[int64]*tenantStats{}}
}

func (rm *RequestMetrics) stats(id int64) *tenantStats {
	rm.mu.RLock()
	s := rm.tenants[id]
	rm.mu.RUnlock()
	if s != nil {
		return s
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if s = rm.tenants[id]; s == nil {
		s = &tenantStats{}
		rm.tenants[id] = s
	}
	return s
}

// each calls fn for every tenant's stats.
func (rm *RequestMetrics) each(fn func(id int64, s *tenantStats)) {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	for id, s := range rm.tenants {
		fn(id, s)
	}
}

// Observe records one request of tenant id.
func (rm *RequestMetrics) Observe(id int64, status int, took time.Duration, at time.Time) {
	s := rm.stats(id)
	s.requests.Add(1)
	switch {
	case status >= 500:
		s.errors5xx.Add(1)
	case status >= 400:
		s.errors4xx.Add(1)
	}
	s.latencySum.Add(int64(took))
	i := 0
	for i < len(LatencyBuckets) && took > LatencyBuckets[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.lastAccess.Store(at.UnixMicro())
}

// Forget drops a tenant's metrics (when it is deleted).
func (rm *RequestMetrics) Forget(id int64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	delete(rm.tenants, id)
}

// Snapshot returns every tenant's metrics.
func (rm *RequestMetrics) Snapshot() []RequestStats {
	var out []RequestStats
	rm.each(func(id int64, s *tenantStats) { out = append(out, s.snapshot(id)) })
	return out
}

// snapshot reads one tenant's counters.
func (s *tenantStats) snapshot(id int64) RequestStats {
	rs := RequestStats{
		TenantID:   id,
		Requests:   s.requests.Load(),
		Errors4xx:  s.errors4xx.Load(),
		Errors5xx:  s.errors5xx.Load(),
		LatencySum: time.Duration(s.latencySum.Load()),
		Buckets:    make([]uint64, len(s.buckets)),
	}
	for i := range s.buckets {
		rs.Buckets[i] = s.buckets[i].Load()
	}
	if at := s.lastAccess.Load(); at != 0 {
		rs.LastAccess = time.UnixMicro(at).UTC()
	}
	return rs
}

// Tenant returns one tenant's metrics.
func (rm *RequestMetrics) Tenant(id int64) (RequestStats, bool) {
	rm.mu.RLock()
	s, ok := rm.tenants[id]
	rm.mu.RUnlock()
	if !ok {
		return RequestStats{}, false
	}
	return s.snapshot(id), true
}

// LastAccess returns when the tenant was last served by this process.
func (rm *RequestMetrics) LastAccess(id int64) (time.Time, bool) {
	rm.mu.RLock()
	s, ok := rm.tenants[id]
	rm.mu.RUnlock()
	if !ok || s.lastAccess.Load() == 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(s.lastAccess.Load()).UTC(), true
}

// dirtyAccess collects last-access times not yet written to the catalog.
func (rm *RequestMetrics) dirtyAccess() (map[int64]time.Time, func()) {
	batch := map[int64]time.Time{}
	marks := map[*tenantStats]int64{}
	rm.each(func(id int64, s *tenantStats) {
		at := s.lastAccess.Load()
		if at != 0 && at != s.flushed.Load() {
			batch[id] = time.UnixMicro(at).UTC()
			marks[s] = at
		}
	})
	return batch, func() {
		for s, at := range marks {
			s.flushed.Store(at)
		}
	}
}

// FlushAccess writes the last-access times gathered since the previous flush
// to m's catalog in one batch.
func (rm *RequestMetrics) FlushAccess(ctx context.Context, m *Manager) error {
	batch, done := rm.dirtyAccess()
	if len(batch) == 0 {
		return nil
	}
	if err := m.store.TouchTenants(ctx, batch); err != nil {
		return err
	}
	done()
	return nil
}

// TrackAccess flushes last-access times to m's catalog every interval
// until ctx is done, then once more.
func (rm *RequestMetrics) TrackAccess(ctx context.Context, m *Manager, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := rm.FlushAccess(context.WithoutCancel(ctx), m); err != nil {
				m.log.Warn("flushing last access", "err", err)
			}
			return
		case <-tick.C:
			if err := rm.FlushAccess(ctx, m); err != nil {
				m.log.Warn("flushing last access", "err", err)
			}
		}
	}
}
