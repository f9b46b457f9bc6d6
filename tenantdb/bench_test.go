package tenantdb

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// naiveMap is the baseline: a mutex-guarded map of open handles, with no
// budget, no reference counting and no eviction.
type naiveMap struct {
	mu  sync.Mutex
	dbs map[string]*sql.DB
}

func (n *naiveMap) get(name string) *sql.DB {
	n.mu.Lock()
	db := n.dbs[name]
	n.mu.Unlock()
	return db
}

// benchOpen opens count databases in a manager with budget count and
// returns it with their names and the same handles in a naiveMap.
func benchOpen(b *testing.B, count int) (*ConnManager, *naiveMap, []string) {
	b.Helper()
	o := newCountingOpener(b)
	all := names("tenant", count)
	createAll(b, o.p, all)
	m := newManager(b, o, &ConnConfig{MaxOpen: count}) // default idle timeout: Release reads the clock
	naive := &naiveMap{dbs: make(map[string]*sql.DB, count)}
	for _, name := range all {
		h := acquire(b, m, name)
		naive.dbs[name] = h.DB()
		h.Release()
	}
	return m, naive, all
}

// BenchmarkHit measures Acquire+Release of an open handle (256 open,
// cycling through them) against a lookup in the naive map.
func BenchmarkHit(b *testing.B) {
	m, naive, all := benchOpen(b, 256)
	ctx := context.Background()
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h, err := m.Acquire(ctx, all[i&255])
			if err != nil {
				b.Fatal(err)
			}
			h.Release()
			i++
		}
		if s := m.Stats(); s.Misses != 256 {
			b.Fatalf("misses during the benchmark: %+v", s)
		}
	})
	b.Run("naive-map", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if naive.get(all[i&255]) == nil {
				b.Fatal("missing")
			}
			i++
		}
	})
}

// BenchmarkHitParallel is BenchmarkHit from GOMAXPROCS goroutines.
func BenchmarkHitParallel(b *testing.B) {
	m, naive, all := benchOpen(b, 256)
	ctx := context.Background()
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(256)
			for pb.Next() {
				h, err := m.Acquire(ctx, all[i&255])
				if err != nil {
					b.Error(err)
					return
				}
				h.Release()
				i++
			}
		})
	})
	b.Run("naive-map", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(256)
			for pb.Next() {
				if naive.get(all[i&255]) == nil {
					b.Error("missing")
					return
				}
				i++
			}
		})
	})
}

// BenchmarkAcquireParallel1000Budget256 acquires and releases random
// databases out of 1,000 with a budget of 256 from GOMAXPROCS goroutines,
// misses (a real SQLite open, and the close of the evicted handle)
// included. "uniform" picks every tenant alike (hit ratio about 25%);
// "skewed" draws from an exponential-like distribution where a few tenants
// are hot, as in most fleets.
func BenchmarkAcquireParallel1000Budget256(b *testing.B) {
	o := newCountingOpener(b)
	all := names("tenant", 1000)
	createAll(b, o.p, all)
	ctx := context.Background()
	pickers := []struct {
		name string
		pick func(r *rand.Rand) int
	}{
		{"uniform", func(r *rand.Rand) int { return r.IntN(1000) }},
		{"skewed", func(r *rand.Rand) int { return min(int(r.ExpFloat64()*100), 999) }},
	}
	for _, p := range pickers {
		b.Run(p.name, func(b *testing.B) {
			m := newManager(b, o, &ConnConfig{MaxOpen: 256, IdleTimeout: -1})
			// Warm up to the steady state: the budget full of what the
			// distribution favours.
			warm := rand.New(rand.NewPCG(0, 7))
			for range 3000 {
				h, err := m.Acquire(ctx, all[p.pick(warm)])
				if err != nil {
					b.Fatal(err)
				}
				h.Release()
			}
			start := m.Stats()
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 7))
				for pb.Next() {
					h, err := m.Acquire(ctx, all[p.pick(r)])
					if err != nil {
						b.Error(err)
						return
					}
					h.Release()
				}
			})
			b.StopTimer()
			s := m.Stats()
			if s.Open > 256 || o.maxLive.Load() > 256 {
				b.Fatalf("budget exceeded: %+v, max live %d", s, o.maxLive.Load())
			}
			hits, misses := s.Hits-start.Hits, s.Misses-start.Misses
			b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
			_ = m.Close()
		})
	}
}

