package cache

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotenancy/tenancy"
)

// Bootstrapper attaches the tenant's namespace, Backend.For(t.UUID), to the
// tenant context (looked up on first use, through
// tenancy.WithCacheProvider), so that handlers reach it with
// tenancy.Cache(ctx). It holds nothing per request: Revert does nothing.
type Bootstrapper struct {
	// Backend holds the namespaces; required.
	Backend Backend
}

var _ tenancy.Bootstrapper = (*Bootstrapper)(nil)

// errNoBackend is returned by a Bootstrapper without a Backend.
var errNoBackend = errors.New("cache: Bootstrapper has no Backend")

// NewBootstrapper returns a Bootstrapper over b.
func NewBootstrapper(b Backend) *Bootstrapper {
	return &Bootstrapper{Backend: b}
}

// Bootstrap makes t's namespace available to tenancy.Cache; the backend is
// asked for it on first use only. It does not allocate.
func (b *Bootstrapper) Bootstrap(ctx context.Context, t *tenancy.Tenant) (context.Context, error) {
	if b.Backend == nil {
		return nil, errNoBackend
	}
	if t == nil || t.UUID == "" {
		return nil, fmt.Errorf("cache: bootstrap: %w", tenancy.ErrNoTenant)
	}
	return tenancy.WithCacheProvider(ctx, b.Backend), nil
}

// Revert does nothing: a namespace holds no per-request resources.
func (b *Bootstrapper) Revert(ctx context.Context) {}
