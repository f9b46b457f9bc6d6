package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/internal/envelope"
	"github.com/gotenancy/tenancy/tenantdb"
)

// AdminPrefix is the path under which AdminHandler serves.
const AdminPrefix = "/admin/monitoring/"

// Limits of GET /admin/monitoring/tenant-stats?limit=.
const (
	DefaultTenantStatsLimit = 100
	MaxTenantStatsLimit     = 1000
)

// TenantStats are one tenant's request figures on this node: counts,
// shares and the 95th percentile over the whole uptime, the rate over the
// latest sample interval.
type TenantStats struct {
	// UUID and Name identify the tenant ("" when the tenant directory does
	// not know it yet, or it was deleted).
	UUID string `json:"uuid"`
	Name string `json:"name"`
	// Status and Maintenance are the tenant's state at the directory's
	// last read (GET .../tenant-stats/{tenantId}: now).
	Status      tenancy.Status `json:"status,omitempty"`
	Maintenance bool           `json:"maintenance"`
	// Total, Errors4xx and Errors5xx count requests since the process
	// started.
	Total     uint64 `json:"total"`
	Errors4xx uint64 `json:"errors_4xx"`
	Errors5xx uint64 `json:"errors_5xx"`
	// PerSecond is the request rate over the latest sample interval.
	PerSecond float64 `json:"per_second"`
	// P95Ms is the 95th percentile latency since the process started,
	// estimated from the latency histogram and, like
	// RequestFigures.P95Ms, capped at its last bound (5000 means 5 s or
	// more); AvgMs the mean.
	P95Ms float64 `json:"p95_ms"`
	AvgMs float64 `json:"avg_ms"`
	// ErrorRate and ClientErrorRate are the shares (0…1) of 5xx and 4xx
	// answers since the process started.
	ErrorRate       float64 `json:"error_rate"`
	ClientErrorRate float64 `json:"client_error_rate"`
	// LastAccess is the tenant's last request on this node (or, for one
	// tenant, the catalog's last access); nil when none is known.
	LastAccess *time.Time `json:"last_access"`
}

// TenantDetail is GET /admin/monitoring/tenant-stats/{tenantId}: a
// tenant's request figures, its domains and its database.
type TenantDetail struct {
	TenantStats
	Domains []string `json:"domains"`
	// Database is the tenant database's size, tables and migration
	// version; when it could not be measured, DatabaseError says so (the
	// cause, which may name paths, goes to the server's log).
	Database      *tenancy.DatabaseStats `json:"database,omitempty"`
	DatabaseError string                 `json:"database_error,omitempty"`
}

// ConnectionReport is GET /admin/monitoring/connections: the tenant
// connection manager's figures and the databases it holds open.
type ConnectionReport struct {
	tenantdb.ConnStats
	// BudgetUse is Open/MaxOpen (0…1).
	BudgetUse float64 `json:"budget_use"`
	// HitRatio is hits/(hits+misses) since the process started;
	// IntervalHitRatio over the latest sample interval. Each is -1 when
	// unknown (no acquires, no sample).
	HitRatio         float64 `json:"hit_ratio"`
	IntervalHitRatio float64 `json:"interval_hit_ratio"`
	// OpenDatabases names the open tenant databases, sorted.
	OpenDatabases []string `json:"open_databases"`
}

