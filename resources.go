package tenancy

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"
)

// Bootstrapper prepares one kind of tenant-scoped resource when code starts
// running for a tenant (a request, a job, Manager.Run) and releases it when
// that code ends. Bootstrappers run in registration order and are reverted
// in reverse order.
type Bootstrapper interface {
	// Bootstrap attaches the tenant's resource to ctx (through WithCache,
	// WithStorage, WithEnqueuer, WithLogger or context values of its own)
	// and returns the context the tenant's code will see. It should be
	// cheap: open expensive resources lazily, on first use.
	Bootstrap(ctx context.Context, t *Tenant) (context.Context, error)
	// Revert releases whatever Bootstrap acquired for ctx.
	Revert(ctx context.Context)
}

// ErrCacheUnavailable means a cache backend could not carry out a write
// (Set, Delete, Flush): its server is unreachable or failed. The value
// stored before, if any, is not served again (the backend invalidates the
// namespace once its server is back), but the new one is not stored either.
var ErrCacheUnavailable = errors.New("cache unavailable")

// TenantCache is one tenant's cache namespace. Keys never collide with
// another tenant's; Flush empties this tenant's namespace only.
type TenantCache interface {
	// Get returns the value stored under key, and whether there was one.
	// A backend that cannot be reached may report a miss.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl; ttl <= 0 means the backend's
	// default (no expiry unless the backend was configured with one). A
	// value that could not be stored is an error (ErrCacheUnavailable),
	// never a silent success.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; one that could not be removed is an error
	// (ErrCacheUnavailable).
	Delete(ctx context.Context, key string) error
	// Flush removes every key of this tenant in O(1).
	Flush(ctx context.Context) error
}

// StorageOpener opens a tenant's storage root on first use.
type StorageOpener interface {
	// Root returns the tenant's storage root; no path can escape it.
	Root() (*os.Root, error)
}

// JobArgs is a background job's arguments; Kind names the job (it matches
// river.JobArgs).
type JobArgs interface {
	Kind() string
}

// Enqueuer enqueues background jobs that run in the tenant's context.
type Enqueuer interface {
	Enqueue(ctx context.Context, job JobArgs) error
}

// CacheProvider gives a tenant's cache namespace (cache.Backend is one).
type CacheProvider interface {
	For(tenant string) TenantCache
}

// LoggerProvider gives a tenant's logger (LogBootstrapper is one).
type LoggerProvider interface {
	LoggerFor(t *Tenant) *slog.Logger
}

// resources are the tenant-scoped resources attached to a scope. The
// providers are resolved on first use, so a request that never touches
// its cache or logger pays nothing for them.
type resources struct {
	cache         TenantCache
	cacheProvider CacheProvider
	storage       StorageOpener
	enqueuer      Enqueuer
	logger        *slog.Logger
	loggerFrom    LoggerProvider
}

func scopeOf(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

// WithCache attaches the tenant's cache to a tenant context (for
// bootstrappers). Outside a tenant context it does nothing.
func WithCache(ctx context.Context, c TenantCache) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.cache = c
	}
	return ctx
}

// WithCacheProvider attaches a source of the tenant's cache to a tenant
// context (for bootstrappers): the namespace is looked up on the first
// Cache call. Outside a tenant context it does nothing.
func WithCacheProvider(ctx context.Context, p CacheProvider) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.cacheProvider = p
	}
	return ctx
}

// WithLoggerProvider attaches a source of the tenant's logger to a tenant
// context (for bootstrappers): the logger is built on the first Logger
// call. Outside a tenant context it does nothing.
func WithLoggerProvider(ctx context.Context, p LoggerProvider) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.loggerFrom = p
	}
	return ctx
}

// WithStorage attaches the tenant's storage to a tenant context (for
// bootstrappers). Outside a tenant context it does nothing.
func WithStorage(ctx context.Context, o StorageOpener) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.storage = o
	}
	return ctx
}

// WithEnqueuer attaches the tenant's job enqueuer to a tenant context (for
// bootstrappers). Outside a tenant context it does nothing.
func WithEnqueuer(ctx context.Context, e Enqueuer) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.enqueuer = e
	}
	return ctx
}

// WithLogger attaches the tenant's logger to a tenant context (for
// bootstrappers). Outside a tenant context it does nothing.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	if s := scopeOf(ctx); s != nil {
		s.res.logger = l
	}
	return ctx
}

// Cache returns the current tenant's cache, or ErrNoTenant without a tenant
// (or without a cache bootstrapper): it never falls back to a shared namespace.
func Cache(ctx context.Context) (TenantCache, error) {
	s := scopeOf(ctx)
	if s == nil {
		return nil, ErrNoTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res.cache == nil && s.res.cacheProvider != nil {
		s.res.cache = s.res.cacheProvider.For(s.tenant.UUID)
	}
	if s.closed || s.res.cache == nil {
		return nil, ErrNoTenant
	}
	return s.res.cache, nil
}

// Storage returns the current tenant's storage root, or ErrNoTenant.
func Storage(ctx context.Context) (*os.Root, error) {
	s := scopeOf(ctx)
	if s == nil || s.ended() || s.res.storage == nil {
		return nil, ErrNoTenant
	}
	return s.res.storage.Root()
}

// Enqueue enqueues a job that runs in the current tenant's context, or
// returns ErrNoTenant.
func Enqueue(ctx context.Context, job JobArgs) error {
	s := scopeOf(ctx)
	if s == nil || s.ended() || s.res.enqueuer == nil {
		return ErrNoTenant
	}
	return s.res.enqueuer.Enqueue(ctx, job)
}

// Logger returns a logger carrying the current tenant's attributes; without
// a tenant it returns slog.Default(), which carries none.
func Logger(ctx context.Context) *slog.Logger {
	s := scopeOf(ctx)
	if s == nil {
		return slog.Default()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res.logger == nil && s.res.loggerFrom != nil {
		s.res.logger = s.res.loggerFrom.LoggerFor(s.tenant)
	}
	if s.res.logger == nil {
		return slog.Default()
	}
	return s.res.logger
}
