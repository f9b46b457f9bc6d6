package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/tenantdb"
)

// Watcher reports changes to the catalog made by other processes or nodes:
// *sqlitestore.Store polls PRAGMA data_version and a catalog version,
// *pgstore.Store listens with LISTEN/NOTIFY, *mysqlstore.Store polls a
// catalog version, and feed.Redis subscribes to Redis pub/sub.
type Watcher = model.Watcher

// Catalog is what a Cache reads and listens to: the tenancy.Manager
// satisfies it. It is an interface so that this package does not import
// the Manager, which builds its default resolver from it.
type Catalog interface {
	// Get returns the tenant with this uuid or domain.
	Get(ctx context.Context, ref string) (*model.Tenant, error)
	// AllTenants returns every tenant with its domains.
	AllTenants(ctx context.Context) ([]*model.Tenant, error)
	// On registers a hook and returns the function that removes it.
	On(kind model.EventKind, h model.Hook) (unsubscribe func())
	// Databases is the view of the tenant databases, whose handles the
	// Cache forgets for tenants that left the catalog.
	Databases() tenantdb.Databases
}

// Defaults of CacheConfig.
const (
	DefaultNegativeSize = 10_000
	DefaultNegativeTTL  = 30 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
)

// CacheConfig configures a Cache. The zero value (or a nil *CacheConfig)
// means the defaults.
type CacheConfig struct {
	// NegativeSize bounds the negative cache of hosts and references the
	// catalog does not know; the oldest entry goes when it is full. Default
	// DefaultNegativeSize.
	NegativeSize int
	// NegativeTTL is how long a not-found answer is trusted; default
	// DefaultNegativeTTL. A tenant created by another process is seen at
	// the latest on the next reload, whatever the TTL.
	NegativeTTL time.Duration
	// PollInterval is how often the Watcher checks for changes, and the
	// least time between two reloads it triggers; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// Watcher, when set, reports commits by other processes (pass the
	// *sqlitestore.Store the Manager uses); each report triggers a full
	// reload (see Reload), at most one per PollInterval. The SQLite
	// watcher reports this process's commits too, and once when it
	// starts. When nil, only changes made through this process's Manager
	// are seen (and tenants found by a lookup that missed the snapshot).
	Watcher Watcher
	// Logger receives reload and watcher failures; default slog.Default().
	Logger *slog.Logger
}

// CacheStats are a Cache's counters, for monitoring.
type CacheStats struct {
	// Hits are lookups answered from the snapshot.
	Hits uint64 `json:"hits"`
	// Misses are lookups the snapshot could not answer; they are answered
	// by the negative cache, by a store lookup, or at once when the host is
	// not a host name at all.
	Misses uint64 `json:"misses"`
	// NegativeHits are misses answered by the negative cache.
	NegativeHits uint64 `json:"negative_hits"`
	// StoreLookups are misses passed to the Manager (one store query each).
	StoreLookups uint64 `json:"store_lookups"`
	// Reloads are full reads of the catalog, the first one included.
	Reloads uint64 `json:"reloads"`
	// ReloadErrors are reloads that failed; the previous snapshot stays.
	ReloadErrors uint64 `json:"reload_errors"`
	// WatchErrors are failures of the Watcher, which is restarted.
	WatchErrors uint64 `json:"watch_errors"`
	// Tenants and Domains are the sizes of the snapshot.
	Tenants int `json:"tenants"`
	Domains int `json:"domains"`
	// NegativeEntries is the size of the negative cache.
	NegativeEntries int `json:"negative_entries"`
	// LastReload is when the last reload succeeded.
	LastReload time.Time `json:"last_reload"`
}

