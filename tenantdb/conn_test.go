package tenantdb

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testwait"
)

func TestNewConnManagerConfig(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	if _, err := NewConnManager(nil, nil); err == nil || !strings.Contains(err.Error(), "opener") {
		t.Errorf("nil opener: err = %v", err)
	}
	if _, err := NewConnManager(o, &ConnConfig{MaxOpen: -1}); err == nil || !strings.Contains(err.Error(), "MaxOpen") {
		t.Errorf("negative MaxOpen: err = %v", err)
	}
	m := newManager(t, o, nil)
	if s := m.Stats(); s.MaxOpen != DefaultMaxOpen {
		t.Errorf("default MaxOpen = %d, want %d", s.MaxOpen, DefaultMaxOpen)
	}
	if m.idleTimeout != DefaultIdleTimeout {
		t.Errorf("default IdleTimeout = %v, want %v", m.idleTimeout, DefaultIdleTimeout)
	}
	m2 := newManager(t, o, &ConnConfig{MaxOpen: 3, IdleTimeout: -1})
	if m2.done != nil {
		t.Error("idle eviction disabled but a janitor runs")
	}
	if s := m2.Stats(); s.MaxOpen != 3 {
		t.Errorf("MaxOpen = %d, want 3", s.MaxOpen)
	}
}

// Many goroutines acquire and release random databases, sometimes holding
// them across a query; the number of open databases never exceeds the
// budget, and every database is closed in the end.
func TestConnManagerBudgetConcurrent(t *testing.T) {
	t.Parallel()
	const (
		budget     = 8
		goroutines = 12 // more than the budget, so acquirers wait
		iterations = 60
	)
	o := newCountingOpener(t)
	all := names("db", 40)
	createAll(t, o.p, all)
	m := newManager(t, o, &ConnConfig{MaxOpen: budget, IdleTimeout: 20 * time.Millisecond})

	var stop atomic.Bool
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for !stop.Load() {
			if s := m.Stats(); s.Open > budget || s.InUse > s.Open {
				t.Errorf("stats out of bounds: %+v", s)
			}
			runtime.Gosched()
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for range iterations {
				name := all[r.IntN(len(all))]
				h, err := m.Acquire(context.Background(), name)
				if err != nil {
					t.Errorf("Acquire(%q): %v", name, err)
					return
				}
				if r.IntN(2) == 0 {
					var n int
					if err := h.DB().QueryRow("SELECT 1").Scan(&n); err != nil {
						t.Errorf("query on %q: %v", name, err)
					}
				}
				if r.IntN(4) == 0 {
					m.Forget(all[r.IntN(len(all))])
				}
				h.Release()
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	sampler.Wait()

	if got := o.maxLive.Load(); got > budget {
		t.Errorf("at most %d databases were open at once, budget %d", got, budget)
	}
	s := m.Stats()
	if s.InUse != 0 {
		t.Errorf("InUse = %d after every Release", s.InUse)
	}
	if s.Hits+s.Misses < goroutines*iterations {
		t.Errorf("hits %d + misses %d < %d acquires", s.Hits, s.Misses, goroutines*iterations)
	}
	if int64(s.Misses) != o.opens.Load() {
		t.Errorf("Misses = %d, opener called %d times", s.Misses, o.opens.Load())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := o.live.Load(); got != 0 {
		t.Errorf("%d databases still open after Close", got)
	}
	if s := m.Stats(); s.Open != 0 {
		t.Errorf("Stats().Open = %d after Close", s.Open)
	}
}

// A handle in use is never closed, however many evictions happen around it.
func TestConnManagerInUseNeverClosed(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	all := names("db", 10)
	createAll(t, o.p, append([]string{"pinned"}, all...))
	m := newManager(t, o, &ConnConfig{MaxOpen: 2, IdleTimeout: time.Millisecond})

	pinned := acquire(t, m, "pinned")
	if _, err := pinned.DB().Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var queries sync.WaitGroup
	queries.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := pinned.DB().Exec("INSERT INTO t (v) VALUES ('x')"); err != nil {
				t.Errorf("insert on the pinned handle: %v", err)
				return
			}
			var n int
			if err := pinned.DB().QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != i+1 {
				t.Errorf("count on the pinned handle = %d, %v; want %d", n, err, i+1)
				return
			}
		}
	})
	for i := range 40 {
		h := acquire(t, m, all[i%len(all)])
		ping(t, h)
		h.Release()
		m.Forget("pinned") // marks it, but it is in use
		if i == 20 {
			// The forgotten pinned handle is not handed out again.
			h := acquire(t, m, "pinned")
			if h == pinned {
				t.Error("a forgotten handle was handed out again")
			}
			h.Release()
		}
	}
	close(done)
	queries.Wait()
	if s := m.Stats(); s.Evictions < 10 {
		t.Errorf("only %d evictions; the test did not force any", s.Evictions)
	}
	ping(t, pinned)
	db := pinned.DB()
	pinned.Release()
	// Forgotten while in use: closed at its Release.
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("the forgotten handle is still open after its Release: ping = %v", err)
	}
}

