package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/monitor"
)

// sizeMemoTTL is how long the fleet's database sizes, which cost a walk of
// the catalog, are reused.
const sizeMemoTTL = 10 * time.Second

// fleetSizes are the sizes of every tenant database.
type fleetSizes struct {
	MeasuredAt time.Time `json:"measured_at"`
	Tenants    int       `json:"tenants"`
	Domains    int       `json:"domains"`
	TotalBytes int64     `json:"total_database_size_bytes"`
	AvgBytes   *int64    `json:"avg_tenant_database_size_bytes,omitempty"`
	Largest    *largest  `json:"largest_tenant,omitempty"`
	// Unmeasured counts databases whose size could not be read.
	Unmeasured int `json:"unmeasured_databases,omitempty"`
}

type largest struct {
	UUID         string `json:"uuid"`
	Name         string `json:"name"`
	DatabaseName string `json:"database_name"`
	SizeBytes    int64  `json:"size_bytes"`
}

// sizeMemo reuses the last fleetSizes for sizeMemoTTL; concurrent callers
// wait for one measurement.
type sizeMemo struct {
	mu  sync.Mutex
	val *fleetSizes
}

// fleetSizes measures every tenant database (or reuses a recent measurement).
func (a *API) fleetSizes(ctx context.Context) (*fleetSizes, error) {
	a.sizes.mu.Lock()
	defer a.sizes.mu.Unlock()
	now := a.now()
	if v := a.sizes.val; v != nil && now.Sub(v.MeasuredAt) < sizeMemoTTL && !now.Before(v.MeasuredAt) {
		return v, nil
	}
	out := &fleetSizes{MeasuredAt: now.UTC()}
	measured := 0
	for page := 1; ; page++ {
		res, err := a.mgr.List(ctx, tenancy.ListOptions{Page: page, PerPage: tenancy.MaxPerPage, Sort: "created_at"})
		if err != nil {
			return nil, err
		}
		for _, t := range res.Tenants {
			out.Tenants++
			out.Domains += len(t.Domains)
			n, err := a.mgr.Databases().Size(ctx, t)
			if err != nil {
				out.Unmeasured++
				continue
			}
			measured++
			out.TotalBytes += n
			if out.Largest == nil || n > out.Largest.SizeBytes {
				out.Largest = &largest{UUID: t.UUID, Name: t.Name, DatabaseName: t.DatabaseName, SizeBytes: n}
			}
		}
		if len(res.Tenants) < res.PerPage || page >= res.LastPage() {
			break
		}
	}
	if measured > 0 {
		avg := out.TotalBytes / int64(measured)
		out.AvgBytes = &avg
	}
	a.sizes.val = out
	return out, nil
}

// statusCounts is the number of tenants in each status.
type statusCounts struct {
	Total     int `json:"total"`
	Active    int `json:"active"`
	Inactive  int `json:"inactive"`
	Suspended int `json:"suspended"`
	Blocked   int `json:"blocked"`
}

func (a *API) statusCounts(ctx context.Context) (statusCounts, error) {
	m, err := a.mgr.CountByStatus(ctx)
	if err != nil {
		return statusCounts{}, err
	}
	c := statusCounts{
		Active:    m[tenancy.StatusActive],
		Inactive:  m[tenancy.StatusInactive],
		Suspended: m[tenancy.StatusSuspended],
		Blocked:   m[tenancy.StatusBlocked],
	}
	for _, n := range m {
		c.Total += n
	}
	return c, nil
}

// memFigures are the process's memory figures from runtime.ReadMemStats.
type memFigures struct {
	AllocBytes      uint64  `json:"alloc_bytes"`
	TotalAllocBytes uint64  `json:"total_alloc_bytes"`
	SysBytes        uint64  `json:"sys_bytes"`
	HeapInuseBytes  uint64  `json:"heap_inuse_bytes"`
	HeapObjects     uint64  `json:"heap_objects"`
	NumGC           uint32  `json:"num_gc"`
	GCPauseTotalMS  float64 `json:"gc_pause_total_ms"`
	Goroutines      int     `json:"goroutines"`
}

func memory() memFigures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{
		AllocBytes:      ms.Alloc,
		TotalAllocBytes: ms.TotalAlloc,
		SysBytes:        ms.Sys,
		HeapInuseBytes:  ms.HeapInuse,
		HeapObjects:     ms.HeapObjects,
		NumGC:           ms.NumGC,
		GCPauseTotalMS:  durationMS(time.Duration(ms.PauseTotalNs)),
		Goroutines:      runtime.NumGoroutine(),
	}
}

// humanDuration writes d as its two largest units, like "5 days, 3 hours".
func humanDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	units := []struct {
		name string
		size time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"minute", time.Minute}, {"second", time.Second}}
	var parts []string
	for _, u := range units {
		n := int64(d / u.size)
		if n == 0 && (len(parts) == 0 && u.size != time.Second) {
			continue
		}
		d -= time.Duration(n) * u.size
		s := fmt.Sprintf("%d %ss", n, u.name)
		if n == 1 {
			s = fmt.Sprintf("1 %s", u.name)
		}
		parts = append(parts, s)
		if len(parts) == 2 {
			break
		}
	}
	return strings.Join(parts, ", ")
}