// Cache answers "which tenant is this host (or uuid)?" from an in-memory
// snapshot of the catalog. It is safe for concurrent use.
//
// The tenants it returns are shared between all callers and must not be
// changed; Clone one to change it.
type Cache struct {
	m Catalog
	// unsubscribe removes the Cache's hooks from the Manager.
	unsubscribe []func()
	log         *slog.Logger
	watcher     Watcher
	interval    time.Duration
	neg         *negativeCache
	lookups     singleflight.Group

	snap atomic.Pointer[snapshot]

	// mu serialises the writers of snap. gen counts the changes hooks made,
	// so a store lookup can tell that a hook ran while it was in flight.
	// While a reload reads the catalog, the changes made meanwhile are
	// kept in journal and applied over what it read.
	mu        sync.Mutex
	gen       uint64
	reloading bool
	journal   []change
	reloadMu  sync.Mutex // one reload at a time

	hits, misses, negHits, storeLookups atomic.Uint64
	reloads, reloadErrs, watchErrs      atomic.Uint64
	lastReload                          atomic.Int64 // unix nanoseconds

	changed chan struct{} // the watcher's signal, coalesced
	closed  atomic.Bool

	subsMu  sync.Mutex
	subs    map[int]func()
	nextSub int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewCache loads every tenant of m's catalog into a new Cache, registers
// hooks on m that keep it up to date with this process's changes, and, when
// cfg.Watcher is set, starts watching for other processes' changes. ctx
// bounds the initial load only. Close stops the watching.
//
// The hooks stay registered on m (a Manager cannot forget a hook); after
// Close they do nothing.
func NewCache(ctx context.Context, m Catalog, cfg *CacheConfig) (*Cache, error) {
	if m == nil {
		return nil, errors.New("resolve: NewCache needs a Manager")
	}
	var c0 CacheConfig
	if cfg != nil {
		c0 = *cfg
	}
	switch {
	case c0.NegativeSize < 0:
		return nil, fmt.Errorf("resolve: negative NegativeSize %d", c0.NegativeSize)
	case c0.NegativeTTL < 0:
		return nil, fmt.Errorf("resolve: negative NegativeTTL %s", c0.NegativeTTL)
	case c0.PollInterval < 0:
		return nil, fmt.Errorf("resolve: negative PollInterval %s", c0.PollInterval)
	}
	if c0.NegativeSize == 0 {
		c0.NegativeSize = DefaultNegativeSize
	}
	if c0.NegativeTTL == 0 {
		c0.NegativeTTL = DefaultNegativeTTL
	}
	if c0.PollInterval == 0 {
		c0.PollInterval = DefaultPollInterval
	}
	if c0.Logger == nil {
		c0.Logger = slog.Default()
	}
	c := &Cache{
		m:        m,
		log:      c0.Logger,
		watcher:  c0.Watcher,
		interval: c0.PollInterval,
		neg:      newNegativeCache(c0.NegativeSize, int64(c0.NegativeTTL)),
		changed:  make(chan struct{}, 1),
	}
	c.snap.Store(newSnapshot(0))
	// Hooks first, so that a change committed during the first load is
	// not lost: it is journaled and applied over what the load read.
	for _, kind := range []model.EventKind{
		model.EventCreated, model.EventUpdated, model.EventStatusChanged,
		model.EventDeleted, model.EventDomainAdded, model.EventDomainRemoved,
	} {
		c.unsubscribe = append(c.unsubscribe, m.On(kind, c.onEvent))
	}
	if err := c.Reload(ctx); err != nil {
		c.closed.Store(true)
		for _, unsubscribe := range c.unsubscribe {
			unsubscribe()
		}
		return nil, err
	}
	if c.watcher != nil {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.cancel = cancel
		c.wg.Go(func() { c.watch(wctx) })
		c.wg.Go(func() { c.reloader(wctx) })
	}
	return c, nil
}

// Close stops watching for changes. Lookups keep answering from the last
// snapshot (and the store, for misses); hooks stop updating it.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	for _, unsubscribe := range c.unsubscribe {
		unsubscribe()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	return nil
}

// notFoundError is the not-found answer of a lookup. It is a type rather
// than fmt.Errorf only to keep misses cheap.
type notFoundError struct {
	what, ref string
}

func (e *notFoundError) Error() string {
	ref := e.ref
	if len(ref) > 100 {
		ref = ref[:100] + "…"
	}
	return fmt.Sprintf("%v: %s %q", model.ErrNotFound, e.what, ref)
}

func (e *notFoundError) Unwrap() error { return model.ErrNotFound }

// ByHost returns the tenant with the domain host. host is taken as it comes
// in a Host header: it may carry a port, upper case, Unicode or a trailing
// dot. An unknown host, or one that is not a host name, gives an error
// wrapping model.ErrNotFound. The tenant is shared: do not change it.
func (c *Cache) ByHost(ctx context.Context, host string) (*model.Tenant, error) {
	key, ok := fastHost(host)
	if !ok {
		if key, ok = slowHost(host); !ok {
			c.misses.Add(1)
			return nil, &notFoundError{"host", host}
		}
	}
	return c.byDomain(ctx, key)
}

// ByRef returns the tenant a reference names, as Manager.Get reads it: a
// uuid, or else one of the tenant's domains. An unknown reference gives an
// error wrapping model.ErrNotFound. The tenant is shared: do not change it.
func (c *Cache) ByRef(ctx context.Context, ref string) (*model.Tenant, error) {
	ref = strings.TrimSpace(ref)
	if canonicalUUID(ref) {
		return c.byUUID(ctx, ref)
	}
	if id, err := uuid.Parse(ref); err == nil {
		return c.byUUID(ctx, id.String())
	}
	return c.ByHost(ctx, ref)
}

