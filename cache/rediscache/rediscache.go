package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/rediserr"
)

// Defaults of Config.
const (
	DefaultPrefix    = "tenancy:"
	DefaultOpTimeout = 250 * time.Millisecond
)

// logEvery is the least time between two logs of failures.
const logEvery = 10 * time.Second

// The circuit breaker: once operations have failed to reach Redis
// breakAfter times in a row and none has succeeded for breakWindow,
// operations skip Redis for retryEvery, after which one operation tries
// again. The window keeps a busy process, whose operations time out now
// and then while others succeed, from taking Redis for gone.
const (
	breakAfter  = 3
	breakWindow = time.Second
	retryEvery  = time.Second
)

// ErrUnavailable is the failure of an operation the circuit breaker kept
// from Redis, which has not answered for a while. Writes and flushes
// return it (wrapped, with tenancy.ErrCacheUnavailable); Get reports a
// miss.
var ErrUnavailable = errors.New("redis unreachable; trying again at most once a second")

// Config configures a Cache.
type Config struct {
	// URL locates the Redis server, as redis.ParseURL reads it
	// (redis://[user:password@]host:port/db, rediss:// for TLS); required.
	URL string
	// Prefix starts every key the Cache uses; default DefaultPrefix. Two
	// Caches with the same URL and Prefix share their entries (as the nodes
	// of one deployment do); give unrelated uses different prefixes.
	Prefix string
	// DefaultTTL is the lifetime of entries set with a ttl <= 0. Zero means
	// that such entries do not expire.
	DefaultTTL time.Duration
	// Logger receives the failures of Redis (rate-limited); default
	// slog.Default().
	Logger *slog.Logger
	// OpTimeout bounds each operation, connecting included; default
	// DefaultOpTimeout.
	OpTimeout time.Duration
}

// Cache is a cache.Backend in Redis, shared by every process that uses the
// same server and Prefix. It is safe for concurrent use.
//
// Its counters (Stats, Errors) count this process's operations only.
type Cache struct {
	client     redis.UniversalClient
	log        *slog.Logger
	opTimeout  time.Duration
	defaultTTL time.Duration
	epochKey   string
	genPrefix  string // <prefix>g:
	dataPrefix string // <prefix>v:

	scripts scripts

	// tenants maps a tenant id to its *namespace.
	tenants sync.Map

	// pending are the invalidations owed after failed writes or a
	// restart of Redis; settleMu guards flight, the settle running now.
	pending  pending
	settleMu sync.Mutex
	flight   *flight

	// kicks wake the background retry; closed stops it.
	kicks     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	hits, misses, sets, deletes, flushes, errs atomic.Uint64
	entries                                    atomic.Int64
	failures                                   failureLog
	breaker                                    breaker
}

var _ cache.Backend = (*Cache)(nil)

// The scripts take KEYS = {epoch key, generation key} and ARGV[1] = the
// start of the tenant's entry keys (<prefix>v:<len>:<tenant>:), ARGV[2] =
// the caller's key; they append <epoch>:<gen>:<key> to ARGV[1]. A missing
// epoch or generation is 0. (newScripts puts a line naming the prefix
// first.)
const entryKeyLua = `
local e = redis.call('GET', KEYS[1]) or '0'
local g = redis.call('GET', KEYS[2]) or '0'
local k = ARGV[1] .. e .. ':' .. g .. ':' .. ARGV[2]
`

const (
	getLua = `
return redis.call('GET', k)
`
	// ARGV[3] is the value, ARGV[4] the lifetime in milliseconds (0: none).
	setLua = `
local px = tonumber(ARGV[4])
if px > 0 then
  return redis.call('SET', k, ARGV[3], 'PX', px)
end
return redis.call('SET', k, ARGV[3])
`
	delLua = `
return redis.call('UNLINK', k)
`
)