// 50 goroutines acquire one new database at once: exactly one Open.
func TestConnManagerSingleflight(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	o.delay = 20 * time.Millisecond // widen the window; correctness does not depend on it
	m := newManager(t, o, &ConnConfig{IdleTimeout: -1})

	const n = 50
	handles := make([]*Handle, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			h, err := m.Acquire(context.Background(), "acme")
			if err != nil {
				t.Errorf("Acquire: %v", err)
				return
			}
			handles[i] = h
		})
	}
	close(start)
	wg.Wait()
	if got := o.opens.Load(); got != 1 {
		t.Errorf("opener called %d times, want 1", got)
	}
	for _, h := range handles {
		if h != handles[0] {
			t.Fatal("acquirers got different handles")
		}
	}
	if s := m.Stats(); s.Misses != 1 || s.Hits != n-1 || s.InUse != 1 || s.Open != 1 {
		t.Errorf("stats = %+v", s)
	}
	for _, h := range handles {
		ping(t, h)
		h.Release()
	}
	if s := m.Stats(); s.InUse != 0 || s.Open != 1 {
		t.Errorf("after releases: %+v", s)
	}
}

// The callers waiting for an Open get its error; an Open abandoned because
// its caller's context ended is retried by the callers still waiting.
func TestConnManagerSingleflightErrors(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	m := newManager(t, o, &ConnConfig{IdleTimeout: -1})

	entered := make(chan struct{})
	var once sync.Once
	o.setHook(func(ctx context.Context, _ string, call int64) error {
		if call == 1 {
			once.Do(func() { close(entered) })
			<-ctx.Done() // the first caller gives up
			return ctx.Err()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, "acme")
		leader <- err
	}()
	<-entered
	waiter := make(chan error, 1)
	go func() {
		h, err := m.Acquire(context.Background(), "acme")
		if err == nil {
			h.Release()
		}
		waiter <- err
	}()
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: err = %v, want context.Canceled", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter after the leader gave up: %v", err)
	}
	if s := m.Stats(); s.Open != 1 || s.InUse != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestConnManagerOpenErrorNotCached(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 1, IdleTimeout: -1})

	o.setHook(func(context.Context, string, int64) error { return errInjected })
	o.delay = 10 * time.Millisecond
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := m.Acquire(context.Background(), "acme"); !errors.Is(err, errInjected) {
				t.Errorf("Acquire: err = %v, want the opener's error", err)
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); s.Open != 0 || s.InUse != 0 {
		t.Errorf("a failed open holds a slot: %+v", s)
	}
	o.setHook(nil)
	h := acquire(t, m, "acme")
	ping(t, h)
	h.Release()

	// A missing database: the provisioner's ErrNotExist comes through, and
	// the budget of 1 is not taken by it.
	if _, err := m.Acquire(context.Background(), "missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Acquire(missing): err = %v, want ErrNotExist", err)
	}
	if err := o.p.Create(context.Background(), "missing"); err != nil {
		t.Fatal(err)
	}
	h = acquire(t, m, "missing")
	h.Release()
	if got := o.maxLive.Load(); got > 1 {
		t.Errorf("%d open at once, budget 1", got)
	}
}

func TestConnManagerOpenerPanics(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 1, IdleTimeout: -1})
	o.setHook(func(context.Context, string, int64) error { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the opener's panic", r)
			}
		}()
		_, _ = m.Acquire(context.Background(), "acme")
	}()
	o.setHook(nil)
	if s := m.Stats(); s.Open != 0 {
		t.Errorf("a panicked open holds a slot: %+v", s)
	}
	acquire(t, m, "acme").Release()
}