// BenchmarkTouch1000Budget256 touches 1,000 databases (acquire, SELECT 1,
// release) with a budget of 256 and reports the Go heap in use afterwards,
// with the 256 handles still open, as heap-MB. modernc.org/sqlite keeps its
// page caches outside the Go heap, so the process RSS is reported too
// (rss-MB, Linux only).
func BenchmarkTouch1000Budget256(b *testing.B) {
	o := newCountingOpener(b)
	all := names("tenant", 1000)
	createAll(b, o.p, all)
	ctx := context.Background()
	var heap, rss float64
	for b.Loop() {
		m, err := NewConnManager(o, &ConnConfig{MaxOpen: 256, IdleTimeout: -1})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range all {
			h, err := m.Acquire(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			if err := h.DB().QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
			h.Release()
		}
		b.StopTimer()
		if s := m.Stats(); s.Open != 256 || o.maxLive.Load() > 256 {
			b.Fatalf("budget exceeded: %+v, max live %d", s, o.maxLive.Load())
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap, rss = mb(ms.HeapInuse), rssMB()
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(heap, "heap-MB")
	if rss >= 0 {
		b.ReportMetric(rss, "rss-MB")
	}
}

// BenchmarkConnManagerZipf replays a seeded Zipf (s=1.1) draw over 1,000
// SQLite tenant databases through a manager with MaxOpen 40, one Acquire
// and Release at a time: PostgreSQL database mode at the default budget of
// 80 with 2 connections per tenant. ns/op includes the open and close of
// every miss. It reports the manager's hit ratio (hit-%) and, over the
// same accesses, that of the LRU policy the manager had before
// (lru-hit-%, from the lruHits reference).
func BenchmarkConnManagerZipf(b *testing.B) {
	benchmarkReplay(b, zipfSeq(replayLen, replayTenants, 1.1))
}

// BenchmarkConnManagerUniform is BenchmarkConnManagerZipf with every tenant
// alike.
func BenchmarkConnManagerUniform(b *testing.B) {
	benchmarkReplay(b, uniformSeq(replayLen, replayTenants))
}

const (
	replayTenants = 1000
	replayBudget  = 40
	replayLen     = 200_000
	replayWarm    = 10_000 // accesses replayed before timing, to fill the budget
)

func benchmarkReplay(b *testing.B, seq []int) {
	o := newCountingOpener(b)
	all := names("tenant", replayTenants)
	createAll(b, o.p, all)
	m := newManager(b, o, &ConnConfig{MaxOpen: replayBudget, IdleTimeout: -1})
	replay(b, m, all, seq[:replayWarm], replayWarm)
	start := m.Stats()
	ctx := context.Background()
	timed := seq[replayWarm:]
	n := 0
	for b.Loop() {
		h, err := m.Acquire(ctx, all[timed[n%len(timed)]])
		if err != nil {
			b.Fatal(err)
		}
		h.Release()
		n++
	}
	s := m.Stats()
	if s.Open > replayBudget || o.maxLive.Load() > replayBudget {
		b.Fatalf("budget exceeded: %+v, max live %d", s, o.maxLive.Load())
	}
	b.ReportMetric(100*float64(s.Hits-start.Hits)/float64(n), "hit-%")
	replayed := slices.Clip(seq[:replayWarm])
	for i := range n {
		replayed = append(replayed, timed[i%len(timed)])
	}
	b.ReportMetric(100*float64(lruHits(replayBudget, replayed, replayWarm))/float64(n), "lru-hit-%")
}
