// Package monitor owns a node's operational view of itself: Prometheus
// metrics at /metrics (through prometheus/client_golang), liveness at
// /healthz, readiness at /readyz, and the live monitoring behind the admin
// dashboard.
//
// The live monitoring is a sampler (Monitor.Start) that takes a Snapshot of
// the node every Config.SampleInterval from figures the components already
// keep (request counters, connection manager, resolver, cache, the Go
// runtime, /proc) and keeps the recent ones in a ring. It adds no work to
// the request path. Monitor.AdminHandler serves the snapshots under
// /admin/monitoring/: a dashboard page, JSON routes and a Server-Sent Events
// stream of the samples.
package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/jobs"
	"github.com/gotenancy/tenancy/resolve"
)

// DefaultMinFreeBytes is the free disk space /readyz requires of the data
// directory when Config.MinFreeBytes is zero.
const DefaultMinFreeBytes = 100 << 20

// MaxTenantLabels is the number of tenants, the busiest by requests, that
// get their own tenant label value in the request metrics; the requests of
// all other tenants are summed under tenant="other".
const MaxTenantLabels = 50

// OtherTenant is the tenant label value of the tenants beyond
// MaxTenantLabels.
const OtherTenant = "other"

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// Names of the built-in readiness checks.
const (
	CheckCatalog        = "catalog"
	CheckTenantDatabase = "tenant_database"
	CheckDisk           = "disk"
)

// Defaults of the sampler's Config fields.
const (
	// DefaultSampleInterval is the time between samples.
	DefaultSampleInterval = time.Second
	// DefaultHistory is the number of samples kept.
	DefaultHistory = 300
	// DefaultDirectoryInterval is how often the tenant directory (tenant
	// id to uuid, name, status and maintenance mode) is read again from
	// the catalog.
	DefaultDirectoryInterval = time.Minute
)

// AlertSource is what the monitoring shows of alerts: the events raised so
// far and the conditions still active. alert.Engine implements it.
type AlertSource interface {
	// History returns the recent alert events.
	History() []alert.Event
	// Active returns the events of the conditions that have not ended.
	Active() []alert.Event
}

// Config configures a Monitor. Only Manager is required; the metrics of a
// missing component are left out.
type Config struct {
	// Manager is the tenant manager (required).
	Manager *tenancy.Manager
	// Metrics are the per-tenant request metrics, as fed by the tenant
	// middleware.
	Metrics *tenancy.RequestMetrics
	// Resolver is the host resolution cache.
	Resolver *resolve.Cache
	// Cache is the tenant cache backend.
	Cache cache.Backend
	// Jobs is the background job client.
	Jobs *jobs.Client
	// DataDir is the data directory: /readyz checks its free disk space
	// and the sampler measures its use; "" skips both.
	DataDir string
	// MinFreeBytes is the free space DataDir must have; 0 means
	// DefaultMinFreeBytes.
	MinFreeBytes int64
	// ReadyChecks are extra named checks for /readyz (e.g. "redis": a
	// ping). Each runs with a 2 s timeout.
	ReadyChecks map[string]func(ctx context.Context) error

	// SampleInterval is the time between the sampler's snapshots; 0
	// means DefaultSampleInterval.
	SampleInterval time.Duration
	// History is the number of snapshots kept; 0 means DefaultHistory.
	History int
	// DiskWalkInterval is the least time between two walks of DataDir for
	// its used space; 0 means DiskWalkInterval (the constant). The walk
	// runs in the background: a sample never waits for it.
	DiskWalkInterval time.Duration
	// DirectoryInterval is how often the tenant directory is read again
	// from the catalog (one query for every tenant); 0 means
	// DefaultDirectoryInterval. A tenant with requests that is not in the
	// directory makes it read again sooner, at most every 10 s.
	DirectoryInterval time.Duration
	// OnSample, if set, is called with each snapshot the sampler (Start)
	// takes, after it is kept and streamed (for alerts), one call at a
	// time, on the sampler's goroutine: a slow OnSample delays the next
	// sample. Snapshots taken otherwise (by Sample, or by a monitoring
	// route when there is none yet) are not passed to it, so it never runs
	// on a request's goroutine.
	OnSample func(Snapshot)
	// Alerts, if set, supplies the alert history shown by the dashboard
	// and GET /admin/monitoring/alerts.
	Alerts AlertSource
	// Node names this node in the snapshots; "" means the host name.
	Node string
	// StartedAt is when the process started, for the uptime; zero means
	// when this package was initialised.
	StartedAt time.Time
	// Now is the clock of snapshots, their intervals and the directory's
	// and disk walk's refresh times; nil means time.Now.
	Now func() time.Time
	// Logger receives the sampler's warnings; nil means slog.Default().
	Logger *slog.Logger
}

