package resolve_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/storetest"
)

// newBenchEnv is a catalog of 1,000 tenants (t0.test … t999.test, written
// straight to the store: no tenant databases are needed) and a Cache.
func newBenchEnv(b *testing.B) *env { return newBenchEnvOf(b, 1000) }

// newBenchEnvOf is newBenchEnv with n tenants.
func newBenchEnvOf(b *testing.B, n int) *env {
	b.Helper()
	e := &env{dir: b.TempDir()}
	e.store, e.mgr = openManager(b, e.dir)
	ctx := context.Background()
	for i := range n {
		if err := e.store.CreateTenant(ctx, storetest.NewTenant(fmt.Sprint("T", i), fmt.Sprintf("t%d.test", i))); err != nil {
			b.Fatal(err)
		}
	}
	var err error
	if e.cache, err = resolve.NewCache(ctx, e.mgr, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.cache.Close() })
	return e
}

// BenchmarkByHostHit is the request hot path: a known host, as browsers
// send it, with and without a port. It must not allocate.
func BenchmarkByHostHit(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, host := range []string{"t500.test", "t500.test:8080"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.cache.ByHost(ctx, host); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// For comparison: hosts the fast path declines go through
	// tenancy.NormalizeDomain.
	b.Run("T500.Test:8080", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.cache.ByHost(ctx, "T500.Test:8080"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkByHostHitTenants is the hit path over catalogs of 1,000 and
// 10,000 tenants: the lookup is a map read, so the figures match.
func BenchmarkByHostHitTenants(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1000, 10000} {
		e := newBenchEnvOf(b, n)
		host := fmt.Sprintf("t%d.test", n/2)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.cache.ByHost(ctx, host); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkByHostHitParallel is the hot path on every core at once.
func BenchmarkByHostHitParallel(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.cache.ByHost(ctx, "t500.test:8080"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkByHostMissNegative is an unknown host asked again: the negative
// cache answers, the store is not queried.
func BenchmarkByHostMissNegative(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	if _, err := e.cache.ByHost(ctx, "nobody.test"); err == nil {
		b.Fatal("nobody.test found")
	}
	lookups := e.cache.Stats().StoreLookups
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.cache.ByHost(ctx, "nobody.test:8080"); err == nil {
			b.Fatal("nobody.test found")
		}
	}
	if e.cache.Stats().StoreLookups != lookups {
		b.Fatal("a negative-cached host reached the store")
	}
}

// BenchmarkStoreLookup is the baseline the Cache saves: Manager.Get, one
// query of the SQLite catalog.
func BenchmarkStoreLookup(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.mgr.Get(ctx, "t500.test"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveRequest is the whole chain for a request to a tenant host.
func BenchmarkResolveRequest(b *testing.B) {
	e := newBenchEnv(b)
	chain, err := resolve.NewChain(&resolve.ChainConfig{Cache: e.cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("domain", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/notes", nil)
		r.Host = "t500.test:8080"
		b.ReportAllocs()
		for b.Loop() {
			if t, _, err := chain.ResolveRequest(r); err != nil || t == nil {
				b.Fatal(t, err)
			}
		}
	})
	b.Run("central", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/admin", nil)
		r.Host = "localhost:8080"
		b.ReportAllocs()
		for b.Loop() {
			if t, _, err := chain.ResolveRequest(r); err != nil || t != nil {
				b.Fatal(t, err)
			}
		}
	})
	b.Run("path", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/t/t500.test/notes", nil)
		r.Host = "localhost:8080"
		b.ReportAllocs()
		for b.Loop() {
			if t, _, err := chain.ResolveRequest(r); err != nil || t == nil {
				b.Fatal(t, err)
			}
		}
	})
}