// byDomain looks up a normalised domain (or IP key) in the snapshot.
func (c *Cache) byDomain(ctx context.Context, key string) (*model.Tenant, error) {
	if t := c.snap.Load().byDomain[key]; t != nil {
		c.hits.Add(1)
		return t, nil
	}
	return c.miss(ctx, key, false)
}

// byUUID looks up a canonical uuid in the snapshot.
func (c *Cache) byUUID(ctx context.Context, id string) (*model.Tenant, error) {
	if t := c.snap.Load().byUUID[id]; t != nil {
		c.hits.Add(1)
		return t, nil
	}
	return c.miss(ctx, id, true)
}

// uuidNegPrefix keeps uuids apart from domains in the negative cache (a uuid
// is also a valid domain label, and "not a tenant's uuid" says nothing about
// the domain). ':' appears in no domain, and in no IP key followed by this.
const uuidNegPrefix = "uuid:"

// miss answers a lookup the snapshot could not: from the negative cache, or
// from the Manager, once per key however many requests ask at the same time.
// A tenant found is added to the snapshot, a not-found is remembered.
func (c *Cache) miss(ctx context.Context, key string, isUUID bool) (*model.Tenant, error) {
	c.misses.Add(1)
	what, negKey := "domain", key
	if isUUID {
		what, negKey = "uuid", uuidNegPrefix+key
	}
	if c.neg.contains(negKey, time.Now().UnixNano()) {
		c.negHits.Add(1)
		return nil, &notFoundError{what, key}
	}
	v, err, _ := c.lookups.Do(negKey, func() (any, error) {
		// A lookup for the same key may have finished just before this one
		// started.
		if c.neg.contains(negKey, time.Now().UnixNano()) {
			c.negHits.Add(1)
			return nil, &notFoundError{what, key}
		}
		c.mu.Lock()
		gen := c.gen
		c.mu.Unlock()
		// A domain is passed with a trailing dot: NormalizeDomain strips
		// it, and it stops Manager.Get from taking a uuid-shaped host (a
		// valid domain label) for a uuid.
		ref := key + "."
		if isUUID {
			ref = key
		}
		c.storeLookups.Add(1)
		t, err := c.m.Get(ctx, ref)
		switch {
		case errors.Is(err, model.ErrNotFound) || model.IsValidation(err):
			c.neg.add(negKey, time.Now().UnixNano())
			return nil, &notFoundError{what, key}
		case err != nil:
			return nil, fmt.Errorf("resolve: look up %s %q: %w", what, key, err)
		}
		c.found(t, gen)
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*model.Tenant), nil
}

// found adds a tenant a store lookup found to the snapshot, unless a hook
// changed the snapshot while the lookup was in flight: the lookup may then
// have read a state older than the hook's (a deleted tenant, say).
func (c *Cache) found(t *model.Tenant, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.applyLocked(change{tenant: t})
}

// applyLocked publishes a snapshot with ch applied. c.mu must be held.
func (c *Cache) applyLocked(ch change) {
	s := c.snap.Load().clone()
	s.apply(ch)
	c.snap.Store(s)
	if c.reloading {
		c.journal = append(c.journal, ch)
	}
}

// onEvent is the hook that applies a change made through this process's
// Manager. The event carries the tenant after the change (before it, for a
// deletion), so no store query is needed.
func (c *Cache) onEvent(_ context.Context, e model.Event) error {
	if c.closed.Load() || e.Tenant == nil {
		return nil
	}
	t := e.Tenant
	c.mu.Lock()
	c.gen++
	if e.Kind == model.EventDeleted {
		c.applyLocked(change{deleted: t.UUID})
	} else {
		c.applyLocked(change{tenant: t})
	}
	c.mu.Unlock()
	forget := make([]string, 0, len(t.Domains)+2)
	forget = append(forget, uuidNegPrefix+t.UUID)
	for _, d := range t.Domains {
		forget = append(forget, d.Domain)
	}
	if e.Domain != "" {
		forget = append(forget, e.Domain)
	}
	c.neg.remove(forget...)
	return nil
}

// Reload replaces the snapshot with a fresh read of the whole catalog. The
// Watcher's changes trigger it; call it directly after changing the catalog
// behind the Manager's back.
//
// It costs a full read: the Manager has no change feed, so the catalog is
// listed in pages of model.MaxPerPage: for 10,000 tenants, 100 pages of
// three queries each, which took 130-220 ms on a small shared test machine
// (SQLite, OFFSET paging). Pages
// are by creation time, so tenants created meanwhile land on later pages; a
// tenant deleted meanwhile can shift a page and hide one tenant from this
// read, which the next reload (the deletion's own commit triggers one) or
// the first lookup that misses puts right.
func (c *Cache) Reload(ctx context.Context) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	c.mu.Lock()
	c.reloading, c.journal = true, nil
	c.mu.Unlock()

	ts, err := c.readAll(ctx)
	var s *snapshot
	if err == nil {
		s = newSnapshot(len(ts))
		for _, t := range ts {
			s.upsert(t)
		}
	}

	c.mu.Lock()
	journal := c.journal
	c.reloading, c.journal = false, nil
	if err != nil {
		c.mu.Unlock()
		c.reloadErrs.Add(1)
		return fmt.Errorf("resolve: reload tenants: %w", err)
	}
	for _, ch := range journal {
		s.apply(ch)
	}
	gone := departed(c.snap.Load(), s)
	c.snap.Store(s)
	c.reloads.Add(1)
	c.lastReload.Store(time.Now().UnixNano())
	c.mu.Unlock()
	// Handles on the databases of tenants that were deleted, are being
	// deleted or got another database are closed here too, not only on
	// the node that made the change.
	for _, t := range gone {
		c.m.Databases().Forget(t)
	}
	return nil
}

