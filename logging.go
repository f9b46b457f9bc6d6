package tenancy

import (
	"context"
	"log/slog"
	"sync"
)

// LogBootstrapper gives each tenant context a logger carrying the tenant's
// attributes (tenant uuid and name), built once per tenant and reused.
type LogBootstrapper struct {
	base *slog.Logger

	mu      sync.RWMutex
	loggers map[string]tenantLogger // by tenant uuid
}

// tenantLogger is a tenant's logger and the name it was built with.
type tenantLogger struct {
	name   string
	logger *slog.Logger
}

var _ Bootstrapper = (*LogBootstrapper)(nil)

// NewLogBootstrapper returns a bootstrapper deriving tenant loggers from
// base (slog.Default() when nil).
func NewLogBootstrapper(base *slog.Logger) *LogBootstrapper {
	if base == nil {
		base = slog.Default()
	}
	return &LogBootstrapper{base: base, loggers: map[string]tenantLogger{}}
}

// Bootstrap makes the tenant's logger available to Logger, built (or
// reused) on first use.
func (b *LogBootstrapper) Bootstrap(ctx context.Context, t *Tenant) (context.Context, error) {
	return WithLoggerProvider(ctx, b), nil
}

// LoggerFor returns the tenant's logger, built once per tenant.
func (b *LogBootstrapper) LoggerFor(t *Tenant) *slog.Logger {
	b.mu.RLock()
	tl, ok := b.loggers[t.UUID]
	b.mu.RUnlock()
	if !ok || tl.name != t.Name {
		tl = tenantLogger{t.Name, b.base.With(slog.Group("tenant", slog.String("uuid", t.UUID), slog.String("name", t.Name)))}
		b.mu.Lock()
		if len(b.loggers) >= 100_000 {
			clear(b.loggers) // bounded: rebuilt on demand
		}
		b.loggers[t.UUID] = tl
		b.mu.Unlock()
	}
	return tl.logger
}

// Revert does nothing: loggers hold no resources.
func (b *LogBootstrapper) Revert(context.Context) {}