// New returns a Cache over the Redis server at cfg.URL, which it PINGs
// (within ctx and cfg.OpTimeout). It fails when the configuration is
// invalid or Redis refuses it (a wrong password, a database it does not
// have), so that such mistakes are found at start. A server that cannot be
// reached is not an error, so that a node starts during an outage: New
// logs a warning and returns the Cache, which misses and fails writes
// until Redis answers; a background retry (with a growing delay, up to
// five seconds) notices and logs when it does. Close stops it.
func New(ctx context.Context, cfg *Config) (*Cache, error) {
	if cfg == nil || cfg.URL == "" {
		return nil, errors.New("rediscache: Config.URL is required")
	}
	c0 := *cfg
	switch {
	case c0.DefaultTTL < 0:
		return nil, fmt.Errorf("rediscache: Config.DefaultTTL must not be negative, got %s", c0.DefaultTTL)
	case c0.OpTimeout < 0:
		return nil, fmt.Errorf("rediscache: Config.OpTimeout must not be negative, got %s", c0.OpTimeout)
	}
	if c0.Prefix == "" {
		c0.Prefix = DefaultPrefix
	}
	if c0.OpTimeout == 0 {
		c0.OpTimeout = DefaultOpTimeout
	}
	if c0.Logger == nil {
		c0.Logger = slog.Default()
	}
	opt, err := redis.ParseURL(c0.URL)
	if err != nil {
		return nil, fmt.Errorf("rediscache: Config.URL: %w", err)
	}
	// Operations are bounded by their context (OpTimeout), connecting
	// included. One dial per attempt: the command's own retries, within
	// the same deadline, are the retries.
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	client := redis.NewClient(opt)

	pctx, cancel := context.WithTimeout(ctx, c0.OpTimeout)
	defer cancel()
	pingErr := client.Ping(pctx).Err()
	if pingErr != nil && (rediserr.Refused(pingErr) || ctx.Err() != nil) {
		client.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rediscache: ping %s: %w", redactURL(c0.URL), pingErr)
	}
	c := &Cache{
		client:     client,
		log:        c0.Logger,
		opTimeout:  c0.OpTimeout,
		defaultTTL: c0.DefaultTTL,
		epochKey:   c0.Prefix + "e",
		genPrefix:  c0.Prefix + "g:",
		dataPrefix: c0.Prefix + "v:",
		scripts:    newScripts(c0.Prefix),
		failures:   failureLog{log: c0.Logger, every: logEvery},
		kicks:      make(chan struct{}, 1),
		closed:     make(chan struct{}),
	}
	c.wg.Go(c.retry)
	if pingErr != nil {
		c.failures.down.Store(true) // the recovery is logged
		c.log.Warn("rediscache: redis unreachable at start; serving without the cache (reads miss, writes fail) and retrying in the background",
			"addr", redactURL(c0.URL), "err", pingErr)
		c.kick()
	} else {
		c.breaker.lastSuccess.Store(time.Now().UnixNano()) // the PING
	}
	return c, nil
}

// Close stops the background retry and closes the connections to Redis.
// The Cache must not be used after.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.wg.Wait()
	return c.client.Close()
}

// For returns the namespace of tenant. After a tenant's first call it does
// not allocate.
func (c *Cache) For(tenant string) tenancy.TenantCache {
	if tenant == "" {
		return noTenant{}
	}
	return c.namespace(tenant)
}

func (c *Cache) namespace(tenant string) *namespace {
	if ns, ok := c.tenants.Load(tenant); ok {
		return ns.(*namespace)
	}
	// Clone so the record does not pin a larger string tenant was cut from.
	tenant = strings.Clone(tenant)
	ns, _ := c.tenants.LoadOrStore(tenant, &namespace{
		c:         c,
		tenant:    tenant,
		keys:      []string{c.epochKey, c.genPrefix + tenant},
		keyPrefix: c.dataPrefix + strconv.Itoa(len(tenant)) + ":" + tenant + ":",
	})
	return ns.(*namespace)
}

// FlushTenant empties one tenant's namespace in O(1): one INCR of its
// generation. A flush that fails is an error, and is carried out once
// Redis answers again.
func (c *Cache) FlushTenant(ctx context.Context, tenant string) error {
	if tenant == "" {
		return fmt.Errorf("rediscache: flush tenant: %w", tenancy.ErrNoTenant)
	}
	return c.namespace(tenant).Flush(ctx)
}

// FlushAll empties every namespace in O(1): one INCR of the epoch. A
// flush that fails is an error, and is carried out once Redis answers
// again.
func (c *Cache) FlushAll(ctx context.Context) error {
	c.flushes.Add(1)
	if err := c.incr(ctx, c.epochKey); err != nil {
		c.failedWrite("")
		return fmt.Errorf("rediscache: flush all: %w: %w", tenancy.ErrCacheUnavailable, err)
	}
	c.entries.Store(0)
	return nil
}

// incr INCRs key within OpTimeout.
func (c *Cache) incr(ctx context.Context, key string) error {
	if !c.breaker.allow() {
		c.outcome(ctx, "flush", ErrUnavailable)
		return ErrUnavailable
	}
	octx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	err := c.client.Incr(octx, key).Err()
	c.outcome(ctx, "flush", err)
	return err
}

// Stats reports the backend's counters for this process's operations.
// Entries is the number of Sets minus Deletes this process made since its
// last FlushAll: Redis cannot count the keys under one prefix in constant
// time, and the entries are shared with other processes.
func (c *Cache) Stats() cache.Stats {
	return cache.Stats{
		Hits:    c.hits.Load(),
		Misses:  c.misses.Load(),
		Sets:    c.sets.Load(),
		Deletes: c.deletes.Load(),
		Flushes: c.flushes.Load(),
		Entries: int(max(c.entries.Load(), 0)),
	}
}

