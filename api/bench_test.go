package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
)

// discardWriter is a ResponseWriter that keeps nothing but its headers,
// reset for each request.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

func (w *discardWriter) reset() {
	clear(w.h)
	w.code = 0
}

// BenchmarkGetTenant is GET /tenancy/tenants/{uuid} with a valid key
// through API.ServeHTTP: request id, rate limits, authentication (the key
// cache), routing, scope check, the resolver snapshot and the envelope.
func BenchmarkGetTenant(b *testing.B) {
	f := newFixture(b, fixtureOptions{resolver: true, config: func(c *Config) {
		c.RateLimit = RateLimitConfig{Enabled: true, Attempts: 1 << 30, Decay: time.Hour}
	}})
	tn := f.tenant("Acme Corporation", "acme.example.test", false)
	r := httptest.NewRequest("GET", "http://central.test/tenancy/tenants/"+tn.UUID, http.NoBody)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-API-Key", f.admin)
	w := &discardWriter{h: http.Header{}}
	f.api.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		f.api.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkGetTenantFromStore is BenchmarkGetTenant without a resolver:
// every request reads the tenant from the catalog through Manager.Get and
// encodes it.
func BenchmarkGetTenantFromStore(b *testing.B) {
	f := newFixture(b, fixtureOptions{config: func(c *Config) {
		c.RateLimit = RateLimitConfig{Enabled: true, Attempts: 1 << 30, Decay: time.Hour}
	}})
	tn := f.tenant("Acme Corporation", "acme.example.test", false)
	r := httptest.NewRequest("GET", "http://central.test/tenancy/tenants/"+tn.UUID, http.NoBody)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-API-Key", f.admin)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		f.api.ServeHTTP(w, r)
	}
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkBareHandler is the baseline of BenchmarkGetTenant: a handler
// that writes the same envelope of the same tenant, and nothing else.
func BenchmarkBareHandler(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	tn := f.tenant("Acme Corporation", "acme.example.test", false)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(&envelope{Success: true, Data: tn, Timestamp: time.Now().UTC().Format(time.RFC3339)})
	})
	r := httptest.NewRequest("GET", "http://central.test/tenancy/tenants/"+tn.UUID, http.NoBody)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
}

// BenchmarkGetTenantVsBare runs the two handlers of BenchmarkGetTenant and
// BenchmarkBareHandler in alternating batches, so that load on the machine
// weighs on both alike, and reports the API's throughput as a share of the
// bare handler's (api/bare) and each one's ns per request.
func BenchmarkGetTenantVsBare(b *testing.B) {
	f := newFixture(b, fixtureOptions{resolver: true, config: func(c *Config) {
		c.RateLimit = RateLimitConfig{Enabled: true, Attempts: 1 << 30, Decay: time.Hour}
	}})
	tn := f.tenant("Acme Corporation", "acme.example.test", false)
	r := httptest.NewRequest("GET", "http://central.test/tenancy/tenants/"+tn.UUID, http.NoBody)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-API-Key", f.admin)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(&envelope{Success: true, Data: tn, Timestamp: time.Now().UTC().Format(time.RFC3339)})
	})
	w := &discardWriter{h: http.Header{}}
	const batch = 200
	var apiTime, bareTime time.Duration
	ops := 0
	for b.Loop() {
		start := time.Now()
		for range batch {
			w.reset()
			f.api.ServeHTTP(w, r)
		}
		apiTime += time.Since(start)
		start = time.Now()
		for range batch {
			w.reset()
			bare.ServeHTTP(w, r)
		}
		bareTime += time.Since(start)
		ops += batch
	}
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
	b.ReportMetric(float64(bareTime)/float64(apiTime), "api/bare")
	b.ReportMetric(float64(apiTime.Nanoseconds())/float64(ops), "api-ns/req")
	b.ReportMetric(float64(bareTime.Nanoseconds())/float64(ops), "bare-ns/req")
}

// BenchmarkSearch10k is GET /tenancy/tenants?search=… over 10,000 tenants,
// each search matching a few of them by name. It reports the 99th
// percentile of the requests' durations as p99-ms.
func BenchmarkSearch10k(b *testing.B) {
	const n = 10_000
	f := newFixture(b, fixtureOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				_, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprintf("Company %05d", i), Domain: fmt.Sprintf("c%05d.example.test", i)})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	w := &discardWriter{h: http.Header{}}
	var durations []time.Duration
	i := 0
	for b.Loop() {
		r := httptest.NewRequest("GET", fmt.Sprintf("http://central.test/tenancy/tenants?search=%04d", i%1000), http.NoBody)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("X-API-Key", f.admin)
		w.reset()
		start := time.Now()
		f.api.ServeHTTP(w, r)
		durations = append(durations, time.Since(start))
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
		i++
	}
	slices.Sort(durations)
	p99 := durations[min(len(durations)-1, len(durations)*99/100)]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}
