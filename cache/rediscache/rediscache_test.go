package rediscache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/cache/cachetest"
	"github.com/gotenancy/tenancy/cache/rediscache"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
)

const tenantA = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"

// testPrefix returns a key prefix of the test's own, whose keys are
// deleted from the server at url when the test ends.
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	prefix := "tenancytest:" + strings.ToLower(rand.Text()[:12]) + ":"
	t.Cleanup(func() {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		client := redis.NewClient(opt)
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Unlink(ctx, iter.Val())
		}
	})
	return prefix
}

// newCache returns a Cache on the server at url, with a prefix of its own
// unless cfg sets one, closed when the test ends. Unless cfg sets one, the
// OpTimeout is 5s: the default is for a server on a production network,
// not for a shared test machine running -race, where a 250 ms budget is
// sometimes exceeded and a failed Set would fail the conformance suite.
func newCache(t testing.TB, url string, cfg *rediscache.Config) *rediscache.Cache {
	t.Helper()
	var c rediscache.Config
	if cfg != nil {
		c = *cfg
	}
	c.URL = url
	if c.Prefix == "" {
		c.Prefix = testPrefix(t, url)
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	rc, err := rediscache.New(context.Background(), &c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

func TestConformance(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	cachetest.Run(t, func(t *testing.T) cache.Backend { return newCache(t, url, nil) })
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	tests := []struct {
		name string
		cfg  *rediscache.Config
	}{
		{"nil", nil},
		{"no url", &rediscache.Config{}},
		{"bad url", &rediscache.Config{URL: "http://example.com"}},
		{"negative ttl", &rediscache.Config{URL: url, DefaultTTL: -time.Second}},
		{"negative timeout", &rediscache.Config{URL: url, OpTimeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if c, err := rediscache.New(context.Background(), tc.cfg); err == nil {
				c.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

// TestNewRefusedConfiguration: a configuration Redis refuses is an error
// at start, unlike an absent server.
func TestNewRefusedConfiguration(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"redis://tenancy-wrong-user:wrong@" + opt.Addr + "/0",
		"redis://" + opt.Addr + "/100000",
	} {
		if c, err := rediscache.New(context.Background(), &rediscache.Config{URL: url, OpTimeout: 5 * time.Second}); err == nil {
			c.Close()
			t.Errorf("New(%s) succeeded, want an error", url)
		}
	}
}

// TestStartsWithoutServer: a Cache made while Redis is down is made all
// the same, with a warning; reads miss and writes fail until the server
// is there, which the background retry notices and logs.
func TestStartsWithoutServer(t *testing.T) {
	t.Parallel()
	s := testenv.StartRedisServer(t)
	s.Stop()
	logs := &testenv.LogRecorder{}
	var c *rediscache.Cache
	within(t, "New with the server down", func() {
		c = newCache(t, s.URL(), &rediscache.Config{OpTimeout: rediscache.DefaultOpTimeout, Logger: slog.New(logs)})
	})
	if n := logs.Count("rediscache: redis unreachable"); n != 1 {
		t.Fatalf("the unreachable server was logged %d times at start, want once", n)
	}
	ns := c.For(tenantA)
	mustMiss(t, ns, "k")
	if err := ns.Set(context.Background(), "k", []byte("v"), 0); !errors.Is(err, tenancy.ErrCacheUnavailable) {
		t.Fatalf("Set with the server down: %v, want ErrCacheUnavailable", err)
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("Ping with the server down succeeded")
	}

	s.Start()
	testwait.Eventually(t, "the background retry to see the server", func() bool {
		return logs.Count("rediscache: redis answers again") == 1
	})
	setUntilRead(t, ns, "k", "v")
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCache(t, testenv.RedisURL(t), &rediscache.Config{DefaultTTL: 50 * time.Millisecond}).For(tenantA)
	if err := c.Set(ctx, "default", []byte("d"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "explicit", []byte("e"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// A lifetime under a millisecond is not "no expiry".
	if err := c.Set(ctx, "tiny", []byte("t"), time.Microsecond); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, "entries with the default and a tiny TTL to expire", func() bool {
		_, okDefault, err1 := c.Get(ctx, "default")
		_, okTiny, err2 := c.Get(ctx, "tiny")
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		return !okDefault && !okTiny
	})
	if v, ok, err := c.Get(ctx, "explicit"); err != nil || !ok || string(v) != "e" {
		t.Fatalf("Get(explicit) = %q, %v, %v; want e", v, ok, err)
	}
}

// TestSharedBetweenNodes: two Caches on one server and prefix are two nodes
// of a deployment; a flush on one is seen at once by the other, since no
// node keeps a generation of its own.
func TestSharedBetweenNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.RedisURL(t)
	prefix := testPrefix(t, url)
	a := newCache(t, url, &rediscache.Config{Prefix: prefix})
	b := newCache(t, url, &rediscache.Config{Prefix: prefix})
	other := newCache(t, url, nil) // another prefix

	mustSet(t, a.For(tenantA), "k", "v")
	mustGet(t, b.For(tenantA), "k", "v")
	mustMiss(t, other.For(tenantA), "k")

	if err := b.FlushTenant(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, a.For(tenantA), "k")

	mustSet(t, a.For(tenantA), "k", "v2")
	mustSet(t, other.For(tenantA), "k", "other")
	if err := b.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, a.For(tenantA), "k")
	mustGet(t, other.For(tenantA), "k", "other")
}

// TestFlushIsConstant checks the flushes touch one key whatever the number
// of entries: the server's key count does not drop.
func TestFlushIsConstant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.RedisURL(t)
	prefix := testPrefix(t, url)
	c := newCache(t, url, &rediscache.Config{Prefix: prefix})
	ns := c.For(tenantA)
	for i := range 200 {
		mustSet(t, ns, strings.Repeat("k", i), "v")
	}
	countKeys := func() int {
		opt, _ := redis.ParseURL(url)
		client := redis.NewClient(opt)
		defer client.Close()
		n := 0
		iter := client.Scan(ctx, 0, prefix+"v:*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := countKeys()
	if err := ns.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	// The entries stay until evicted.
	if after := countKeys(); after != before {
		t.Fatalf("%d entry keys after the flushes, want the %d from before", after, before)
	}
	mustMiss(t, ns, "k")
}

// TestRedisGoesAway kills the server under a Cache: reads are answered as
// misses, writes fail with ErrCacheUnavailable, none of them hangs,
// failures are counted and logged once, and the Cache works again when
// the server is back.
func TestRedisGoesAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	logs := &testenv.LogRecorder{}
	c := newCache(t, s.URL(), &rediscache.Config{OpTimeout: rediscache.DefaultOpTimeout, Logger: slog.New(logs)})
	ns := c.For(tenantA)
	setUntilRead(t, ns, "k", "v")

	s.Stop()
	const calls = 20
	for range calls {
		within(t, "Get with the server down", func() { mustMiss(t, ns, "k") })
		within(t, "Set with the server down", func() {
			if err := ns.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, tenancy.ErrCacheUnavailable) {
				t.Fatalf("Set with the server down: %v, want ErrCacheUnavailable", err)
			}
		})
		within(t, "Delete with the server down", func() {
			if err := ns.Delete(ctx, "k"); !errors.Is(err, tenancy.ErrCacheUnavailable) {
				t.Fatalf("Delete with the server down: %v, want ErrCacheUnavailable", err)
			}
		})
	}
	if err := ns.Flush(ctx); err == nil {
		t.Fatal("Flush with the server down succeeded; it must report that nothing was flushed")
	}
	// The circuit breaker opens: requests skip Redis instead of paying a
	// dial and retries each (about 100 ms here). Flushes tell when it is
	// open; the bound on the Gets is loose: it tells the two apart without
	// timing anything closely.
	testwait.Eventually(t, "the circuit breaker to open", func() bool {
		return errors.Is(c.FlushAll(ctx), rediscache.ErrUnavailable)
	})
	start := time.Now()
	for range 200 {
		mustMiss(t, ns, "k")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("200 Gets with the server down took %s; the circuit breaker should skip Redis", d)
	}
	if n := c.Errors(); n < 3*calls+200 {
		t.Fatalf("Errors() = %d, want at least %d", n, 3*calls+200)
	}
	// Logged, but not once per failure.
	if n := logs.Count("rediscache: redis failed"); n < 1 || n >= 3*calls {
		t.Fatalf("failure logged %d times for %d failures, want rate-limited", n, 3*calls)
	}
	errs := c.Errors()

	s.Start()
	setUntilRead(t, ns, "k", "back")
	if c.Errors() < errs {
		t.Fatal("Errors() went down")
	}
	testwait.Eventually(t, "the recovery to be logged", func() bool {
		return logs.Count("rediscache: redis answers again") == 1
	})
}

// TestRedisHangs pauses the server: the kernel accepts connections but
// nothing answers. Each operation gives up after OpTimeout.
func TestRedisHangs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	const opTimeout = 100 * time.Millisecond
	c := newCache(t, s.URL(), &rediscache.Config{OpTimeout: opTimeout, Logger: slog.New(&testenv.LogRecorder{})})
	ns := c.For(tenantA)
	setUntilRead(t, ns, "k", "v")

	s.Pause()
	for range 5 {
		within(t, "Get with the server hung", func() { mustMiss(t, ns, "k") })
		within(t, "Set with the server hung", func() {
			if err := ns.Set(ctx, "k", []byte("hung"), 0); !errors.Is(err, tenancy.ErrCacheUnavailable) {
				t.Fatalf("Set with the server hung: %v, want ErrCacheUnavailable", err)
			}
		})
	}
	if c.Errors() == 0 {
		t.Fatal("no errors counted while the server hung")
	}
	s.Resume()
	setUntilRead(t, ns, "k", "back")
}

// TestNoStaleValueAfterRestart: a value is cached, Redis dies, a node
// fails to overwrite it, and Redis comes back with its data (an
// append-only file). Neither the node whose write failed nor another one,
// which did nothing during the outage, serves the old value: the
// restarted server is recognised (it lost its scripts) and every
// namespace is invalidated before anything is read from it.
func TestNoStaleValueAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartPersistentRedisServer(t)
	prefix := testPrefix(t, s.URL())
	cfg := func() *rediscache.Config {
		return &rediscache.Config{Prefix: prefix, OpTimeout: rediscache.DefaultOpTimeout, Logger: slog.New(&testenv.LogRecorder{})}
	}
	a, b := newCache(t, s.URL(), cfg()).For(tenantA), newCache(t, s.URL(), cfg()).For(tenantA)
	setUntilRead(t, a, "k", "old")
	mustGet(t, b, "k", "old")

	s.Stop()
	if err := a.Set(ctx, "k", []byte("new"), 0); !errors.Is(err, tenancy.ErrCacheUnavailable) {
		t.Fatalf("Set with the server down: %v, want ErrCacheUnavailable", err)
	}
	s.Start()
	assertNeverServed(t, b, "k", "old")
	assertNeverServed(t, a, "k", "old")
	setUntilRead(t, a, "k", "new")
	mustGet(t, b, "k", "new")
}

// TestNoStaleValueAfterCut: one node is cut off Redis (the server keeps
// its data and its scripts, and other nodes reach it) while it fails to
// overwrite a value. Once it is back, it does not serve the old value,
// and neither does the other node.
func TestNoStaleValueAfterCut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	prefix := testPrefix(t, s.URL())
	cfg := &rediscache.Config{Prefix: prefix, OpTimeout: rediscache.DefaultOpTimeout, Logger: slog.New(&testenv.LogRecorder{})}
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.StartProxy(t, opt.Addr)
	ac := newCache(t, "redis://"+p.Addr()+"/0", cfg)
	a, b := ac.For(tenantA), newCache(t, s.URL(), cfg).For(tenantA)
	setUntilRead(t, a, "k", "old")
	mustGet(t, b, "k", "old")

	p.Cut()
	if err := a.Set(ctx, "k", []byte("new"), 0); !errors.Is(err, tenancy.ErrCacheUnavailable) {
		t.Fatalf("Set with the node cut off: %v, want ErrCacheUnavailable", err)
	}
	p.Restore()
	assertNeverServed(t, a, "k", "old")
	assertNeverServed(t, b, "k", "old")
}

// assertNeverServed reads key from c until c answers from Redis again (a
// Set that reads back, under another key), failing t if a read gives the
// stale value.
func assertNeverServed(t *testing.T, c tenancy.TenantCache, key, stale string) {
	t.Helper()
	ctx := context.Background()
	testwait.Eventually(t, "the cache to answer again", func() bool {
		if v, ok, err := c.Get(ctx, key); err != nil {
			t.Fatal(err)
		} else if ok && string(v) == stale {
			t.Fatalf("Get(%q) served the stale value %q after the outage", key, v)
		}
		if c.Set(ctx, "probe", []byte("p"), 0) != nil {
			return false
		}
		v, ok, err := c.Get(ctx, "probe")
		return err == nil && ok && string(v) == "p"
	})
	if v, ok, err := c.Get(ctx, key); err != nil || (ok && string(v) == stale) {
		t.Fatalf("Get(%q) = %q, %v, %v after the outage; the stale value must not come back", key, v, ok, err)
	}
}

// TestCancelledContext: the caller's cancellation is its own error, not a
// Redis failure.
func TestCancelledContext(t *testing.T) {
	t.Parallel()
	c := newCache(t, testenv.RedisURL(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.For(tenantA).Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v, want context.Canceled", err)
	}
	if err := c.For(tenantA).Set(ctx, "k", nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a cancelled context: %v, want context.Canceled", err)
	}
	if n := c.Errors(); n != 0 {
		t.Fatalf("Errors() = %d after cancelled calls, want 0", n)
	}
}

func TestForNoTenant(t *testing.T) {
	t.Parallel()
	c := newCache(t, testenv.RedisURL(t), nil)
	if err := c.FlushTenant(context.Background(), ""); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("FlushTenant(\"\"): %v, want ErrNoTenant", err)
	}
}

// TestForDoesNotAllocate is not parallel: AllocsPerRun forbids it.
func TestForDoesNotAllocate(t *testing.T) {
	c := newCache(t, testenv.RedisURL(t), nil)
	c.For(tenantA)
	if n := testing.AllocsPerRun(100, func() { c.For(tenantA) }); n != 0 {
		t.Fatalf("For of a known tenant allocates %v times, want 0", n)
	}
}

// within runs fn and fails t if it took long enough to count as hanging:
// the bound is far above OpTimeout, so it only catches operations that wait
// for a server that is not there.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	const hang = 3 * time.Second
	start := time.Now()
	fn()
	if d := time.Since(start); d > hang {
		t.Fatalf("%s took %s; it must give up after OpTimeout", what, d)
	}
}

// setUntilRead sets key until the Set succeeds and reads back.
func setUntilRead(t *testing.T, c tenancy.TenantCache, key, value string) {
	t.Helper()
	ctx := context.Background()
	testwait.Eventually(t, "a Set of "+key+" that reads back", func() bool {
		if err := c.Set(ctx, key, []byte(value), 0); err != nil {
			if !errors.Is(err, tenancy.ErrCacheUnavailable) {
				t.Fatal(err)
			}
			return false
		}
		v, ok, err := c.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok && string(v) == value
	})
}

func mustSet(t testing.TB, c tenancy.TenantCache, key, value string) {
	t.Helper()
	if err := c.Set(context.Background(), key, []byte(value), 0); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t testing.TB, c tenancy.TenantCache, key, want string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q", key, v, ok, err, want)
	}
}

func mustMiss(t testing.TB, c tenancy.TenantCache, key string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %q, %v, %v; want a miss without error", key, v, ok, err)
	}
}