// dashboard serves GET /tenancy/dashboard.
func (a *API) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	counts, err := a.statusCounts(ctx)
	if err != nil {
		return err
	}
	sizes, err := a.fleetSizes(ctx)
	if err != nil {
		return err
	}
	conns := a.mgr.Databases().Stats()
	mem := memory()
	return a.ok(w, map[string]any{
		"tenants":     counts,
		"performance": a.fleetRequests(),
		"resources": map[string]any{
			"total_database_size_bytes": sizes.TotalBytes,
			"database_sizes_measured":   sizes.MeasuredAt,
			"memory_usage_bytes":        mem.SysBytes,
			"heap_inuse_bytes":          mem.HeapInuseBytes,
			"active_connections":        conns.InUse,
			"open_databases":            conns.Open,
		},
		"uptime_seconds": int64(a.sinceStart().Seconds()),
	}, "")
}

// stats serves GET /tenancy/stats. It carries both shapes the reference
// shows: the nested one and the flat one.
func (a *API) stats(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	counts, err := a.statusCounts(ctx)
	if err != nil {
		return err
	}
	sizes, err := a.fleetSizes(ctx)
	if err != nil {
		return err
	}
	up := a.sinceStart()
	out := map[string]any{
		"tenants":                   counts,
		"total_tenants":             counts.Total,
		"active_tenants":            counts.Active,
		"inactive_tenants":          counts.Inactive,
		"suspended_tenants":         counts.Suspended,
		"blocked_tenants":           counts.Blocked,
		"total_domains":             sizes.Domains,
		"total_database_size_bytes": sizes.TotalBytes,
		"total_database_size_mb":    round3(float64(sizes.TotalBytes) / (1 << 20)),
		"database":                  sizes,
		"connections":               a.mgr.Databases().Stats(),
		"system_uptime":             humanDuration(up),
		"uptime_seconds":            int64(up.Seconds()),
		"started_at":                a.cfg.StartedAt.UTC(),
	}
	if f := a.fleetRequests(); f != nil {
		out["performance"] = f
	}
	if a.cfg.Cache != nil {
		cs := a.cfg.Cache.Stats()
		out["cache"] = cs
		out["cache_keys"] = cs.Entries
	}
	if a.cfg.Jobs != nil {
		out["jobs"] = a.cfg.Jobs.Stats()
	}
	return a.ok(w, out, "")
}

// liveStats serves GET /tenancy/live-stats: the figures that are cheap to
// read, for polling.
func (a *API) liveStats(w http.ResponseWriter, r *http.Request) error {
	counts, err := a.statusCounts(r.Context())
	if err != nil {
		return err
	}
	out := map[string]any{
		"tenants":            counts,
		"uptime_seconds":     int64(a.sinceStart().Seconds()),
		"memory":             memory(),
		"connections":        a.mgr.Databases().Stats(),
		"fleet_jobs_running": a.jobs.runningCount(),
	}
	if f := a.fleetRequests(); f != nil {
		out["requests"] = f
	}
	if a.cfg.Jobs != nil {
		out["jobs"] = a.cfg.Jobs.Stats()
	}
	if a.cfg.Cache != nil {
		out["cache"] = a.cfg.Cache.Stats()
	}
	return a.ok(w, out, "")
}

// health serves GET /tenancy/health: 200 when every check passes, 503 with
// the same figures when one fails.
func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	checks := map[string]checkResult{}
	start := time.Now()
	_, err := a.mgr.CountByStatus(ctx)
	checks["catalog"] = result(start, err)
	if a.cfg.DataDir != "" {
		start = time.Now()
		fi, err := os.Stat(a.cfg.DataDir)
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		checks["data_dir"] = result(start, err)
	}
	healthy := true
	for _, c := range checks {
		healthy = healthy && c.OK
	}
	out := map[string]any{
		"status":         "healthy",
		"healthy":        healthy,
		"checks":         checks,
		"connections":    a.mgr.Databases().Stats(),
		"uptime_seconds": int64(a.sinceStart().Seconds()),
	}
	if a.cfg.Jobs != nil {
		out["jobs"] = a.cfg.Jobs.Stats()
	}
	if !healthy {
		out["status"] = "unhealthy"
		var failed []string
		for name, c := range checks {
			if !c.OK {
				failed = append(failed, name)
			}
		}
		slices.Sort(failed)
		return &apiError{Status: http.StatusServiceUnavailable, Message: "Failing checks: " + strings.Join(failed, ", ") + ".", Data: out}
	}
	return a.ok(w, out, "")
}

func result(start time.Time, err error) checkResult {
	c := checkResult{OK: err == nil, LatencyMS: durationMS(time.Since(start))}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}

// periods are the accepted values of /tenancy/performance?period=.
var periods = map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour}

