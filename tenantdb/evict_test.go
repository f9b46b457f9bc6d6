package tenantdb

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// lruHits replays seq (tenant indexes) through a least-recently-used cache
// of capacity entries and counts the hits from position warm on. It is the
// reference for the policy the ConnManager used before S3-FIFO: replayed
// one Acquire and Release at a time, that manager was exactly this cache.
func lruHits(capacity int, seq []int, warm int) (hits int) {
	var order list.List // of int, most recently used first
	at := make(map[int]*list.Element, capacity)
	for i, k := range seq {
		if e := at[k]; e != nil {
			order.MoveToFront(e)
			if i >= warm {
				hits++
			}
			continue
		}
		if order.Len() >= capacity {
			delete(at, order.Remove(order.Back()).(int))
		}
		at[k] = order.PushFront(k)
	}
	return hits
}

// zipfSeq returns n tenant indexes in [0, tenants) drawn from a Zipf
// distribution with exponent s (tenant 0 the most popular), from a fixed
// seed.
func zipfSeq(n, tenants int, s float64) []int {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, s, 1, uint64(tenants-1))
	seq := make([]int, n)
	for i := range seq {
		seq[i] = int(z.Uint64())
	}
	return seq
}

// uniformSeq returns n tenant indexes drawn uniformly from [0, tenants),
// from a fixed seed.
func uniformSeq(n, tenants int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	seq := make([]int, n)
	for i := range seq {
		seq[i] = r.IntN(tenants)
	}
	return seq
}

// nopOpener opens a *sql.DB that never connects: sql.OpenDB dials nothing
// until the database is used, so opens and closes cost next to nothing and
// policy tests can replay long sequences.
type nopOpener struct{}

func (nopOpener) Open(context.Context, string) (*sql.DB, error) {
	return sql.OpenDB(nopConnector{}), nil
}

type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("nopConnector: no database")
}
func (nopConnector) Driver() driver.Driver { return nopDriver{} }

type nopDriver struct{}

func (nopDriver) Open(string) (driver.Conn, error) { return nil, errors.New("nopDriver: no database") }

// queues lists the names in the small and main queues, newest first.
func queues(m *ConnManager) (small, main []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := func(q *list.List) []string {
		var out []string
		for e := q.Front(); e != nil; e = e.Next() {
			out = append(out, e.Value.(*Handle).name)
		}
		return out
	}
	return list(&m.small), list(&m.main)
}

// The S3-FIFO walk-through: one-hit handles leave from the small queue in
// the order they came, a handle hit while in small moves to main, a key
// evicted from small lately comes back into main, and main gives each
// handle a round per hit before closing it.
func TestConnManagerEvictionOrder(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b", "c", "d", "e", "f", "g"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 3, IdleTimeout: -1}) // small's share is 1
	touch := func(name string) { acquire(t, m, name).Release() }
	want := func(step string, small, main []string, opens int64) {
		t.Helper()
		s, mn := queues(m)
		if !slices.Equal(s, small) || !slices.Equal(mn, main) {
			t.Fatalf("%s: small %v, main %v; want small %v, main %v", step, s, mn, small, main)
		}
		if n := o.opens.Load(); n != opens {
			t.Fatalf("%s: %d opens, want %d", step, n, opens)
		}
	}

	touch("a")
	touch("b")
	touch("c")
	want("a, b, c", []string{"c", "b", "a"}, nil, 3)
	touch("a") // a hit: a will move to main rather than be closed
	touch("d") // a moves to main; b, oldest of the one-hit handles, is closed
	want("d", []string{"d", "c"}, []string{"a"}, 4)
	touch("b") // c closed; b was evicted from small lately: it enters main
	want("b again", []string{"d"}, []string{"b", "a"}, 5)
	touch("e") // a scan of new tenants churns small only
	touch("f")
	want("e, f", []string{"f"}, []string{"b", "a"}, 7)
	touch("f") // f hit: it moves to main when g needs room, emptying small
	touch("g") // so main gives a slot: a (one hit) gets a round, b (none) is closed
	want("g", []string{"g"}, []string{"a", "f"}, 8)
	touch("a")
	touch("f")
	want("a, f kept", []string{"g"}, []string{"a", "f"}, 8)

	if got := o.maxLive.Load(); got > 3 {
		t.Errorf("%d databases open at once, budget 3", got)
	}
	if s := m.Stats(); s.Hits != 4 || s.Misses != 8 || s.Evictions != 5 || s.Open != 3 {
		t.Errorf("stats = %+v, want 4 hits, 8 misses, 5 evictions, 3 open", s)
	}
}