// SystemStats is GET /admin/monitoring/system-stats: the process's figures
// of the latest sample.
type SystemStats struct {
	Process       ProcessFigures `json:"process"`
	Runtime       RuntimeFigures `json:"runtime"`
	Disk          DiskFigures    `json:"disk"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Node          string         `json:"node"`
	Time          time.Time      `json:"time"`
}

// AlertReport is GET /admin/monitoring/alerts.
type AlertReport struct {
	// Configured is false when the monitor has no alert source.
	Configured bool `json:"configured"`
	// Active are the conditions that have not ended.
	Active []alert.Event `json:"active"`
	// History are the recent events, newest first.
	History []alert.Event `json:"history"`
}

// ClearReport is DELETE /admin/monitoring/clear-caches, which clears the
// monitor's own memos, never the application's tenant cache.
type ClearReport struct {
	// Cleared names what was cleared: "history" (the kept samples are
	// forgotten), "disk_usage" (the data directory is walked again) and
	// "tenant_directory" (the tenant directory is read again from the
	// catalog; until then the last read's names and maintenance count
	// stay).
	Cleared []string `json:"cleared"`
	// HistorySamples is the number of samples forgotten.
	HistorySamples int `json:"history_samples"`
}

// databaseErrorMessage is TenantDetail.DatabaseError.
const databaseErrorMessage = "The tenant database could not be measured. The server's log has the details."

// adminJSON writes the JSON answers of the admin routes: the REST API's
// envelope, buffered with Content-Length, headers only for HEAD.
var adminJSON = &envelope.Writer{ContentLength: true}

// httpError is an error with its answer.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

// AdminHandler serves the live monitoring under AdminPrefix, for signed-in
// administrators (it checks no credentials itself: mount it behind the
// admin sign-in):
//
//	GET    /admin/monitoring/dashboard                 the page; the latest Snapshot as JSON with Accept: application/json or ?format=json
//	GET    /admin/monitoring/stream                    Server-Sent Events: "history", then "sample" per sample
//	GET    /admin/monitoring/system-stats              SystemStats
//	GET    /admin/monitoring/tenant-stats?limit=       []TenantStats of the tenants with requests, busiest first
//	GET    /admin/monitoring/tenant-stats/{tenantId}   TenantDetail (uuid or domain)
//	GET    /admin/monitoring/connections               ConnectionReport
//	GET    /admin/monitoring/alerts                    AlertReport
//	DELETE /admin/monitoring/clear-caches              ClearReport (the monitor's memos, not the tenant cache)
//
// JSON answers use the REST API's envelope ({"success":true,"data":…,
// "timestamp":…}; errors {"success":false,"error","message","code",…}).
func (m *Monitor) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	get := []string{http.MethodGet, http.MethodHead}
	route := func(path string, methods []string, h func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(AdminPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			if !slices.Contains(methods, r.Method) {
				w.Header().Set("Allow", strings.Join(methods, ", "))
				writeError(w, r, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here; use %s.", r.Method, strings.Join(methods, " or "))})
				return
			}
			if err := h(w, r); err != nil {
				m.writeError(w, r, err)
			}
		})
	}
	route("{$}", get, func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, AdminPrefix+"dashboard", http.StatusSeeOther)
		return nil
	})
	route("dashboard", get, m.dashboard)
	route("dashboard.js", get, serveAsset("dashboard.js", "text/javascript; charset=utf-8"))
	route("dashboard.css", get, serveAsset("dashboard.css", "text/css; charset=utf-8"))
	route("stream", []string{http.MethodGet}, func(w http.ResponseWriter, r *http.Request) error {
		m.stream(w, r)
		return nil
	})
	route("system-stats", get, m.systemStats)
	route("tenant-stats", get, m.tenantStats)
	route("tenant-stats/{tenantId}", get, m.tenantDetail)
	route("connections", get, m.connections)
	route("alerts", get, m.alerts)
	route("clear-caches", []string{http.MethodDelete}, m.clearCaches)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, &httpError{http.StatusNotFound, "There is no monitoring route " + r.URL.Path + "."})
	})
	return mux
}

// writeEnvelope writes a success envelope.
func writeEnvelope(w http.ResponseWriter, r *http.Request, data, meta any) error {
	adminJSON.WriteSuccess(w, r, http.StatusOK, data, meta, "")
	return nil
}

// internalErrorMessage answers the errors that have no answer of their own.
const internalErrorMessage = "The monitoring figures could not be read. The server's log has the details."

// writeError renders err as the error envelope. An error that has no
// answer of its own (not an *httpError) is logged and answered 500 with a
// fixed message: its text may hold paths and driver detail, which even a
// read-only API key must not see.
func (m *Monitor) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		if r.Context().Err() == nil {
			m.log.Error("monitor: a monitoring route failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		he = &httpError{http.StatusInternalServerError, internalErrorMessage}
	}
	writeError(w, r, he)
}

// writeError renders he as the error envelope.
func writeError(w http.ResponseWriter, r *http.Request, he *httpError) {
	adminJSON.WriteError(w, r, he.status, he.message, nil, nil)
}

// wantsJSON reports whether the request asks for JSON rather than HTML:
// ?format=json, or an Accept header ranking application/json above
// text/html.
func wantsJSON(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "json":
		return true
	case "html":
		return false
	}
	var qJSON, qHTML float64
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json":
			qJSON = max(qJSON, q)
		case "text/html":
			qHTML = max(qHTML, q)
		}
	}
	return qJSON > qHTML
}

// dashboard serves GET /admin/monitoring/dashboard.
func (m *Monitor) dashboard(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r) {
		m.latestOrSample(r.Context())
		e, ok := m.ring.latest()
		if !ok { // the history was cleared meanwhile
			return writeEnvelope(w, r, m.sample(r.Context(), false), nil)
		}
		adminJSON.WriteRawSuccess(w, r, http.StatusOK, e.json)
		return nil
	}
	return m.dashboardPage(w, r)
}

// systemStats serves GET /admin/monitoring/system-stats.
func (m *Monitor) systemStats(w http.ResponseWriter, r *http.Request) error {
	s := m.latestOrSample(r.Context())
	return writeEnvelope(w, r, SystemStats{
		Process: s.Process, Runtime: s.Runtime, Disk: s.Disk,
		UptimeSeconds: s.UptimeSeconds, Node: s.Node, Time: s.Time,
	}, nil)
}

// tenantStats serves GET /admin/monitoring/tenant-stats.
func (m *Monitor) tenantStats(w http.ResponseWriter, r *http.Request) error {
	limit := DefaultTenantStatsLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("limit must be a whole number from 1 to %d.", MaxTenantStatsLimit)}
		}
		limit = min(n, MaxTenantStatsLimit)
	}
	var stats []tenancy.RequestStats
	if m.cfg.Metrics != nil {
		stats = m.cfg.Metrics.Snapshot()
	}
	slices.SortFunc(stats, func(a, b tenancy.RequestStats) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return cmp.Compare(a.TenantID, b.TenantID)
	})
	total := len(stats)
	stats = stats[:min(len(stats), limit)]
	ids := make([]int64, len(stats))
	for i, st := range stats {
		ids[i] = st.TenantID
	}
	infos := m.tenantInfos(r.Context(), ids, true)
	var latest map[int64]tenantSample
	if p := m.tenantSamples.Load(); p != nil {
		latest = *p
	}
	out := make([]TenantStats, len(stats))
	for i, st := range stats {
		out[i] = tenantStats(st, latest[st.TenantID].rate)
		info := infos[st.TenantID]
		out[i].UUID, out[i].Name, out[i].Status, out[i].Maintenance = info.uuid, info.name, info.status, info.maintenance
	}
	return writeEnvelope(w, r, out, map[string]int{"total": total, "limit": limit})
}

// tenantStats are the figures since start of one tenant's counters.
func tenantStats(st tenancy.RequestStats, rate float64) TenantStats {
	ts := TenantStats{
		Total: st.Requests, Errors4xx: st.Errors4xx, Errors5xx: st.Errors5xx,
		PerSecond:       rate,
		P95Ms:           round3(quantileMs(0.95, st.Buckets)),
		ErrorRate:       ratio(st.Errors5xx, st.Requests),
		ClientErrorRate: ratio(st.Errors4xx, st.Requests),
	}
	if st.Requests > 0 {
		ts.AvgMs = round3(ms(st.LatencySum) / float64(st.Requests))
	}
	if !st.LastAccess.IsZero() {
		at := st.LastAccess
		ts.LastAccess = &at
	}
	return ts
}

// tenantDetail serves GET /admin/monitoring/tenant-stats/{tenantId}.
func (m *Monitor) tenantDetail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ref := r.PathValue("tenantId")
	t, err := m.cfg.Manager.Get(ctx, ref)
	var ve *tenancy.ValidationError
	switch {
	case errors.Is(err, tenancy.ErrNotFound), errors.As(err, &ve):
		return &httpError{http.StatusNotFound, fmt.Sprintf("No tenant has the uuid or domain %q.", ref)}
	case err != nil:
		return err
	}
	var st tenancy.RequestStats
	if m.cfg.Metrics != nil {
		st, _ = m.cfg.Metrics.Tenant(t.ID)
	}
	var rate float64
	if p := m.tenantSamples.Load(); p != nil {
		rate = (*p)[t.ID].rate
	}
	d := TenantDetail{TenantStats: tenantStats(st, rate), Domains: make([]string, 0, len(t.Domains))}
	d.UUID, d.Name, d.Status, d.Maintenance = t.UUID, t.Name, t.Status, t.Maintenance
	if d.LastAccess == nil && t.LastAccessedAt != nil {
		at := t.LastAccessedAt.UTC()
		d.LastAccess = &at
	}
	for _, dom := range t.Domains {
		d.Domains = append(d.Domains, dom.Domain)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ds, err := m.cfg.Manager.DatabaseStats(dctx, t); err != nil {
		if ctx.Err() == nil {
			m.log.Warn("monitor: measuring a tenant database", "tenant", t.UUID, "err", err)
		}
		d.DatabaseError = databaseErrorMessage
	} else {
		d.Database = &ds
	}
	return writeEnvelope(w, r, d, nil)
}

// connections serves GET /admin/monitoring/connections.
func (m *Monitor) connections(w http.ResponseWriter, r *http.Request) error {
	rep := ConnectionReport{OpenDatabases: []string{}}
	dbs := m.cfg.Manager.Databases()
	rep.ConnStats = dbs.Stats()
	rep.OpenDatabases = dbs.Open()
	slices.Sort(rep.OpenDatabases)
	rep.BudgetUse = ratio(uint64(rep.Open), uint64(rep.MaxOpen))
	rep.HitRatio, rep.IntervalHitRatio = knownRatio(rep.Hits, rep.Hits+rep.Misses), -1
	if s, ok := m.Latest(); ok {
		rep.IntervalHitRatio = s.Connections.HitRatio
	}
	return writeEnvelope(w, r, rep, nil)
}

// alertReport reads the alert source.
func (m *Monitor) alertReport() AlertReport {
	rep := AlertReport{Active: []alert.Event{}, History: []alert.Event{}}
	if m.cfg.Alerts == nil {
		return rep
	}
	rep.Configured = true
	rep.Active = append(rep.Active, m.cfg.Alerts.Active()...)
	rep.History = append(rep.History, m.cfg.Alerts.History()...)
	newestFirst := func(a, b alert.Event) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	}
	slices.SortStableFunc(rep.Active, newestFirst)
	slices.SortStableFunc(rep.History, newestFirst)
	return rep
}

// alerts serves GET /admin/monitoring/alerts.
func (m *Monitor) alerts(w http.ResponseWriter, r *http.Request) error {
	return writeEnvelope(w, r, m.alertReport(), nil)
}

// clearCaches serves DELETE /admin/monitoring/clear-caches: the monitor's
// own memos are cleared (the history is forgotten, the data directory is
// walked and the tenant directory read again). The application's tenant
// cache is not touched, and the tenant counts keep their last values.
func (m *Monitor) clearCaches(w http.ResponseWriter, r *http.Request) error {
	rep := ClearReport{Cleared: []string{"history", "disk_usage", "tenant_directory"}}
	m.sampleMu.Lock()
	rep.HistorySamples = m.ring.clear()
	m.sampleMu.Unlock()
	m.resetDisk()
	m.resetDirectory()
	return writeEnvelope(w, r, rep, nil)
}