// performance serves GET /tenancy/performance.
func (a *API) performance(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	period := q.oneOf("period", "hour", "hour", "day", "week", "month")
	id := q.uuid("tenant_uuid")
	if err := q.errs.err(); err != nil {
		return err
	}
	out := map[string]any{
		"period":         period,
		"period_seconds": int64(periods[period].Seconds()),
		"since":          a.cfg.StartedAt.UTC(),
		"uptime_seconds": int64(a.sinceStart().Seconds()),
		"note": "Request metrics are kept in memory since the process started (since); they are not kept per period, " +
			"so the figures cover the whole uptime whatever the period.",
	}
	if id != "" {
		t, err := a.mgr.Get(r.Context(), id)
		if err != nil {
			return err
		}
		out["tenant_uuid"] = t.UUID
		if f := a.tenantRequests(t.ID); f != nil {
			out["requests"] = f
		}
	} else if f := a.fleetRequests(); f != nil {
		out["requests"] = f
	}
	return a.ok(w, out, "")
}

// systemInfo serves GET /tenancy/system-info.
func (a *API) systemInfo(w http.ResponseWriter, r *http.Request) error {
	up := a.sinceStart()
	out := map[string]any{
		"go_version":     runtime.Version(),
		"os":             runtime.GOOS,
		"arch":           runtime.GOARCH,
		"cpus":           runtime.NumCPU(),
		"gomaxprocs":     runtime.GOMAXPROCS(0),
		"pid":            os.Getpid(),
		"started_at":     a.cfg.StartedAt.UTC(),
		"uptime_seconds": int64(up.Seconds()),
		"uptime":         humanDuration(up),
		"memory":         memory(),
	}
	if host, err := os.Hostname(); err == nil {
		out["hostname"] = host
	}
	if a.cfg.DataDir != "" {
		out["data_dir"] = a.cfg.DataDir
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		out["module"] = map[string]string{"path": bi.Main.Path, "version": bi.Main.Version}
	}
	return a.ok(w, out, "")
}

// resources serves GET /tenancy/resources.
func (a *API) resources(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	counts, err := a.statusCounts(ctx)
	if err != nil {
		return err
	}
	conns := a.mgr.Databases().Stats()
	out := map[string]any{
		"tenants":          counts.Total,
		"open_databases":   conns.Open,
		"databases_in_use": conns.InUse,
		"max_open":         conns.MaxOpen,
		"memory":           memory(),
	}
	if a.cfg.DataDir != "" {
		out["data_dir"] = a.cfg.DataDir
		if u, err := monitor.WalkDir(ctx, a.cfg.DataDir); err == nil {
			out["data_dir_usage"] = u
		} else {
			a.log.WarnContext(ctx, "api: measuring the data directory", "dir", a.cfg.DataDir, "err", err)
		}
	}
	return a.ok(w, out, "")
}

// connectionStats serves GET /tenancy/connection-stats.
func (a *API) connectionStats(w http.ResponseWriter, r *http.Request) error {
	names := a.mgr.Databases().Open()
	slices.Sort(names)
	return a.ok(w, map[string]any{"stats": a.mgr.Databases().Stats(), "open_databases": names}, "")
}

// optimizeConnections serves POST /tenancy/optimize-connections: every
// unused tenant database handle is closed.
func (a *API) optimizeConnections(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}); err != nil {
		return err
	}
	dbs := a.mgr.Databases()
	before := dbs.Stats()
	closed := dbs.CloseUnused()
	return a.ok(w, map[string]any{"closed": closed, "before": before, "after": dbs.Stats()},
		fmt.Sprintf("Closed %d unused database handles", closed))
}

// repairConnections serves POST /tenancy/repair-connections: open handles
// that fail a ping are forgotten, to be opened afresh.
func (a *API) repairConnections(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}); err != nil {
		return err
	}
	dbs := a.mgr.Databases()
	checked := len(dbs.Open())
	forgotten := dbs.Repair(r.Context())
	if forgotten == nil {
		forgotten = []string{}
	}
	return a.ok(w, map[string]any{"checked": checked, "forgotten": forgotten, "count": len(forgotten)},
		fmt.Sprintf("Forgot %d broken database handles", len(forgotten)))
}

type maintenanceBody struct {
	Message string `json:"message" doc:"Shown to visitors while the tenants are in maintenance."`
}

// maintenance serves POST /tenancy/maintenance/on and /off: every tenant's
// maintenance mode.
func (a *API) maintenance(on bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var b maintenanceBody
		if err := decodeBody(w, r, &b); err != nil {
			return err
		}
		if !on && b.Message != "" {
			return invalid("message", "is only for turning maintenance on")
		}
		n, err := a.mgr.SetMaintenanceAll(r.Context(), on, b.Message)
		if err != nil {
			return err
		}
		state := "off"
		if on {
			state = "on"
		}
		out := map[string]any{"maintenance": on, "changed": n}
		if on {
			out["message"] = strings.TrimSpace(b.Message)
		}
		return a.ok(w, out, fmt.Sprintf("Maintenance mode %s for %d tenants", state, n))
	}
}