// departed lists the tenants of prev whose database handles must not be
// used any more according to next: gone from the catalog, in a lifecycle
// state, or on another database or generation.
func departed(prev, next *snapshot) []*model.Tenant {
	var gone []*model.Tenant
	for id, old := range prev.byUUID {
		cur := next.byUUID[id]
		if cur == nil || cur.Status.Lifecycle() || cur.DatabaseName != old.DatabaseName || cur.Generation != old.Generation {
			gone = append(gone, old)
		}
	}
	return gone
}

// readAll lists every tenant through the Manager, in one read of the
// catalog.
func (c *Cache) readAll(ctx context.Context) ([]*model.Tenant, error) {
	return c.m.AllTenants(ctx)
}

// Stats returns the Cache's counters.
func (c *Cache) Stats() CacheStats {
	s := c.snap.Load()
	st := CacheStats{
		Hits:            c.hits.Load(),
		Misses:          c.misses.Load(),
		NegativeHits:    c.negHits.Load(),
		StoreLookups:    c.storeLookups.Load(),
		Reloads:         c.reloads.Load(),
		ReloadErrors:    c.reloadErrs.Load(),
		WatchErrors:     c.watchErrs.Load(),
		Tenants:         len(s.byUUID),
		Domains:         len(s.byDomain),
		NegativeEntries: c.neg.len(),
	}
	if ns := c.lastReload.Load(); ns != 0 {
		st.LastReload = time.Unix(0, ns)
	}
	return st
}

// Subscribe calls fn each time the Watcher reports a change to the catalog
// (by this process or another), before the snapshot reloads, and when the
// Watcher restarts after a failure (changes may have been missed). It is
// for caches of other catalog data, such as verified API keys, that must
// be dropped when the catalog changes. fn runs on the watcher's goroutine
// and must return quickly, without subscribing or cancelling. Without a
// Watcher fn is never called. The returned function ends the
// subscription: fn is not called once it has returned.
func (c *Cache) Subscribe(fn func()) (cancel func()) {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	if c.subs == nil {
		c.subs = map[int]func(){}
	}
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.subsMu.Lock()
		defer c.subsMu.Unlock()
		delete(c.subs, id)
	}
}

// watcherChanged is the Watcher's report of a change: subscribers hear of
// it at once, the snapshot reloads soon after.
func (c *Cache) watcherChanged() {
	c.subsMu.Lock()
	for _, fn := range c.subs {
		fn()
	}
	c.subsMu.Unlock()
	c.notify()
}

// notify records that the catalog changed; bursts collapse into one pending
// signal.
func (c *Cache) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// watch runs the Watcher until ctx is done, restarting it with a backoff
// when it fails.
func (c *Cache) watch(ctx context.Context) {
	const maxBackoff = 30 * time.Second
	backoff := c.interval
	for {
		start := time.Now()
		err := c.watcher.Watch(ctx, c.interval, c.watcherChanged)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("watcher returned before it was stopped")
		}
		if time.Since(start) > maxBackoff {
			backoff = c.interval
		}
		c.watchErrs.Add(1)
		c.log.WarnContext(ctx, "resolve: catalog change watcher failed; restarting", "err", err, "retry_in", backoff)
		// Changes may have been missed while it was down.
		c.watcherChanged()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// reloader reloads the snapshot when the watcher signals a change. Signals
// that arrive while a reload waits or runs collapse into one more reload,
// and reloads start at least PollInterval apart, so a burst of commits costs
// a few reloads, not one each.
func (c *Cache) reloader(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.changed:
		}
		if wait := time.Until(last.Add(c.interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		// A signal that came while waiting is covered by this reload.
		select {
		case <-c.changed:
		default:
		}
		last = time.Now()
		if err := c.Reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.ErrorContext(ctx, "resolve: reloading tenants after a catalog change", "err", err)
			c.notify() // try again, PollInterval later
		}
	}
}
