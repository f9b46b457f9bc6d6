package resolve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

var _ resolve.Watcher = (*sqlitestore.Store)(nil)

func TestByHostNormalisesHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test", "bücher.test")
	acme, err := e.mgr.Get(context.Background(), "acme.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"acme.test", "acme.test:8080", "ACME.Test", "acme.test.", "acme.test.:443", " acme.test "} {
		mustHost(t, e.cache, host, acme.UUID)
	}
	books, err := e.mgr.Get(context.Background(), "xn--bcher-kva.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"xn--bcher-kva.test", "bücher.test", "BÜCHER.test:80"} {
		mustHost(t, e.cache, host, books.UUID)
	}
	st := e.cache.Stats()
	if st.Hits != 9 || st.StoreLookups != 0 || st.Tenants != 2 || st.Domains != 2 || st.Reloads != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestByRef(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	ctx := context.Background()
	acme, err := e.mgr.Get(ctx, "acme.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{acme.UUID, strings.ToUpper(acme.UUID), "urn:uuid:" + acme.UUID, "acme.test", "ACME.TEST"} {
		got, err := e.cache.ByRef(ctx, ref)
		if err != nil || got.UUID != acme.UUID {
			t.Fatalf("ByRef(%q) = %v, %v", ref, got, err)
		}
	}
	const unknown = "01900000-0000-7000-8000-000000000000"
	for range 3 {
		_, err := e.cache.ByRef(ctx, unknown)
		mustNotFound(t, "unknown uuid", err)
	}
	if st := e.cache.Stats(); st.StoreLookups != 1 || st.NegativeHits != 2 {
		t.Fatalf("an unknown uuid reached the store more than once: %+v", st)
	}
	// A host that looks like a uuid is a domain to ByHost, never a uuid.
	_, err = e.cache.ByHost(ctx, acme.UUID)
	mustNotFound(t, "uuid as a host", err)
	_, err = e.cache.ByRef(ctx, "")
	mustNotFound(t, "empty ref", err)
}

func TestMissesAreRememberedNegatively(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	ctx := context.Background()
	for range 5 {
		_, err := e.cache.ByHost(ctx, "nobody.test")
		mustNotFound(t, "unknown host", err)
		_, err = e.cache.ByHost(ctx, "NOBODY.test:8080")
		mustNotFound(t, "unknown host, other spelling", err)
	}
	st := e.cache.Stats()
	if st.StoreLookups != 1 || st.NegativeHits != 9 || st.Misses != 10 || st.NegativeEntries != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestJunkHostsNeverPanicNorRepeatStoreQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	ctx := context.Background()
	junk := []string{
		"", " ", ":", ":80", "[::1]:80", "[::1]", "::1", "127.0.0.1", "127.0.0.1:99999999999999999999",
		"a b.test", "acme.test:", "acme.test:http", "acme..test", ".acme.test", "acme.test..", "-acme.test",
		"http://acme.test", "acme.test/x", "acme.test@evil", "\x00", "ü", "\xff\xfe", "[", "]", "[::1",
		strings.Repeat("a", 64) + ".test", strings.Repeat("a.", 200) + "test", strings.Repeat("x", 1<<20),
		strings.Repeat("ä", 2000),
	}
	for _, h := range junk {
		_, err := e.cache.ByHost(ctx, h)
		mustNotFound(t, fmt.Sprintf("junk host %.40q", h), err)
	}
	before := e.cache.Stats().StoreLookups
	for _, h := range junk {
		_, err := e.cache.ByHost(ctx, h)
		mustNotFound(t, fmt.Sprintf("junk host %.40q again", h), err)
	}
	if after := e.cache.Stats().StoreLookups; after != before {
		t.Fatalf("repeated junk reached the store: %d lookups, then %d", before, after)
	}
}

func TestStoreLookupFindsTenantCreatedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test") // no watcher
	_, m2 := openManager(t, e.dir)
	other := mustCreate(t, m2, "other.test")

	mustHost(t, e.cache, "other.test", other.UUID)
	mustHost(t, e.cache, "other.test", other.UUID)
	st := e.cache.Stats()
	if st.StoreLookups != 1 || st.Hits != 1 || st.Tenants != 2 {
		t.Fatalf("the store-found tenant was not added to the snapshot: %+v", st)
	}
}

func TestHooksUpdateSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	ctx := context.Background()
	c := e.cache

	// Created: found at once, without a store query (even after a miss
	// put the domain in the negative cache).
	_, err := c.ByHost(ctx, "new.test")
	mustNotFound(t, "before create", err)
	lookups := c.Stats().StoreLookups
	nt := mustCreate(t, e.mgr, "new.test")
	mustHost(t, c, "new.test", nt.UUID)
	if got, err := c.ByRef(ctx, nt.UUID); err != nil || got.UUID != nt.UUID {
		t.Fatalf("ByRef(new uuid) = %v, %v", got, err)
	}

	// Status changed: the next lookup sees it.
	if _, err := e.mgr.ChangeStatus(ctx, "new.test", tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "unpaid"}); err != nil {
		t.Fatal(err)
	}
	if got := mustHost(t, c, "new.test", nt.UUID); got.Status != tenancy.StatusSuspended || got.StatusReason != "unpaid" {
		t.Fatalf("status after SetStatus = %s (%q)", got.Status, got.StatusReason)
	}
	if _, err := e.mgr.SetMaintenance(ctx, "new.test", true, "back soon"); err != nil {
		t.Fatal(err)
	}
	if got := mustHost(t, c, "new.test", nt.UUID); !got.Maintenance {
		t.Fatal("maintenance not seen")
	}

	// Domain added, made primary, removed.
	_, err = c.ByHost(ctx, "alias.test")
	mustNotFound(t, "alias before it is added", err)
	if _, err := e.mgr.AddDomain(ctx, "new.test", tenancy.DomainRequest{Domain: "alias.test"}); err != nil {
		t.Fatal(err)
	}
	mustHost(t, c, "alias.test", nt.UUID)
	if _, err := e.mgr.SetPrimaryDomain(ctx, "new.test", "alias.test"); err != nil {
		t.Fatal(err)
	}
	if got := mustHost(t, c, "new.test", nt.UUID); got.PrimaryDomain() != "alias.test" {
		t.Fatalf("primary = %s", got.PrimaryDomain())
	}
	if _, err := e.mgr.RemoveDomain(ctx, "new.test", "new.test"); err != nil {
		t.Fatal(err)
	}
	mustHost(t, c, "alias.test", nt.UUID)
	_, err = c.ByHost(ctx, "new.test")
	mustNotFound(t, "removed domain", err)

	// Deleted: gone by host and by uuid.
	if _, err := e.mgr.Delete(ctx, nt.UUID); err != nil {
		t.Fatal(err)
	}
	_, err = c.ByHost(ctx, "alias.test")
	mustNotFound(t, "deleted tenant by host", err)
	_, err = c.ByRef(ctx, nt.UUID)
	mustNotFound(t, "deleted tenant by uuid", err)

	st := c.Stats()
	// Only the misses for the alias before it was added, the removed
	// domain and the deleted tenant (by host and uuid) asked the store.
	if st.StoreLookups != lookups+4 || st.Tenants != 1 || st.Domains != 1 {
		t.Fatalf("stats = %+v (store lookups before the changes: %d)", st, lookups)
	}
}

// TestCrossProcessChange is the change feed end to end: another process
// (a second store and Manager on the same catalog file) suspends a tenant,
// and the Cache sees it through the Watcher within 2 seconds, without a
// store query for any lookup in between.
func TestCrossProcessChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st1, m1 := openManager(t, dir)
	acme := mustCreate(t, m1, "acme.test")
	c, err := resolve.NewCache(context.Background(), m1, &resolve.CacheConfig{Watcher: st1, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, m2 := openManager(t, dir)
	ctx := context.Background()

	lookups := c.Stats().StoreLookups
	if _, err := m2.ChangeStatus(ctx, "acme.test", tenancy.StatusChange{Status: tenancy.StatusBlocked, Reason: "fraud"}); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 2*time.Second, "status change by another process seen", func() bool {
		return mustHost(t, c, "acme.test:443", acme.UUID).Status == tenancy.StatusBlocked
	})

	other := mustCreate(t, m2, "other.test")
	testwait.Within(t, 2*time.Second, "tenant created by another process loaded", func() bool {
		return c.Stats().Tenants == 2
	})
	mustHost(t, c, "other.test", other.UUID)

	if _, err := m2.Delete(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 2*time.Second, "tenant deleted by another process dropped", func() bool {
		return c.Stats().Tenants == 1
	})

	if st := c.Stats(); st.StoreLookups != lookups || st.Reloads < 4 {
		t.Fatalf("lookups in between queried the store, or no reloads: %+v (store lookups before: %d)", st, lookups)
	}
	_, err = c.ByHost(ctx, "acme.test")
	mustNotFound(t, "deleted by another process", err)
}

func TestWatcherFailureIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	w := &flakyWatcher{fail: 2}
	c, err := resolve.NewCache(context.Background(), e.mgr, &resolve.CacheConfig{
		Watcher: w, PollInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 5*time.Second, "watcher restarted after failures", func() bool {
		return c.Stats().WatchErrors == 2 && w.running()
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if w.running() {
		t.Fatal("watcher still running after Close")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// flakyWatcher fails its first calls, then runs until stopped.
type flakyWatcher struct {
	mu      sync.Mutex
	fail    int
	started bool
	stopped bool
}

func (w *flakyWatcher) Watch(ctx context.Context, _ time.Duration, _ func()) error {
	w.mu.Lock()
	if w.fail > 0 {
		w.fail--
		w.mu.Unlock()
		return fmt.Errorf("flaky")
	}
	w.started = true
	w.mu.Unlock()
	<-ctx.Done()
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	return nil
}

func (w *flakyWatcher) running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started && !w.stopped
}

func TestNegativeCacheIsBounded(t *testing.T) {
	t.Parallel()
	const size = 50
	e := newEnv(t, &resolve.CacheConfig{NegativeSize: size}, "acme.test")
	ctx := context.Background()
	for i := range 3 * size {
		_, err := e.cache.ByHost(ctx, fmt.Sprintf("random-%d-%d.test", i, time.Now().UnixNano()))
		mustNotFound(t, "random host", err)
		if n := e.cache.Stats().NegativeEntries; n > size {
			t.Fatalf("negative cache holds %d entries, bound %d", n, size)
		}
	}
	if st := e.cache.Stats(); st.NegativeEntries != size || st.StoreLookups != 3*size {
		t.Fatalf("stats = %+v", st)
	}
	// The known tenant is unaffected.
	if _, err := e.cache.ByHost(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
}

func TestNegativeEntriesExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &resolve.CacheConfig{NegativeTTL: time.Nanosecond})
	for range 2 {
		_, err := e.cache.ByHost(context.Background(), "nobody.test")
		mustNotFound(t, "unknown host", err)
	}
	if st := e.cache.Stats(); st.StoreLookups != 2 || st.NegativeHits != 0 {
		t.Fatalf("an expired entry was trusted: %+v", st)
	}
}

func TestHitsAreCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	acme, _ := e.cache.ByHost(context.Background(), "acme.test")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				mustHost(t, e.cache, "acme.test:8080", acme.UUID)
			}
		})
	}
	wg.Wait()
	if st := e.cache.Stats(); st.Hits != 801 || st.Misses != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestStatsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	b, err := json.Marshal(e.cache.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"hits", "misses", "negative_hits", "store_lookups", "reloads", "reload_errors", "watch_errors", "tenants", "domains", "negative_entries", "last_reload"} {
		if _, ok := m[k]; !ok {
			t.Errorf("stats JSON lacks %q: %s", k, b)
		}
	}
}

func TestNewCacheValidatesConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := resolve.NewCache(ctx, nil, nil); err == nil {
		t.Error("NewCache without a Manager succeeded")
	}
	for _, cfg := range []*resolve.CacheConfig{{NegativeSize: -1}, {NegativeTTL: -time.Second}, {PollInterval: -time.Second}} {
		if _, err := resolve.NewCache(ctx, e.mgr, cfg); err == nil {
			t.Errorf("NewCache(%+v) succeeded", cfg)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := resolve.NewCache(cancelled, e.mgr, nil); err == nil {
		t.Error("NewCache with a cancelled context succeeded")
	}
}

// TestReloadKeepsConcurrentChanges makes a reload read a stale catalog (the
// store answers List from before a change made while the reload runs) and
// checks that the change, applied by its hook meanwhile, survives the reload.
func TestReloadKeepsConcurrentChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, _ := openManager(t, dir)
	slow := &stallingStore{Store: st}
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: dir + "/tenants"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.NewManager(&tenancy.Config{Store: slow, Provisioner: prov})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	acme := mustCreate(t, m, "acme.test")
	gone := mustCreate(t, m, "gone.test")
	c, err := resolve.NewCache(ctx, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	read, release := slow.stallNextList()
	done := make(chan error, 1)
	go func() { done <- c.Reload(ctx) }()
	<-read // the reload holds a copy of the catalog as it is now
	if _, err := m.ChangeStatus(ctx, "acme.test", tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: ""}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Delete(ctx, "gone.test"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := mustHost(t, c, "acme.test", acme.UUID); got.Status != tenancy.StatusSuspended {
		t.Fatalf("the reload undid a concurrent status change: %s", got.Status)
	}
	if st := c.Stats(); st.Tenants != 1 {
		t.Fatalf("the reload brought back a tenant deleted meanwhile: %+v", st)
	}
	_, err = c.ByRef(ctx, gone.UUID)
	mustNotFound(t, "deleted during reload", err)
}

// stallingStore can hold one AllTenants answer (a reload's read) back
// until released.
type stallingStore struct {
	tenancy.Store
	mu    sync.Mutex
	stall chan struct{}
	read  chan struct{}
}

func (s *stallingStore) stallNextList() (read <-chan struct{}, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read, s.stall = make(chan struct{}), make(chan struct{})
	return s.read, s.stall
}

func (s *stallingStore) AllTenants(ctx context.Context, statuses ...tenancy.Status) ([]*tenancy.Tenant, error) {
	ts, err := s.Store.AllTenants(ctx, statuses...)
	s.mu.Lock()
	read, stall := s.read, s.stall
	s.read, s.stall = nil, nil
	s.mu.Unlock()
	if stall != nil {
		close(read)
		<-stall
	}
	return ts, err
}

// TestConcurrentUse runs lookups, changes and reloads together for the race
// detector.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test", "beta.test")
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				e.cache.ByHost(ctx, "acme.test")
				e.cache.ByHost(ctx, fmt.Sprintf("miss-%d-%d.test", i, n%50))
				e.cache.Stats()
			}
		})
	}
	for i := range 5 {
		st := tenancy.StatusActive
		if i%2 == 0 {
			st = tenancy.StatusInactive
		}
		if _, err := e.mgr.ChangeStatus(ctx, "beta.test", tenancy.StatusChange{Status: st, Reason: ""}); err != nil {
			t.Fatal(err)
		}
		if err := e.cache.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got, err := e.cache.ByHost(ctx, "beta.test"); err != nil || got.Status != tenancy.StatusInactive {
		t.Fatalf("beta = %v, %v", got, err)
	}
}

// signalWatcher reports a change each time a value is sent on changes.
type signalWatcher struct{ changes chan struct{} }

func (w signalWatcher) Watch(ctx context.Context, _ time.Duration, onChange func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.changes:
			onChange()
		}
	}
}

func TestSubscribeHearsEveryWatcherReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, "acme.test")
	w := signalWatcher{changes: make(chan struct{})}
	c, err := resolve.NewCache(context.Background(), e.mgr, &resolve.CacheConfig{Watcher: w, PollInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var first, second atomic.Int64
	cancel := c.Subscribe(func() { first.Add(1) })
	c.Subscribe(func() { second.Add(1) })
	// The send returns once Watch has taken the signal; onChange, and
	// so the subscribers, run before Watch takes the next one.
	for range 3 {
		w.changes <- struct{}{}
	}
	w.changes <- struct{}{}
	if first.Load() < 3 || second.Load() < 3 {
		t.Fatalf("subscribers heard %d and %d of at least 3 reports", first.Load(), second.Load())
	}
	cancel()
	before := first.Load()
	w.changes <- struct{}{}
	w.changes <- struct{}{}
	if first.Load() != before || second.Load() < 4 {
		t.Fatalf("after cancel: first %d (was %d), second %d", first.Load(), before, second.Load())
	}
}
