package api

import (
	"time"

	"github.com/gotenancy/tenancy"
)

// requestFigures are request metrics of tenant applications, as measured
// in memory by this process since it started.
type requestFigures struct {
	// Since is when counting started: the process start.
	Since     time.Time `json:"since"`
	Requests  uint64    `json:"total_requests"`
	Errors4xx uint64    `json:"errors_4xx"`
	Errors5xx uint64    `json:"errors_5xx"`
	// ErrorRate is the share of 5xx answers; ClientErrorRate of 4xx.
	ErrorRate       *float64 `json:"error_rate,omitempty"`
	ClientErrorRate *float64 `json:"client_error_rate,omitempty"`
	// AvgResponseMS is the mean time to answer.
	AvgResponseMS *float64 `json:"avg_response_time_ms,omitempty"`
	// The percentiles are upper bounds from the latency histogram: the
	// bound of the bucket holding the percentile (absent when it is in the
	// open-ended last bucket).
	P50MS *float64 `json:"p50_ms_at_most,omitempty"`
	P95MS *float64 `json:"p95_ms_at_most,omitempty"`
	P99MS *float64 `json:"p99_ms_at_most,omitempty"`
	// RequestsPerSecond is the mean rate since Since.
	RequestsPerSecond *float64   `json:"requests_per_second,omitempty"`
	LastAccess        *time.Time `json:"last_access,omitempty"`
	// Tenants is the number of tenants with requests (fleet figures only).
	Tenants *int `json:"tenants_with_requests,omitempty"`
}

// tenantRequests returns one tenant's figures, or nil without metrics.
func (a *API) tenantRequests(id int64) *requestFigures {
	if a.cfg.Metrics == nil {
		return nil
	}
	s, _ := a.cfg.Metrics.Tenant(id)
	s.TenantID = id
	return a.figures([]tenancy.RequestStats{s}, false)
}

// fleetRequests returns every tenant's figures summed, or nil without metrics.
func (a *API) fleetRequests() *requestFigures {
	if a.cfg.Metrics == nil {
		return nil
	}
	return a.figures(a.cfg.Metrics.Snapshot(), true)
}

// figures sums stats into figures.
func (a *API) figures(stats []tenancy.RequestStats, fleet bool) *requestFigures {
	f := &requestFigures{Since: a.cfg.StartedAt.UTC()}
	buckets := make([]uint64, len(tenancy.LatencyBuckets)+1)
	var sum time.Duration
	var last time.Time
	active := 0
	for _, s := range stats {
		f.Requests += s.Requests
		f.Errors4xx += s.Errors4xx
		f.Errors5xx += s.Errors5xx
		sum += s.LatencySum
		for i, n := range s.Buckets {
			if i < len(buckets) {
				buckets[i] += n
			}
		}
		if s.LastAccess.After(last) {
			last = s.LastAccess
		}
		if s.Requests > 0 {
			active++
		}
	}
	if fleet {
		f.Tenants = &active
	}
	if !last.IsZero() {
		f.LastAccess = &last
	}
	if up := a.sinceStart().Seconds(); up > 0 {
		rps := round3(float64(f.Requests) / up)
		f.RequestsPerSecond = &rps
	}
	if f.Requests == 0 {
		return f
	}
	n := float64(f.Requests)
	errRate := round6(float64(f.Errors5xx) / n)
	clientRate := round6(float64(f.Errors4xx) / n)
	avg := round3(durationMS(sum) / n)
	f.ErrorRate, f.ClientErrorRate, f.AvgResponseMS = &errRate, &clientRate, &avg
	f.P50MS = percentile(buckets, f.Requests, 0.50)
	f.P95MS = percentile(buckets, f.Requests, 0.95)
	f.P99MS = percentile(buckets, f.Requests, 0.99)
	return f
}

// percentile returns the upper bound, in milliseconds, of the histogram
// bucket that holds the p-th request; nil when that is the open last bucket.
func percentile(buckets []uint64, total uint64, p float64) *float64 {
	rank := uint64(float64(total)*p + 0.999999)
	rank = max(rank, 1)
	var seen uint64
	for i, n := range buckets {
		seen += n
		if seen >= rank {
			if i >= len(tenancy.LatencyBuckets) {
				return nil
			}
			ms := durationMS(tenancy.LatencyBuckets[i])
			return &ms
		}
	}
	return nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func round6(f float64) float64 { return float64(int64(f*1e6+0.5)) / 1e6 }
