package rediscache_test

import (
	"context"
	"testing"

	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// BenchmarkGetHit reads a 64-byte entry from the memory backend and from
// Redis (one EVALSHA round trip on loopback), side by side.
func BenchmarkGetHit(b *testing.B) {
	ctx := context.Background()
	mem, err := cache.NewMemory(nil)
	if err != nil {
		b.Fatal(err)
	}
	backends := []struct {
		name string
		b    cache.Backend
	}{
		{"memory", mem},
		{"redis", newCache(b, testenv.RedisURL(b), nil)},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			c := be.b.For(tenantA)
			if err := c.Set(ctx, "session:42", make([]byte, 64), 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, _ := c.Get(ctx, "session:42"); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkGetHitParallel is BenchmarkGetHit for Redis from GOMAXPROCS
// goroutines, each taking the namespace with For as a request would.
func BenchmarkGetHitParallel(b *testing.B) {
	ctx := context.Background()
	rc := newCache(b, testenv.RedisURL(b), nil)
	if err := rc.For(tenantA).Set(ctx, "session:42", make([]byte, 64), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := rc.For(tenantA).Get(ctx, "session:42"); !ok {
				b.Fatal("miss")
			}
		}
	})
}