// A handle in use at the tail of its queue is passed over, not closed: the
// next unused handle is.
func TestConnManagerEvictionSkipsInUse(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b", "c", "d"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 2, IdleTimeout: -1})
	ha := acquire(t, m, "a") // oldest, and in use
	acquire(t, m, "b").Release()
	acquire(t, m, "c").Release() // b closed, not a
	ping(t, ha)
	if small, main := queues(m); !slices.Equal(small, []string{"c", "a"}) || len(main) != 0 {
		t.Fatalf("small %v, main %v; want small [c a]", small, main)
	}
	hc := acquire(t, m, "c")
	ha.Release()
	acquire(t, m, "d").Release() // a, at the tail and now unused, is closed
	ping(t, hc)
	hc.Release()
	if small, main := queues(m); !slices.Equal(small, []string{"d", "c"}) || len(main) != 0 {
		t.Fatalf("small %v, main %v; want small [d c]", small, main)
	}

	// In main too: a held there with no hits left is passed over, and c,
	// unused, is closed once its hit has bought it a round.
	createAll(t, o.p, []string{"e", "f"})
	ha = acquire(t, m, "a") // reopened: small [a d], c gone
	ha.Release()
	acquire(t, m, "a").Release() // a hit
	acquire(t, m, "e").Release() // a moves to main, d is closed
	if small, main := queues(m); !slices.Equal(small, []string{"e"}) || !slices.Equal(main, []string{"a"}) {
		t.Fatalf("small %v, main %v; want small [e], main [a]", small, main)
	}
	ha = acquire(t, m, "a")      // in use, hits 2
	acquire(t, m, "e").Release() // e hit
	m.mu.Lock()
	m.entries[Key{Database: "a"}].uses = 0 // as if its hits had been spent
	m.mu.Unlock()
	acquire(t, m, "f").Release() // e moves to main and small is empty: main gives the slot
	ping(t, ha)
	if small, main := queues(m); !slices.Equal(small, []string{"f"}) || !slices.Equal(main, []string{"a"}) {
		t.Fatalf("small %v, main %v; want small [f], main [a] (e closed after its round)", small, main)
	}
	ha.Release()
	if got := o.maxLive.Load(); got > 2 {
		t.Errorf("%d databases open at once, budget 2", got)
	}
}