// processStart approximates the process's start: package initialisation.
var processStart = time.Now()

// Monitor serves /metrics, /healthz and /readyz, samples the node's figures
// once started, and serves the live monitoring routes. It is safe for
// concurrent use.
type Monitor struct {
	cfg        Config
	log        *slog.Logger
	limitFiles []string // the cgroup files of the memory limit

	sampleMu sync.Mutex // one sample at a time; guards prev
	prev     baseline

	ring ring // the kept samples
	subs subscribers
	dir  directory
	disk diskMemo

	// tenantSamples are the tenants' counters and rates of the latest
	// sample; the map is not changed once published.
	tenantSamples atomic.Pointer[map[int64]tenantSample]

	pingInterval time.Duration // SSE keep-alive comments

	// dirRetry and dirFirstWait are directoryRetry and directoryFirstWait
	// (changed by tests).
	dirRetry, dirFirstWait time.Duration

	// bgMu guards stopped and wg.Add: nothing starts in the background
	// once the monitor stopped.
	bgMu     sync.Mutex
	started  bool
	stopped  bool
	stopping chan struct{} // closed when the monitor stops
	bgCtx    context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a Monitor. It copies cfg. It starts nothing: Start starts the
// sampler.
func New(cfg *Config) (*Monitor, error) {
	if cfg == nil || cfg.Manager == nil {
		return nil, errors.New("monitor: Config.Manager is required")
	}
	c := *cfg
	switch {
	case c.MinFreeBytes < 0:
		return nil, fmt.Errorf("monitor: MinFreeBytes %d is negative", c.MinFreeBytes)
	case c.SampleInterval < 0:
		return nil, fmt.Errorf("monitor: SampleInterval %s is negative", c.SampleInterval)
	case c.History < 0:
		return nil, fmt.Errorf("monitor: History %d is negative", c.History)
	case c.DiskWalkInterval < 0:
		return nil, fmt.Errorf("monitor: DiskWalkInterval %s is negative", c.DiskWalkInterval)
	case c.DirectoryInterval < 0:
		return nil, fmt.Errorf("monitor: DirectoryInterval %s is negative", c.DirectoryInterval)
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.DiskWalkInterval == 0 {
		c.DiskWalkInterval = DiskWalkInterval
	}
	if c.DirectoryInterval == 0 {
		c.DirectoryInterval = DefaultDirectoryInterval
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = processStart
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	checks := make(map[string]func(context.Context) error, len(cfg.ReadyChecks))
	for name, fn := range cfg.ReadyChecks {
		switch {
		case name == "":
			return nil, errors.New("monitor: a ReadyCheck has an empty name")
		case name == CheckCatalog || name == CheckTenantDatabase || name == CheckDisk:
			return nil, fmt.Errorf("monitor: ReadyCheck %q has the name of a built-in check", name)
		case fn == nil:
			return nil, fmt.Errorf("monitor: ReadyCheck %q is nil", name)
		}
		checks[name] = fn
	}
	c.ReadyChecks = checks
	m := &Monitor{
		cfg:          c,
		log:          c.Logger,
		limitFiles:   memoryLimitFiles(),
		ring:         newRing(c.History),
		stopping:     make(chan struct{}),
		pingInterval: 15 * time.Second,
		dirRetry:     directoryRetry,
		dirFirstWait: directoryFirstWait,
	}
	m.prev.counts = unknownCounts
	m.bgCtx, m.bgCancel = context.WithCancel(context.Background())
	return m, nil
}

// allowGet answers 405 to methods other than GET and HEAD.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// Metrics serves the metrics in the Prometheus text format (GET /metrics),
// through client_golang.
func (m *Monitor) Metrics() http.Handler {
	h := newMetricsHandler(m)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowGet(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// collect gathers every metric family.
func (m *Monitor) collect(ctx context.Context) []*family {
	var fams []*family
	if m.cfg.Metrics != nil {
		fams = append(fams, requestFamilies(m.cfg.Metrics.Snapshot())...)
	}
	fams = append(fams, m.tenantFamily(ctx))
	fams = append(fams, connFamilies(m.cfg.Manager)...)
	if m.cfg.Resolver != nil {
		s := m.cfg.Resolver.Stats()
		fams = append(fams,
			counter("tenancy_resolver_hits_total", "Host lookups answered from the resolver snapshot.", float64(s.Hits)),
			counter("tenancy_resolver_misses_total", "Host lookups the resolver snapshot could not answer.", float64(s.Misses)),
			counter("tenancy_resolver_negative_hits_total", "Resolver misses answered by the negative cache.", float64(s.NegativeHits)),
			counter("tenancy_resolver_store_lookups_total", "Resolver misses passed to the catalog.", float64(s.StoreLookups)),
			counter("tenancy_resolver_reloads_total", "Full reads of the catalog by the resolver.", float64(s.Reloads)),
			counter("tenancy_resolver_reload_errors_total", "Resolver reloads that failed.", float64(s.ReloadErrors)),
			gauge("tenancy_resolver_domains", "Domains in the resolver snapshot.", float64(s.Domains)),
		)
	}
	if m.cfg.Cache != nil {
		s := m.cfg.Cache.Stats()
		fams = append(fams,
			counter("tenancy_cache_hits_total", "Tenant cache gets that found a value.", float64(s.Hits)),
			counter("tenancy_cache_misses_total", "Tenant cache gets that found none.", float64(s.Misses)),
			counter("tenancy_cache_sets_total", "Tenant cache sets.", float64(s.Sets)),
			counter("tenancy_cache_deletes_total", "Tenant cache deletes.", float64(s.Deletes)),
			counter("tenancy_cache_flushes_total", "Tenant cache flushes of one tenant or of all.", float64(s.Flushes)),
			gauge("tenancy_cache_entries", "Estimated number of tenant cache entries.", float64(s.Entries)),
		)
	}
	if m.cfg.Jobs != nil {
		s := m.cfg.Jobs.Stats()
		fams = append(fams,
			counter("tenancy_jobs_completed_total", "Job attempts whose worker returned nil.", float64(s.Completed)),
			counter("tenancy_jobs_failed_total", "Job attempts that failed.", float64(s.Failed)),
			counter("tenancy_jobs_cancelled_total", "Job attempts cancelled by their worker.", float64(s.Cancelled)),
			counter("tenancy_jobs_refused_total", "Jobs cancelled without running because their tenant was missing or not active.", float64(s.Refused)),
			counter("tenancy_jobs_snoozed_total", "Job attempts that snoozed.", float64(s.Snoozed)),
			gauge("tenancy_jobs_running", "Jobs being worked now.", float64(s.Running)),
		)
	}
	return fams
}

// counter returns a family of one unlabelled counter.
func counter(name, help string, v float64) *family {
	f := newFamily(name, help, counterType)
	f.add(v)
	return f
}

// gauge returns a family of one unlabelled gauge.
func gauge(name, help string, v float64) *family {
	f := newFamily(name, help, gaugeType)
	f.add(v)
	return f
}

// tenantFamily counts tenants by status; on a catalog error it is empty
// (and so left out).
func (m *Monitor) tenantFamily(ctx context.Context) *family {
	f := newFamily("tenancy_tenants", "Tenants in the catalog by status.", gaugeType)
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	counts, err := m.cfg.Manager.CountByStatus(ctx)
	if err != nil {
		return f
	}
	for _, st := range tenancy.Statuses {
		f.add(float64(counts[st]), labelPair{"status", string(st)})
	}
	for st, n := range counts {
		if !slices.Contains(tenancy.Statuses, st) {
			f.add(float64(n), labelPair{"status", string(st)})
		}
	}
	return f
}

// connFamilies are the connection manager's figures.
func connFamilies(mgr *tenancy.Manager) []*family {
	s := mgr.Databases().Stats()
	return []*family{
		gauge("tenancy_connections_open", "Tenant databases open, being opened or being closed.", float64(s.Open)),
		gauge("tenancy_connections_in_use", "Open tenant databases with at least one unreleased acquire.", float64(s.InUse)),
		gauge("tenancy_connections_max_open", "Budget of open tenant databases.", float64(s.MaxOpen)),
		counter("tenancy_connections_hits_total", "Acquires served by an open tenant database handle.", float64(s.Hits)),
		counter("tenancy_connections_misses_total", "Tenant database opens started.", float64(s.Misses)),
		counter("tenancy_connections_evictions_total", "Tenant database handles closed to make room or for being idle.", float64(s.Evictions)),
		counter("tenancy_connections_idle_evictions_total", "Tenant database handles closed for being idle.", float64(s.IdleEvictions)),
	}
}

// requestFamilies are the request counter and latency histogram, with the
// MaxTenantLabels busiest tenants under their own id and the others summed
// under OtherTenant.
func requestFamilies(stats []tenancy.RequestStats) []*family {
	slices.SortFunc(stats, func(a, b tenancy.RequestStats) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return cmp.Compare(a.TenantID, b.TenantID)
	})
	upper := make([]float64, len(tenancy.LatencyBuckets))
	for i, d := range tenancy.LatencyBuckets {
		upper[i] = d.Seconds()
	}
	reqs := newFamily("tenancy_http_requests_total", "HTTP requests served to tenants by status class (ok is everything below 400).", counterType)
	lat := newFamily("tenancy_http_request_duration_seconds", "Latency of HTTP requests served to tenants.", histogramType)

	var other tenancy.RequestStats
	other.Buckets = make([]uint64, len(upper)+1)
	emit := func(tenant string, s tenancy.RequestStats) {
		ok := s.Requests - min(s.Requests, s.Errors4xx+s.Errors5xx)
		t := labelPair{"tenant", tenant}
		reqs.add(float64(ok), labelPair{"class", "ok"}, t)
		reqs.add(float64(s.Errors4xx), labelPair{"class", "4xx"}, t)
		reqs.add(float64(s.Errors5xx), labelPair{"class", "5xx"}, t)
		h := &histogram{upper: upper, counts: make([]uint64, len(upper)), sum: s.LatencySum.Seconds()}
		var cum uint64
		for i, n := range s.Buckets {
			cum += n
			if i < len(upper) {
				h.counts[i] = cum
			}
		}
		h.count = cum
		lat.addHistogram(h, t)
	}
	for i, s := range stats {
		if i < MaxTenantLabels {
			emit(strconv.FormatInt(s.TenantID, 10), s)
			continue
		}
		other.Requests += s.Requests
		other.Errors4xx += s.Errors4xx
		other.Errors5xx += s.Errors5xx
		other.LatencySum += s.LatencySum
		for j, n := range s.Buckets {
			if j < len(other.Buckets) {
				other.Buckets[j] += n
			}
		}
	}
	if len(stats) > MaxTenantLabels {
		emit(OtherTenant, other)
	}
	return []*family{reqs, lat}
}
