package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/tenantdb"
)

// baseline is what the previous sample read: the figures the next one
// subtracts for its interval.
type baseline struct {
	at       time.Time
	tenants  map[int64]tenantSample
	conn     tenantdb.ConnStats
	cache    cache.Stats
	resolver resolve.CacheStats
	cpu      float64
	memLimit uint64    // the memory limit, read at most every memoryLimitTTL
	memAt    time.Time // when memLimit was read
	counts   TenantCounts
	countErr bool // the last count failed (logged once per failure streak)
}

// Start starts the sampler: a snapshot at once, then one every
// SampleInterval, until ctx is done or Close is called. A monitor starts
// once; once stopped it stays stopped (its streams end).
func (m *Monitor) Start(ctx context.Context) error {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	switch {
	case m.stopped:
		return errors.New("monitor: Start after the monitor stopped")
	case m.started:
		return errors.New("monitor: already started")
	}
	m.started = true
	// The loop's context ends with ctx or when the monitor stops, so that
	// Close does not wait for a catalog read of the loop beyond its
	// cancellation.
	runCtx, cancel := context.WithCancel(ctx)
	unwatch := context.AfterFunc(m.bgCtx, cancel)
	m.wg.Go(func() {
		defer cancel()
		defer unwatch()
		m.run(runCtx)
	})
	return nil
}