// Hot tenants survive a scan of cold tenants, each seen once, that is ten
// times the budget: under LRU every hot tenant would have been closed.
func TestConnManagerHotSurvivesScan(t *testing.T) {
	t.Parallel()
	const (
		budget = 10
		hot    = 3
		cold   = 100
	)
	o := newCountingOpener(t)
	all := names("tenant", hot+cold)
	createAll(t, o.p, all)
	m := newManager(t, o, &ConnConfig{MaxOpen: budget, IdleTimeout: -1})

	var seq []int
	for range 2 { // the hot tenants are used twice each
		for i := range hot {
			seq = append(seq, i)
		}
	}
	for i := range cold { // then a fleet job touches every other tenant once
		seq = append(seq, hot+i)
	}
	for i := range hot { // and the hot tenants come back
		seq = append(seq, i)
	}
	for _, i := range seq {
		acquire(t, m, all[i]).Release()
	}

	if got, want := o.opens.Load(), int64(hot+cold); got != want {
		t.Errorf("%d opens, want %d: a hot tenant was closed by the scan", got, want)
	}
	s := m.Stats()
	if s.Hits != 2*hot || s.Misses != hot+cold || s.Evictions != hot+cold-budget {
		t.Errorf("stats = %+v, want %d hits, %d misses, %d evictions", s, 2*hot, hot+cold, hot+cold-budget)
	}
	// The reference: LRU keeps the hot tenants' second uses as hits but
	// misses all three on their return.
	if lru := lruHits(budget, seq, 0); lru != hot {
		t.Errorf("LRU reference: %d hits, want %d", lru, hot)
	}
	if got := o.maxLive.Load(); got > budget {
		t.Errorf("%d databases open at once, budget %d", got, budget)
	}
}

// replay acquires and releases the named tenants of seq one at a time and
// returns the hits from position warm on.
func replay(tb testing.TB, m *ConnManager, all []string, seq []int, warm int) int {
	tb.Helper()
	ctx := context.Background()
	var start ConnStats
	for i, k := range seq {
		if i == warm {
			start = m.Stats()
		}
		h, err := m.Acquire(ctx, all[k])
		if err != nil {
			tb.Fatal(err)
		}
		h.Release()
	}
	return int(m.Stats().Hits - start.Hits)
}

// Replayed over 1,000 tenants into 40 handles (PostgreSQL database mode at
// the default budget of 80, 2 connections per tenant), a Zipf s=1.1 draw
// hits clearly more often than under LRU, and a uniform one no less often
// than LRU within a point. The sequences are seeded: the figures are the
// same on every run.
func TestConnManagerHitRatio(t *testing.T) {
	t.Parallel()
	const (
		tenants = 1000
		budget  = 40
		n       = 100_000
		warm    = 10_000
	)
	all := names("tenant", tenants)
	for _, tc := range []struct {
		name string
		seq  []int
		gain float64 // the least the new policy's hit ratio beats LRU's by, in points
	}{
		{"zipf", zipfSeq(n, tenants, 1.1), 5},
		{"uniform", uniformSeq(n, tenants), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newManager(t, nopOpener{}, &ConnConfig{MaxOpen: budget, IdleTimeout: -1})
			got := 100 * float64(replay(t, m, all, tc.seq, warm)) / (n - warm)
			lru := 100 * float64(lruHits(budget, tc.seq, warm)) / (n - warm)
			t.Logf("hit ratio %.1f%%, LRU %.1f%%", got, lru)
			if got < lru+tc.gain {
				t.Errorf("hit ratio %.1f%%, LRU %.1f%%: want at least %+.0f points", got, lru, tc.gain)
			}
			if s := m.Stats(); s.Open > budget {
				t.Errorf("budget exceeded: %+v", s)
			}
		})
	}
}

// The ghost queue remembers the last size keys added; a key added again
// keeps its newer place, and take forgets it.
func TestGhostQueue(t *testing.T) {
	t.Parallel()
	k := func(s string) Key { return Key{Database: s} }
	g := newGhostQueue(2)
	g.add(k("a"))
	g.add(k("a")) // a again: its first copy's slot no longer speaks for it
	g.add(k("b")) // overwrites a's first copy; a stays
	if !g.take(k("a")) || !g.take(k("b")) || g.take(k("a")) {
		t.Fatal("after a, a, b: want a and b remembered once each")
	}
	g.add(k("d"))
	g.add(k("e"))
	g.add(k("f")) // forgets d
	if g.take(k("d")) || !g.take(k("e")) || !g.take(k("f")) {
		t.Error("after d, e, f: want e and f remembered, d forgotten")
	}
	if len(g.at) != 0 {
		t.Errorf("%d keys left in the index", len(g.at))
	}
}