// Errors counts the operations that failed because of Redis (unreachable,
// too slow, or an error reply) since the Cache was made. Gets among them
// were reported as misses; the others returned errors.
func (c *Cache) Errors() uint64 { return c.errs.Load() }

// outcome records the result of an operation on Redis. The caller's own
// cancellation is not Redis's failure; an error reply shows that Redis
// answers, so it does not count towards opening the circuit breaker.
func (c *Cache) outcome(ctx context.Context, op string, err error) {
	var reply redis.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		c.breaker.succeeded()
		c.failures.succeeded()
	case ctx.Err() != nil:
	default:
		c.errs.Add(1)
		c.failures.failed(op, err)
		if err != ErrUnavailable && !errors.As(err, &reply) {
			c.breaker.failed()
		}
		c.kick()
	}
}

// failedWrite records that a write of tenant ("" for all) failed, so that
// the namespace is invalidated before anything is read from Redis again,
// and wakes the background retry to do it as soon as Redis answers. (A
// write whose context was done before it started changed nothing: it is
// not attempted, nor recorded.)
func (c *Cache) failedWrite(tenant string) {
	c.pending.failedWrite(tenant)
	c.kick()
}

// run runs a script on the entry key of (ns, key) within OpTimeout, once
// the invalidations owed after an outage are carried out.
func (ns *namespace) run(ctx context.Context, op string, s *redis.Script, key string, args ...any) (any, error) {
	c := ns.c
	if !c.breaker.allow() {
		c.outcome(ctx, op, ErrUnavailable)
		return nil, ErrUnavailable
	}
	octx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	if err := c.settle(octx); err != nil {
		c.outcome(ctx, op, err)
		return nil, err
	}
	argv := make([]any, 0, 2+len(args))
	argv = append(argv, ns.keyPrefix, key)
	argv = append(argv, args...)
	v, err := c.eval(octx, s, ns.keys, argv...)
	c.outcome(ctx, op, err)
	return v, err
}

// namespace is one tenant's view of a Cache.
type namespace struct {
	c      *Cache
	tenant string
	// keys are the script's KEYS: the epoch and the tenant's generation.
	keys []string
	// keyPrefix starts the tenant's entry keys: <prefix>v:<len>:<tenant>:.
	keyPrefix string
}

var _ tenancy.TenantCache = (*namespace)(nil)

// Get returns a copy of the value stored under key. When Redis fails it
// reports a miss and a nil error; it returns an error only when ctx is
// done. A Get that ran while a write failed reports a miss too: it may
// have read the value the write meant to replace.
func (ns *namespace) Get(ctx context.Context, key string) ([]byte, bool, error) {
	failures := ns.c.pending.failures.Load()
	v, err := ns.run(ctx, "get", ns.c.scripts.get, key)
	if err == nil && ns.c.pending.failures.Load() != failures {
		v = nil
	}
	if err != nil {
		ns.c.misses.Add(1)
		if !errors.Is(err, redis.Nil) && ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, nil
	}
	s, ok := v.(string)
	if !ok {
		ns.c.misses.Add(1)
		return nil, false, nil
	}
	ns.c.hits.Add(1)
	b := make([]byte, len(s)) // never nil, even when empty
	copy(b, s)
	return b, true, nil
}

// Set stores value under key. A ttl <= 0 means the backend's DefaultTTL,
// which is no expiry unless configured. When Redis fails it returns an
// error wrapping tenancy.ErrCacheUnavailable (the failure is counted and
// logged), and the tenant's namespace is invalidated once Redis answers:
// the value the Set meant to replace is never served again. When ctx is
// done it returns ctx's error.
func (ns *namespace) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = ns.c.defaultTTL
	}
	var px int64
	if ttl > 0 {
		px = max(ttl.Milliseconds(), 1) // PX counts whole milliseconds
		if time.Duration(px)*time.Millisecond < ttl {
			px++ // round up, so no entry dies before its time
		}
	}
	ns.c.sets.Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := ns.run(ctx, "set", ns.c.scripts.set, key, value, px); err != nil {
		return ns.writeFailed(ctx, "set", err)
	}
	ns.c.entries.Add(1)
	return nil
}

// writeFailed records a write (Set, Delete) that did not reach Redis or
// failed there, and returns its error: the caller's own cancellation, or
// tenancy.ErrCacheUnavailable with Redis's error.
func (ns *namespace) writeFailed(ctx context.Context, op string, err error) error {
	ns.c.failedWrite(ns.tenant)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("rediscache: %s: %w: %w", op, tenancy.ErrCacheUnavailable, err)
}