func TestConnManagerIdleEviction(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"idle", "busy"})
	m := newManager(t, o, &ConnConfig{IdleTimeout: 50 * time.Millisecond})

	acquire(t, m, "idle").Release()
	busy := acquire(t, m, "busy")
	testwait.Eventually(t, "the idle handle to be evicted and closed", func() bool {
		s := m.Stats()
		return s.IdleEvictions == 1 && s.Open == 1
	})
	s := m.Stats()
	if s.Open != 1 || s.InUse != 1 || s.Evictions != 1 {
		t.Errorf("stats = %+v, want the busy handle alone open", s)
	}
	if got := o.live.Load(); got != 1 {
		t.Errorf("%d databases open, want 1", got)
	}
	ping(t, busy) // a handle in use is never idle-evicted
	busy.Release()
	testwait.Eventually(t, "the released handle to be evicted and closed", func() bool {
		s := m.Stats()
		return s.IdleEvictions == 2 && s.Open == 0
	})
	if got := o.live.Load(); got != 0 {
		t.Errorf("%d databases open, want 0", got)
	}
	// The next Acquire opens afresh.
	h := acquire(t, m, "idle")
	ping(t, h)
	h.Release()
	if got := o.opens.Load(); got != 3 {
		t.Errorf("%d opens, want 3", got)
	}
}

func TestConnManagerForget(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	m := newManager(t, o, &ConnConfig{IdleTimeout: -1})

	m.Forget("unknown") // fine

	h1 := acquire(t, m, "acme")
	m.Forget("acme")
	if got := o.live.Load(); got != 1 {
		t.Fatalf("Forget closed a handle in use: %d live", got)
	}
	ping(t, h1)
	h2 := acquire(t, m, "acme") // opens afresh
	if h2 == h1 || o.opens.Load() != 2 {
		t.Fatalf("Acquire after Forget reused the forgotten handle (opens %d)", o.opens.Load())
	}
	if s := m.Stats(); s.Open != 2 || s.InUse != 2 {
		t.Errorf("stats = %+v, want 2 open (one forgotten) and 2 in use", s)
	}
	h1.Release()
	if got := o.live.Load(); got != 1 {
		t.Errorf("the forgotten handle was not closed at its Release: %d live", got)
	}
	h2.Release()
	if got := o.live.Load(); got != 1 {
		t.Errorf("the fresh handle was closed at Release: %d live", got)
	}
	m.Forget("acme") // unused: closed now
	if got := o.live.Load(); got != 0 {
		t.Errorf("Forget of an unused handle left it open: %d live", got)
	}
	if s := m.Stats(); s.Open != 0 || s.InUse != 0 {
		t.Errorf("stats = %+v", s)
	}

	// Forget then Drop: the next Acquire reports the database missing.
	acquire(t, m, "acme").Release()
	m.Forget("acme")
	if err := o.p.Drop(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Acquire(context.Background(), "acme"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Acquire after Forget and Drop: err = %v, want ErrNotExist", err)
	}
}

func TestConnManagerForgetWhileOpening(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme"})
	m := newManager(t, o, &ConnConfig{IdleTimeout: -1})
	entered, proceed := make(chan struct{}), make(chan struct{})
	o.setHook(func(_ context.Context, _ string, call int64) error {
		if call == 1 {
			close(entered)
			<-proceed
		}
		return nil
	})
	got := make(chan *Handle, 1)
	go func() {
		h, err := m.Acquire(context.Background(), "acme")
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	<-entered
	m.Forget("acme")
	close(proceed)
	h1 := <-got
	if h1 == nil {
		t.FailNow()
	}
	ping(t, h1)
	h2 := acquire(t, m, "acme")
	if h2 == h1 {
		t.Error("a handle forgotten while opening was handed out again")
	}
	h1.Release()
	h2.Release()
	if got := o.live.Load(); got != 1 {
		t.Errorf("%d live, want 1", got)
	}
}

func TestConnManagerClose(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b"})
	m := newManager(t, o, nil)
	ha := acquire(t, m, "a")
	acquire(t, m, "b").Release()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := o.live.Load(); got != 1 {
		t.Errorf("after Close %d live, want 1 (the one in use)", got)
	}
	if _, err := m.Acquire(context.Background(), "b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close: err = %v, want ErrClosed", err)
	}
	if _, err := m.Acquire(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire of an in-use name after Close: err = %v, want ErrClosed", err)
	}
	ping(t, ha) // still usable until released
	ha.Release()
	if got := o.live.Load(); got != 0 {
		t.Errorf("after the last Release %d live, want 0", got)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if s := m.Stats(); s.Open != 0 || s.InUse != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestConnManagerCloseWakesWaiters(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 1})
	ha := acquire(t, m, "a")
	errc := make(chan error, 1)
	go func() {
		_, err := m.Acquire(context.Background(), "b")
		errc <- err
	}()
	_ = m.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("waiting Acquire: err = %v, want ErrClosed", err)
	}
	ha.Release()
}

