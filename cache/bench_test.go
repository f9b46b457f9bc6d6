package cache_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/gotenancy/tenancy/cache"
)

const benchTenant = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"

func BenchmarkGetHit(b *testing.B) {
	ctx := context.Background()
	m := newMemory(b, nil)
	c := m.For(benchTenant)
	if err := c.Set(ctx, "session:42", make([]byte, 64), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := c.Get(ctx, "session:42"); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkGetHitParallel is BenchmarkGetHit from GOMAXPROCS goroutines,
// each taking the namespace with For as a request would.
func BenchmarkGetHitParallel(b *testing.B) {
	ctx := context.Background()
	m := newMemory(b, nil)
	if err := m.For(benchTenant).Set(ctx, "session:42", make([]byte, 64), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := m.For(benchTenant).Get(ctx, "session:42"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	ctx := context.Background()
	m := newMemory(b, nil)
	c := m.For(benchTenant)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	value := make([]byte, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Set(ctx, keys[i%len(keys)], value, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFlushTenant flushes a tenant holding 1k and 100k entries: the
// time per flush does not depend on the number of entries.
func BenchmarkFlushTenant(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m := newMemory(b, &cache.MemoryConfig{MaxEntries: 2 * n})
			c := m.For(benchTenant)
			for i := range n {
				if err := c.Set(ctx, strconv.Itoa(i), []byte("v"), 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.FlushTenant(ctx, benchTenant); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
