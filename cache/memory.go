package cache

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"

	"github.com/gotenancy/tenancy"
)

// DefaultMaxEntries is the entry bound of a Memory backend whose
// MemoryConfig.MaxEntries is zero.
const DefaultMaxEntries = 100_000

// MemoryConfig configures a Memory backend. The zero value (or a nil
// *MemoryConfig) means the defaults.
type MemoryConfig struct {
	// MaxEntries bounds the number of entries of all tenants together; the
	// least valuable entries are evicted beyond it. Zero means
	// DefaultMaxEntries.
	MaxEntries int
	// DefaultTTL is the lifetime of entries set with a ttl <= 0. Zero means
	// that such entries do not expire.
	DefaultTTL time.Duration
	// Now is the clock entries expire by; nil means time.Now. Tests pass a
	// manual clock to expire entries without waiting.
	Now func() time.Time
}

// clock adapts a Now function to otter's Clock. It has no ticks, so the
// cache expires entries when they are read rather than proactively.
type clock func() time.Time

func (c clock) NowNano() int64                      { return c().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }

// Memory is an in-process Backend: one bounded store shared by all tenants,
// with a TTL per entry. It is safe for concurrent use. Its methods never
// block, so they ignore their context.
//
// Memory keeps a small record (the generation) for every tenant id it has
// seen, for the life of the backend.
type Memory struct {
	store      *otter.Cache[entryKey, entry]
	counter    *stats.Counter
	defaultTTL time.Duration

	// tenants maps a tenant id to its *namespace.
	tenants sync.Map

	sets, deletes, flushes atomic.Uint64
}

var _ Backend = (*Memory)(nil)

// entryKey is the key an entry is stored under. A struct of the tenant, its
// generation and the caller's key cannot collide across tenants however
// either string is chosen.
type entryKey struct {
	tenant string
	gen    uint64
	key    string
}

// entry is a stored value with its lifetime.
type entry struct {
	data []byte
	ttl  time.Duration // <= 0: no expiry
}

// never is the lifetime of entries that do not expire.
const never = time.Duration(math.MaxInt64)

// NewMemory returns an empty Memory backend configured by cfg (nil means
// defaults).
func NewMemory(cfg *MemoryConfig) (*Memory, error) {
	var c MemoryConfig
	if cfg != nil {
		c = *cfg
	}
	switch {
	case c.MaxEntries < 0:
		return nil, fmt.Errorf("cache: MemoryConfig.MaxEntries must not be negative, got %d", c.MaxEntries)
	case c.DefaultTTL < 0:
		return nil, fmt.Errorf("cache: MemoryConfig.DefaultTTL must not be negative, got %s", c.DefaultTTL)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	counter := stats.NewCounter()
	var otterClock otter.Clock
	if c.Now != nil {
		otterClock = clock(c.Now)
	}
	store, err := otter.New(&otter.Options[entryKey, entry]{
		Clock:         otterClock,
		MaximumSize:   c.MaxEntries,
		StatsRecorder: counter,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[entryKey, entry]) time.Duration {
			if e.Value.ttl <= 0 {
				return never
			}
			return e.Value.ttl
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Memory{store: store, counter: counter, defaultTTL: c.DefaultTTL}, nil
}

// For returns the namespace of tenant. After a tenant's first call it does
// not allocate.
func (m *Memory) For(tenant string) tenancy.TenantCache {
	if tenant == "" {
		return noTenant{}
	}
	return m.namespace(tenant)
}

func (m *Memory) namespace(tenant string) *namespace {
	if ns, ok := m.tenants.Load(tenant); ok {
		return ns.(*namespace)
	}
	// Clone so the record does not pin a larger string tenant was cut from.
	ns, _ := m.tenants.LoadOrStore(tenant, &namespace{m: m, tenant: strings.Clone(tenant)})
	return ns.(*namespace)
}

// FlushTenant empties one tenant's namespace in O(1).
func (m *Memory) FlushTenant(ctx context.Context, tenant string) error {
	if tenant == "" {
		return fmt.Errorf("cache: flush tenant: %w", tenancy.ErrNoTenant)
	}
	m.flushes.Add(1)
	// A tenant never seen has no entries to flush.
	if ns, ok := m.tenants.Load(tenant); ok {
		ns.(*namespace).gen.Add(1)
	}
	return nil
}

// FlushAll empties every namespace. Unlike FlushTenant it removes the
// entries at once, in time proportional to their number.
func (m *Memory) FlushAll(ctx context.Context) error {
	m.flushes.Add(1)
	m.store.InvalidateAll()
	return nil
}

// Stats reports the backend's counters.
func (m *Memory) Stats() Stats {
	s := m.counter.Snapshot()
	return Stats{
		Hits:    s.Hits,
		Misses:  s.Misses,
		Sets:    m.sets.Load(),
		Deletes: m.deletes.Load(),
		Flushes: m.flushes.Load(),
		Entries: m.store.EstimatedSize(),
	}
}

// namespace is one tenant's view of a Memory backend.
type namespace struct {
	m      *Memory
	tenant string
	gen    atomic.Uint64
}

var _ tenancy.TenantCache = (*namespace)(nil)

func (ns *namespace) key(key string) entryKey {
	return entryKey{tenant: ns.tenant, gen: ns.gen.Load(), key: key}
}

// Get returns a copy of the value stored under key.
func (ns *namespace) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, ok := ns.m.store.GetIfPresent(ns.key(key))
	if !ok {
		return nil, false, nil
	}
	return cloneBytes(e.data), true, nil
}

// Set stores a copy of value under key. A ttl <= 0 means the backend's
// DefaultTTL, which is no expiry unless configured.
func (ns *namespace) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = ns.m.defaultTTL
	}
	ns.m.store.Set(ns.key(key), entry{data: cloneBytes(value), ttl: ttl})
	ns.m.sets.Add(1)
	return nil
}

// Delete removes key.
func (ns *namespace) Delete(ctx context.Context, key string) error {
	ns.m.store.Invalidate(ns.key(key))
	ns.m.deletes.Add(1)
	return nil
}

// Flush empties the tenant's namespace in O(1).
func (ns *namespace) Flush(ctx context.Context) error {
	ns.gen.Add(1)
	ns.m.flushes.Add(1)
	return nil
}