// When every slot is in use Acquire waits: until its context ends, or until
// a Release.
func TestConnManagerAcquireWaits(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b"})
	m := newManager(t, o, &ConnConfig{MaxOpen: 1, IdleTimeout: -1})
	ha := acquire(t, m, "a")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := m.Acquire(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with a timeout: err = %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, "b")
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Acquire: err = %v, want context.Canceled", err)
	}
	// The same name in use is a hit, not a wait.
	ha2 := acquire(t, m, "a")
	ha2.Release()

	got := make(chan *Handle, 1)
	go func() {
		h, err := m.Acquire(context.Background(), "b")
		if err != nil {
			t.Errorf("Acquire after a Release: %v", err)
		}
		got <- h
	}()
	ha.Release()
	hb := <-got
	if hb == nil {
		t.FailNow()
	}
	ping(t, hb)
	hb.Release()
	if n := o.maxLive.Load(); n != 1 {
		t.Errorf("%d databases open at once, budget 1", n)
	}
}

func TestHandleReleaseTooOften(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a"})
	m := newManager(t, o, nil)
	h := acquire(t, m, "a")
	h.Release()
	defer func() {
		if r := recover(); r == nil {
			t.Error("a second Release did not panic")
		}
		if s := m.Stats(); s.InUse != 0 {
			t.Errorf("stats after the bad Release: %+v", s)
		}
	}()
	h.Release()
}

// Touching 1,000 databases with a budget of 256 never has more than 256
// open.
func TestTouch1000Budget256(t *testing.T) {
	t.Parallel()
	const (
		tenants = 1000
		budget  = 256
	)
	o := newCountingOpener(t)
	all := names("tenant", tenants)
	createAll(t, o.p, all)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	m := newManager(t, o, &ConnConfig{MaxOpen: budget, IdleTimeout: -1})
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for name := range work {
				h, err := m.Acquire(context.Background(), name)
				if err != nil {
					t.Error(err)
					continue
				}
				var n int
				if err := h.DB().QueryRow("SELECT 1").Scan(&n); err != nil {
					t.Error(err)
				}
				h.Release()
				if s := m.Stats(); s.Open > budget {
					t.Errorf("Stats().Open = %d > %d", s.Open, budget)
				}
			}
		})
	}
	for _, name := range all {
		work <- name
	}
	close(work)
	wg.Wait()

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := m.Stats()
	if got := o.maxLive.Load(); got > budget {
		t.Errorf("%d databases open at once, budget %d", got, budget)
	}
	if s.Open != budget || s.Misses != tenants || s.Evictions != tenants-budget {
		t.Errorf("stats = %+v", s)
	}
	t.Logf("touched %d databases, budget %d: max open %d; Go heap in use %.1f MB before, %.1f MB after (%+.1f MB)%s",
		tenants, budget, o.maxLive.Load(),
		mb(before.HeapInuse), mb(after.HeapInuse), mb(after.HeapInuse)-mb(before.HeapInuse), rssNote())
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := o.live.Load(); got != 0 {
		t.Errorf("%d open after Close", got)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// The idle clock: a handle is evicted only once idleTicks full ticks have
// passed since its Release, and one in use never. Ticks are driven by hand.
func TestConnManagerIdleTicks(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"a", "b", "c"})
	m := newManager(t, o, &ConnConfig{IdleTimeout: time.Hour}) // the janitor stays out of the way

	acquire(t, m, "a").Release() // released during tick 0
	m.evictIdle()                // tick 1
	acquire(t, m, "b").Release() // released during tick 1
	hc := acquire(t, m, "c")     // in use throughout
	for range idleTicks - 1 {
		m.evictIdle() // ticks 2..idleTicks
	}
	if s := m.Stats(); s.IdleEvictions != 0 {
		t.Fatalf("evicted after %d ticks: %+v", idleTicks, s)
	}
	m.evictIdle() // tick idleTicks+1: a has been idle for more than idleTicks full ticks
	if s := m.Stats(); s.IdleEvictions != 1 || s.Open != 2 {
		t.Fatalf("after idleTicks+1 ticks: %+v, want a evicted", s)
	}
	m.evictIdle()
	if s := m.Stats(); s.IdleEvictions != 2 || s.Open != 1 || s.InUse != 1 {
		t.Fatalf("after idleTicks+2 ticks: %+v, want b evicted and c kept", s)
	}
	for range 3 * idleTicks {
		m.evictIdle()
	}
	ping(t, hc)
	hc.Release()
	if s := m.Stats(); s.Open != 1 {
		t.Fatalf("c evicted at its Release: %+v", s)
	}
	if got := o.opens.Load(); got != 3 {
		t.Errorf("%d opens, want 3", got)
	}
}