// run is the sampler's loop. It alone passes snapshots to OnSample.
func (m *Monitor) run(ctx context.Context) {
	defer m.stop()
	tick := time.NewTicker(m.cfg.SampleInterval)
	defer tick.Stop()
	for {
		s := m.sample(ctx, true)
		if m.cfg.OnSample != nil {
			m.cfg.OnSample(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.stopping:
			return
		case <-tick.C:
		}
	}
}

// stop marks the monitor stopped: streams end, background work is
// cancelled and nothing new starts.
func (m *Monitor) stop() {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.stopped {
		return
	}
	m.stopped = true
	close(m.stopping)
	m.bgCancel()
}

// Close stops the sampler (if it runs) and waits for it and for the
// background disk and catalog reads to end. The streams of AdminHandler
// end. Close returns nil; calling it again does nothing.
func (m *Monitor) Close() error {
	m.stop()
	m.wg.Wait()
	return nil
}

// Done is closed when the monitor stops: its Start context ended or Close
// was called.
func (m *Monitor) Done() <-chan struct{} { return m.stopping }

// goBackground runs fn in a goroutine that Close waits for, unless the
// monitor stopped; it reports whether fn was started.
func (m *Monitor) goBackground(fn func(ctx context.Context)) bool {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.stopped {
		return false
	}
	m.wg.Go(func() { fn(m.bgCtx) })
	return true
}

// Sample takes one snapshot now, as the sampler does every SampleInterval:
// the snapshot is kept in the history and sent to the stream's
// subscribers. Its rates cover the time since the previous sample, and the
// next sample's rates the time since this one. Unlike the sampler's
// snapshots it is not passed to OnSample. The returned snapshot shares its
// slices with the history: do not change it.
func (m *Monitor) Sample(ctx context.Context) Snapshot {
	return m.sample(ctx, true)
}

// sample takes a snapshot, keeps it in the history and publishes it to the
// streams. With advance its figures become the baseline of the next
// sample's rates; without (a snapshot taken for a request), the next
// sample's rates still cover the time since the previous one, so that the
// intervals of the sampler's snapshots, which OnSample sees, leave no gap.
func (m *Monitor) sample(ctx context.Context, advance bool) Snapshot {
	m.sampleMu.Lock()
	defer m.sampleMu.Unlock()
	saved := m.prev
	s := m.take(ctx)
	if !advance {
		m.prev = saved
	}
	body, err := json.Marshal(s)
	if err != nil {
		m.log.Warn("monitor: encoding a sample", "err", err)
	} else {
		m.ring.add(s, body)
		m.subs.publish(frame("sample", body))
	}
	return s
}

// Latest returns the newest snapshot in the history; false when there is
// none (the sampler has not run, or the history was just cleared).
func (m *Monitor) Latest() (Snapshot, bool) {
	e, ok := m.ring.latest()
	return e.snap, ok
}

// History returns the kept snapshots, oldest first (at most
// Config.History). They share their slices with the history: do not
// change them.
func (m *Monitor) History() []Snapshot {
	entries := m.ring.all()
	out := make([]Snapshot, len(entries))
	for i, e := range entries {
		out[i] = e.snap
	}
	return out
}

// latestOrSample returns the latest snapshot, taking one when there is
// none (before the sampler's first, or after the history was cleared). A
// snapshot taken here is not passed to OnSample and does not move the
// baseline of the sampler's rates.
func (m *Monitor) latestOrSample(ctx context.Context) Snapshot {
	if s, ok := m.Latest(); ok {
		return s
	}
	return m.sample(ctx, false)
}

// take measures a snapshot against the baseline and moves the baseline on.
// The caller holds sampleMu.
func (m *Monitor) take(ctx context.Context) Snapshot {
	now := m.cfg.Now()
	p := &m.prev
	s := Snapshot{
		Time:          now.UTC(),
		Node:          m.cfg.Node,
		UptimeSeconds: round3(now.Sub(m.cfg.StartedAt).Seconds()),
	}
	var dt float64
	if !p.at.IsZero() {
		dt = now.Sub(p.at).Seconds()
	}
	s.IntervalSeconds = round3(dt)

	m.requestFigures(ctx, &s, dt)
	m.tenantCounts(ctx, &s)
	s.Connections.HitRatio, s.Cache.HitRatio, s.Resolver.HitRatio = -1, -1, -1
	{
		cs := m.cfg.Manager.Databases().Stats()
		s.Connections = ConnectionFigures{
			Open: cs.Open, InUse: cs.InUse, Budget: cs.MaxOpen, BudgetUse: ratio(uint64(cs.Open), uint64(cs.MaxOpen)),
			Hits: cs.Hits, Misses: cs.Misses, Evictions: cs.Evictions, HitRatio: -1,
		}
		if dt > 0 {
			h, mi := sub(cs.Hits, p.conn.Hits), sub(cs.Misses, p.conn.Misses)
			s.Connections.HitRatio = knownRatio(h, h+mi)
		}
		p.conn = cs
	}
	if m.cfg.Cache != nil {
		cs := m.cfg.Cache.Stats()
		s.Cache = CacheFigures{Hits: cs.Hits, Misses: cs.Misses, Entries: int64(cs.Entries), HitRatio: -1}
		if dt > 0 {
			h, mi := sub(cs.Hits, p.cache.Hits), sub(cs.Misses, p.cache.Misses)
			s.Cache.HitRatio = knownRatio(h, h+mi)
		}
		p.cache = cs
	}
	if m.cfg.Resolver != nil {
		rs := m.cfg.Resolver.Stats()
		s.Resolver = ResolverFigures{Hits: rs.Hits, Misses: rs.Misses, Domains: rs.Domains, HitRatio: -1}
		if dt > 0 {
			h, mi := sub(rs.Hits, p.resolver.Hits), sub(rs.Misses, p.resolver.Misses)
			s.Resolver.HitRatio = knownRatio(h, h+mi)
		}
		p.resolver = rs
	}
	if now.Sub(p.memAt) >= memoryLimitTTL {
		p.memLimit, p.memAt = memoryLimit(m.limitFiles), now
	}
	s.Process = processFigures(p.memLimit)
	if dt > 0 && s.Process.CPUSeconds >= p.cpu {
		s.Process.CPUPercent = round3((s.Process.CPUSeconds - p.cpu) / dt * 100)
	}
	p.cpu = s.Process.CPUSeconds
	s.Runtime = runtimeFigures()
	s.Disk = m.diskFigures()
	if m.cfg.Alerts != nil {
		s.AlertsActive = len(m.cfg.Alerts.Active())
	}
	p.at = now
	return s
}

// tenantSample is one tenant's counters at a sample and its request rate
// over the interval that ended there.
type tenantSample struct {
	stats tenancy.RequestStats
	rate  float64
}

// busy is a tenant with requests in the interval: n of them.
type busy struct {
	total, prev tenancy.RequestStats
	n           uint64
}

// requestFigures fills the request figures and top tenants, and publishes
// each tenant's counters and rate for the tenant-stats route. It is linear
// in the tenants with requests and allocates little beyond the metrics'
// own snapshot: it runs every second over every tenant.
func (m *Monitor) requestFigures(ctx context.Context, s *Snapshot, dt float64) {
	s.TopTenants = []TenantFigures{}
	if m.cfg.Metrics == nil {
		m.tenantInfos(ctx, nil, true) // keeps the directory (maintenance count) fresh
		return
	}
	stats := m.cfg.Metrics.Snapshot()
	cur := make(map[int64]tenantSample, len(stats))
	var total, delta tenancy.RequestStats
	delta.Buckets = make([]uint64, len(tenancy.LatencyBuckets)+1)
	top := make([]busy, 0, TopTenantCount+1)
	for _, st := range stats {
		total.Requests += st.Requests
		total.Errors4xx += st.Errors4xx
		total.Errors5xx += st.Errors5xx
		prev := m.prev.tenants[st.TenantID].stats
		if st.Requests < prev.Requests {
			prev = tenancy.RequestStats{} // forgotten and seen again
		}
		ts := tenantSample{stats: st}
		if n := st.Requests - prev.Requests; n > 0 {
			delta.Requests += n
			delta.Errors4xx += sub(st.Errors4xx, prev.Errors4xx)
			delta.Errors5xx += sub(st.Errors5xx, prev.Errors5xx)
			for i, c := range st.Buckets {
				if i < len(delta.Buckets) {
					delta.Buckets[i] += sub(c, bucket(prev.Buckets, i))
				}
			}
			if dt > 0 {
				ts.rate = round3(float64(n) / dt)
			}
			top = insertTop(top, busy{total: st, prev: prev, n: n})
		}
		cur[st.TenantID] = ts
	}
	m.prev.tenants = cur
	m.tenantSamples.Store(&cur)
	s.Requests = figures(total, delta, dt)

	// The busiest of the interval; on the first sample, of the uptime.
	ids := make([]int64, len(top))
	for i, a := range top {
		ids[i] = a.total.TenantID
	}
	infos := m.tenantInfos(ctx, ids, true)
	for _, a := range top {
		info := infos[a.total.TenantID]
		s.TopTenants = append(s.TopTenants, TenantFigures{UUID: info.uuid, Name: info.name, RequestFigures: figures(a.total, diffStats(a.total, a.prev), dt)})
	}
}

// insertTop puts b in top, kept in order (most requests first, then lowest
// tenant id) and to TopTenantCount.
func insertTop(top []busy, b busy) []busy {
	before := func(x, y busy) bool {
		return x.n > y.n || x.n == y.n && x.total.TenantID < y.total.TenantID
	}
	if len(top) == TopTenantCount && !before(b, top[len(top)-1]) {
		return top
	}
	i := len(top)
	for i > 0 && before(b, top[i-1]) {
		i--
	}
	top = slices.Insert(top, i, b)
	return top[:min(len(top), TopTenantCount)]
}

// bucket is buckets[i], or 0 past its end.
func bucket(buckets []uint64, i int) uint64 {
	if i < len(buckets) {
		return buckets[i]
	}
	return 0
}

// tenantCounts counts the catalog's tenants by status (one query); on an
// error the previous counts stay (unknownCounts before any succeeded).
func (m *Monitor) tenantCounts(ctx context.Context, s *Snapshot) {
	p := &m.prev
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	counts, err := m.cfg.Manager.CountByStatus(ctx)
	if err != nil {
		if !p.countErr && !errors.Is(err, context.Canceled) {
			m.log.Warn("monitor: counting tenants", "err", err)
		}
		p.countErr = true
	} else {
		p.countErr = false
		p.counts = CountsByStatus(counts)
	}
	s.Tenants = p.counts
	s.Tenants.Maintenance = m.maintenanceCount()
}

// diffStats is cur minus prev, counter by counter.
func diffStats(cur, prev tenancy.RequestStats) tenancy.RequestStats {
	d := tenancy.RequestStats{
		TenantID:   cur.TenantID,
		Requests:   sub(cur.Requests, prev.Requests),
		Errors4xx:  sub(cur.Errors4xx, prev.Errors4xx),
		Errors5xx:  sub(cur.Errors5xx, prev.Errors5xx),
		LatencySum: max(0, cur.LatencySum-prev.LatencySum),
		Buckets:    make([]uint64, len(cur.Buckets)),
	}
	for i, n := range cur.Buckets {
		d.Buckets[i] = sub(n, bucket(prev.Buckets, i))
	}
	return d
}

// figures are the request figures of counts since start (total) and of
// the interval (delta, over dt seconds). Without an interval only the
// counts are set.
func figures(total, delta tenancy.RequestStats, dt float64) RequestFigures {
	f := RequestFigures{Total: total.Requests, Errors4xx: total.Errors4xx, Errors5xx: total.Errors5xx}
	if dt <= 0 || delta.Requests == 0 {
		return f
	}
	f.PerSecond = round3(float64(delta.Requests) / dt)
	f.P95Ms = round3(quantileMs(0.95, delta.Buckets))
	f.ErrorRate = ratio(delta.Errors5xx, delta.Requests)
	f.ClientErrorRate = ratio(delta.Errors4xx, delta.Requests)
	return f
}

// quantileMs estimates the q-quantile (0…1) in milliseconds of the
// latencies counted in buckets (counts per tenancy.LatencyBuckets bucket,
// not cumulative; the last is above the last bound), interpolating
// linearly within the bucket holding it, as Prometheus's
// histogram_quantile does. A quantile in the last bucket is the last bound
// (quantileCapMs); no observation is 0.
func quantileMs(q float64, buckets []uint64) float64 {
	var n uint64
	for _, c := range buckets {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var cum uint64
	for i, c := range buckets {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i >= len(tenancy.LatencyBuckets) {
			break
		}
		lower := 0.0
		if i > 0 {
			lower = ms(tenancy.LatencyBuckets[i-1])
		}
		upper := ms(tenancy.LatencyBuckets[i])
		return lower + (upper-lower)*(rank-float64(cum))/float64(c)
	}
	return quantileCapMs
}

// quantileCapMs is the largest quantile quantileMs returns, the last
// latency bound, in milliseconds: it stands for that long or longer.
var quantileCapMs = ms(tenancy.LatencyBuckets[len(tenancy.LatencyBuckets)-1])

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sub is a-b for counters, 0 when a counter went back (a reset).
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// knownRatio is part/whole rounded to 4 places, -1 (unknown) when whole is
// 0.
func knownRatio(part, whole uint64) float64 {
	if whole == 0 {
		return -1
	}
	return ratio(part, whole)
}

// ratio is part/whole rounded to 4 places, 0 when whole is 0.
func ratio(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return math.Round(float64(part)/float64(whole)*1e4) / 1e4
}

// round3 rounds to 3 decimal places.
func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }

// memoryLimitTTL is how long a reading of the memory limit is used.
const memoryLimitTTL = 30 * time.Second

// processFigures reads the operating system's figures for this process,
// whose memory limit is limit.
func processFigures(limit uint64) ProcessFigures {
	p := ProcessFigures{PID: os.Getpid(), CPUs: runtime.GOMAXPROCS(0), OpenFiles: -1, MemoryLimitBytes: limit}
	p.RSSBytes, p.OpenFiles = procStatus()
	if p.MemoryLimitBytes > 0 {
		p.MemoryUse = ratio(p.RSSBytes, p.MemoryLimitBytes)
	}
	p.CPUSeconds = round3(cpuSeconds())
	return p
}

// runtimeFigures reads the Go runtime's figures. runtime.ReadMemStats stops
// the world for a few microseconds; once a second that is nothing.
func runtimeFigures() RuntimeFigures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return RuntimeFigures{
		GoVersion:      runtime.Version(),
		Goroutines:     runtime.NumGoroutine(),
		HeapAllocBytes: ms.HeapAlloc,
		HeapSysBytes:   ms.HeapSys,
		SysBytes:       ms.Sys,
		NumGC:          ms.NumGC,
		GCPauseTotalMs: round3(float64(ms.PauseTotalNs) / 1e6),
	}
}

// unknownCounts are the tenant counts before the catalog's count first
// succeeded.
var unknownCounts = TenantCounts{Total: -1, Active: -1, Inactive: -1, Suspended: -1, Blocked: -1, Maintenance: -1}
