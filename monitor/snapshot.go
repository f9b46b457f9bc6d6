package monitor

import (
	"time"

	"github.com/gotenancy/tenancy"
)

// Snapshot is one sample of a node's figures: what the monitoring
// dashboard draws, what its Server-Sent Events stream carries and what
// GET /admin/monitoring/dashboard answers (inside the JSON envelope's
// "data"). Every figure is measured on this node; rates, percentiles and
// ratios cover the interval since the previous sample.
//
// A figure that is not known is never 0: the signed figures documented so
// are -1 (hit ratios of an interval without lookups, tenant counts before
// the catalog answered, disk figures not measured), and the unsigned
// memory figures are 0, which they cannot otherwise be. The dashboard
// shows them as "—".
type Snapshot struct {
	// Time is when the sample was taken.
	Time time.Time `json:"time"`
	// Node is the host name of the process that took it.
	Node string `json:"node"`
	// IntervalSeconds is the time since the previous sample (the window of
	// the rates below); 0 on the first sample.
	IntervalSeconds float64 `json:"interval_seconds"`
	// UptimeSeconds is the time since the process started.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Requests are the tenant requests of all tenants together.
	Requests RequestFigures `json:"requests"`
	// TopTenants are the busiest tenants of the interval (at most
	// TopTenantCount), by requests.
	TopTenants []TenantFigures `json:"top_tenants"`
	// Tenants counts the catalog's tenants by status (the last counts when
	// the catalog does not answer).
	Tenants TenantCounts `json:"tenants"`
	// Connections are the tenant connection manager's figures.
	Connections ConnectionFigures `json:"connections"`
	// Cache are the tenant cache's figures.
	Cache CacheFigures `json:"cache"`
	// Resolver are the host resolution cache's figures.
	Resolver ResolverFigures `json:"resolver"`
	// Process are the operating system's figures for this process.
	Process ProcessFigures `json:"process"`
	// Runtime are the Go runtime's figures.
	Runtime RuntimeFigures `json:"runtime"`
	// Disk is the data directory's disk use.
	Disk DiskFigures `json:"disk"`
	// AlertsActive counts the alert conditions active when the sample was
	// taken (0 without an alert source).
	AlertsActive int `json:"alerts_active"`
}

// TopTenantCount is the number of tenants in Snapshot.TopTenants.
const TopTenantCount = 10

// RequestFigures describe tenant requests: counts since the process started,
// rates and latency over the sample interval.
type RequestFigures struct {
	// Total counts requests since the process started.
	Total uint64 `json:"total"`
	// Errors4xx and Errors5xx count responses with those classes since the
	// process started.
	Errors4xx uint64 `json:"errors_4xx"`
	Errors5xx uint64 `json:"errors_5xx"`
	// PerSecond is the request rate over the interval.
	PerSecond float64 `json:"per_second"`
	// P95Ms is the 95th percentile latency over the interval in
	// milliseconds, estimated from the latency histogram's buckets; 0 when
	// the interval had no request. It is capped at the histogram's last
	// bound (the last of tenancy.LatencyBuckets, 5 s): 5000 means 5 s or
	// more.
	P95Ms float64 `json:"p95_ms"`
	// ErrorRate is the share (0…1) of the interval's requests answered
	// with a 5xx status.
	ErrorRate float64 `json:"error_rate"`
	// ClientErrorRate is the share (0…1) answered with a 4xx status.
	ClientErrorRate float64 `json:"client_error_rate"`
}

// TenantFigures are one tenant's request figures.
type TenantFigures struct {
	// UUID and Name identify the tenant; both are "" when the tenant is
	// unknown to the monitor's tenant directory: not read into it yet (a
	// new tenant, or the directory's first read has not succeeded), or
	// deleted from the catalog.
	UUID string `json:"uuid"`
	Name string `json:"name"`
	RequestFigures
}

// TenantCounts counts tenants by status; Maintenance counts tenants in
// maintenance mode whatever their status. In a Snapshot, Total and the
// status counts are -1 until the catalog's count first succeeded, and
// Maintenance is -1 until the tenant directory's first read succeeded
// (both keep their last values while the catalog fails afterwards).
type TenantCounts struct {
	Total       int `json:"total"`
	Active      int `json:"active"`
	Inactive    int `json:"inactive"`
	Suspended   int `json:"suspended"`
	Blocked     int `json:"blocked"`
	Maintenance int `json:"maintenance"`
}