// Delete removes key. When Redis fails it returns an error wrapping
// tenancy.ErrCacheUnavailable, and the namespace is invalidated once Redis
// answers, as for Set.
func (ns *namespace) Delete(ctx context.Context, key string) error {
	ns.c.deletes.Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := ns.run(ctx, "delete", ns.c.scripts.del, key)
	if err != nil {
		return ns.writeFailed(ctx, "delete", err)
	}
	if n, _ := v.(int64); n > 0 {
		ns.c.entries.Add(-n)
	}
	return nil
}

// Flush empties the tenant's namespace in O(1). A flush that fails is an
// error wrapping tenancy.ErrCacheUnavailable, and is carried out once
// Redis answers again.
func (ns *namespace) Flush(ctx context.Context) error {
	ns.c.flushes.Add(1)
	if err := ns.c.incr(ctx, ns.keys[1]); err != nil {
		ns.c.failedWrite(ns.tenant)
		return fmt.Errorf("rediscache: flush tenant: %w: %w", tenancy.ErrCacheUnavailable, err)
	}
	return nil
}

// noTenant is the namespace of the empty tenant id: it fails closed.
type noTenant struct{}

var _ tenancy.TenantCache = noTenant{}

func (noTenant) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, tenancy.ErrNoTenant
}

func (noTenant) Set(context.Context, string, []byte, time.Duration) error {
	return tenancy.ErrNoTenant
}

func (noTenant) Delete(context.Context, string) error { return tenancy.ErrNoTenant }

func (noTenant) Flush(context.Context) error { return tenancy.ErrNoTenant }

// failureLog logs Redis failures at most once per interval, with the count
// of those it did not log, and the first success after a logged failure.
type failureLog struct {
	log   *slog.Logger
	every time.Duration

	down atomic.Bool // a failure was logged and no success since

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// failed records a failed operation.
func (l *failureLog) failed(op string, err error) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.down.Store(true)
	l.mu.Unlock()
	l.log.Warn("rediscache: redis failed; reads miss and writes fail until it answers, then the namespaces written meanwhile are invalidated",
		"op", op, "err", err, "failures_not_logged", suppressed, "next_log_in", l.every)
}

// succeeded records a successful operation; it costs an atomic load unless
// a failure was logged.
func (l *failureLog) succeeded() {
	if l.down.Load() && l.down.CompareAndSwap(true, false) {
		l.log.Info("rediscache: redis answers again")
	}
}

// breaker keeps operations from a Redis that cannot be reached, so that
// they fail at once instead of after a dial or OpTimeout each. It opens
// after breakAfter failures in a row with no success for breakWindow;
// while open, one operation per retryEvery goes through, and its success
// closes it.
type breaker struct {
	failures    atomic.Int32
	lastSuccess atomic.Int64 // unix nanoseconds
	openUntil   atomic.Int64 // unix nanoseconds; 0 when closed
}

// allow reports whether an operation may go to Redis. When the breaker is
// closed it costs an atomic load.
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	now := time.Now().UnixNano()
	if now < until {
		return false
	}
	// The first caller after retryEvery probes; the others keep skipping.
	return b.openUntil.CompareAndSwap(until, now+int64(retryEvery))
}

// succeeded records a success, which closes the breaker.
func (b *breaker) succeeded() {
	now := time.Now().UnixNano()
	// Writing at most once a millisecond keeps the cache line quiet.
	if now-b.lastSuccess.Load() > int64(time.Millisecond) {
		b.lastSuccess.Store(now)
	}
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
}

// failed counts a failure to reach Redis, and opens the breaker when it
// is the breakAfter-th in a row and nothing succeeded for breakWindow.
func (b *breaker) failed() {
	now := time.Now()
	if b.failures.Add(1) >= breakAfter && now.UnixNano()-b.lastSuccess.Load() >= int64(breakWindow) {
		b.openUntil.Store(now.Add(retryEvery).UnixNano())
	}
}

// redactURL hides the password of a Redis URL for messages.
func redactURL(raw string) string {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return "(invalid url)"
	}
	return opt.Addr
}

// Ping checks that Redis answers and that this Cache owes it no
// invalidations (after an outage), for readiness checks. Unlike the cache
// operations it does not go through the circuit breaker: it reports
// Redis's state as it is now, and its success closes the breaker.
func (c *Cache) Ping(ctx context.Context) error {
	err := c.client.Ping(ctx).Err()
	if err == nil {
		err = c.settle(ctx)
	}
	c.outcome(ctx, "ping", err)
	return err
}
