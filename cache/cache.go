package cache

import (
	"context"
	"time"

	"github.com/gotenancy/tenancy"
)

// Backend stores cached values for many tenants, each in its own namespace.
// Implementations are safe for concurrent use.
type Backend interface {
	// For returns the namespace of one tenant, keyed by the tenant's UUID.
	// It is cheap and may be called on every request. The namespace of the
	// empty tenant id fails every call with tenancy.ErrNoTenant.
	For(tenant string) tenancy.TenantCache
	// FlushTenant empties one tenant's namespace in O(1): it bumps the
	// tenant's generation, so its old entries become unreachable and age out.
	FlushTenant(ctx context.Context, tenant string) error
	// FlushAll empties every namespace.
	FlushAll(ctx context.Context) error
	// Stats reports the backend's counters since it was made.
	Stats() Stats
}

// Stats are a backend's counters. The counts are exact for the operations
// of this process; Entries is an estimate that may include expired entries
// and entries of flushed generations not yet evicted.
type Stats struct {
	// Hits counts Get calls that found a value.
	Hits uint64 `json:"hits"`
	// Misses counts Get calls that found none.
	Misses uint64 `json:"misses"`
	// Sets counts Set calls.
	Sets uint64 `json:"sets"`
	// Deletes counts Delete calls.
	Deletes uint64 `json:"deletes"`
	// Flushes counts flushes of one tenant (TenantCache.Flush and
	// Backend.FlushTenant) and of all tenants (FlushAll).
	Flushes uint64 `json:"flushes"`
	// Entries estimates the number of entries stored.
	Entries int `json:"entries"`
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

// cloneBytes copies b; the copy of an empty value is empty but not nil.
func cloneBytes(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