// CountsByStatus turns the catalog's counts by status
// (Manager.CountByStatus) into TenantCounts; Maintenance is left 0, the
// catalog does not count it by status.
func CountsByStatus(counts map[tenancy.Status]int) TenantCounts {
	c := TenantCounts{
		Active:    counts[tenancy.StatusActive],
		Inactive:  counts[tenancy.StatusInactive],
		Suspended: counts[tenancy.StatusSuspended],
		Blocked:   counts[tenancy.StatusBlocked],
	}
	for _, n := range counts {
		c.Total += n
	}
	return c
}

// ConnectionFigures are the tenant connection manager's figures.
type ConnectionFigures struct {
	// Open, InUse and Budget are the open tenant databases, those in use
	// and the budget (the most that may be open).
	Open   int `json:"open"`
	InUse  int `json:"in_use"`
	Budget int `json:"budget"`
	// BudgetUse is Open/Budget (0…1).
	BudgetUse float64 `json:"budget_use"`
	// Hits, Misses and Evictions count since the process started.
	Hits      uint64 `json:"hits"`
	Misses    uint64 `json:"misses"`
	Evictions uint64 `json:"evictions"`
	// HitRatio is hits/(hits+misses) over the interval; -1 when unknown:
	// no acquires in the interval, the first sample, or no connection
	// manager.
	HitRatio float64 `json:"hit_ratio"`
}

// CacheFigures are the tenant cache's figures.
type CacheFigures struct {
	// Hits and Misses count gets since the process started.
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	// Entries estimates the entries stored.
	Entries int64 `json:"entries"`
	// HitRatio is hits/(hits+misses) over the interval; -1 when unknown:
	// no gets in the interval, the first sample, or no cache.
	HitRatio float64 `json:"hit_ratio"`
}

// ResolverFigures are the host resolution cache's figures.
type ResolverFigures struct {
	// Hits and Misses count host lookups since the process started.
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	// Domains is the number of domains in the snapshot.
	Domains int `json:"domains"`
	// HitRatio is hits/(hits+misses) over the interval; -1 when unknown:
	// no lookups in the interval, the first sample, or no resolver.
	HitRatio float64 `json:"hit_ratio"`
}

// ProcessFigures are the operating system's figures for this process.
type ProcessFigures struct {
	// PID is the process id.
	PID int `json:"pid"`
	// RSSBytes is the resident memory; 0 when unknown (it is measured on
	// Linux only).
	RSSBytes uint64 `json:"rss_bytes"`
	// MemoryLimitBytes is the memory available to the process (the cgroup
	// limit, else the machine's memory); 0 when unknown.
	MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
	// MemoryUse is RSSBytes/MemoryLimitBytes (0…1); 0 when unknown.
	MemoryUse float64 `json:"memory_use"`
	// CPUSeconds is the user and system CPU time used since start.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is the CPU used over the interval, where 100 is one core.
	CPUPercent float64 `json:"cpu_percent"`
	// CPUs is the number of CPUs the process may use.
	CPUs int `json:"cpus"`
	// OpenFiles counts the process's open file descriptors (-1 when
	// unknown).
	OpenFiles int `json:"open_files"`
}

// RuntimeFigures are the Go runtime's figures.
type RuntimeFigures struct {
	GoVersion      string  `json:"go_version"`
	Goroutines     int     `json:"goroutines"`
	HeapAllocBytes uint64  `json:"heap_alloc_bytes"`
	HeapSysBytes   uint64  `json:"heap_sys_bytes"`
	SysBytes       uint64  `json:"sys_bytes"`
	NumGC          uint32  `json:"num_gc"`
	GCPauseTotalMs float64 `json:"gc_pause_total_ms"`
}

// DiskFigures are the data directory's disk use. UsedBytes comes from a walk
// of the directory, which is repeated at most every DiskWalkInterval.
type DiskFigures struct {
	// DataDir is Config.DataDir; "" when there is none, and then every
	// figure below is unknown.
	DataDir string `json:"data_dir"`
	// UsedBytes and Files are the size and number of the regular files
	// under DataDir at the last walk; -1 until a walk ended (and without a
	// DataDir).
	UsedBytes int64 `json:"used_bytes"`
	Files     int   `json:"files"`
	// FreeBytes is the space available to unprivileged users on DataDir's
	// file system now (FreeBytes); -1 when it cannot be measured (no
	// statfs, an error, or no DataDir).
	FreeBytes int64 `json:"free_bytes"`
	// MeasuredAt is when the last walk ended; zero until one did.
	MeasuredAt time.Time `json:"measured_at"`
}

// DiskWalkInterval is how often the data directory is walked for
// DiskFigures.UsedBytes.
const DiskWalkInterval = 30 * time.Second
