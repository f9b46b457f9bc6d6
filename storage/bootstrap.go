package storage

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/gotenancy/tenancy"
)

// Bootstrapper makes the tenant's storage root reachable with
// tenancy.Storage(ctx). The root is opened on the first tenancy.Storage
// call only, the same *os.Root is returned to the later calls in that
// context (from any goroutine), and Revert closes it if it was opened.
// Callers must not close that root themselves.
//
// Bootstrap allocates one small object: the context it returns, which also
// serves as the lazy opener, so Revert finds it in the context without a
// second allocation.
type Bootstrapper struct {
	s *Storage
}

var _ tenancy.Bootstrapper = (*Bootstrapper)(nil)

// NewBootstrapper returns a Bootstrapper over s.
func NewBootstrapper(s *Storage) *Bootstrapper {
	return &Bootstrapper{s: s}
}

// Bootstrap attaches a lazy opener of t's root to ctx. It checks t's UUID
// but touches no file.
func (b *Bootstrapper) Bootstrap(ctx context.Context, t *tenancy.Tenant) (context.Context, error) {
	if t == nil {
		return nil, fmt.Errorf("storage: bootstrap: %w", tenancy.ErrNoTenant)
	}
	if !validTenant(t.UUID) {
		return nil, fmt.Errorf("storage: bootstrap: %w: %q", ErrInvalidTenant, t.UUID)
	}
	o := &opener{Context: ctx, s: b.s, tenant: t.UUID}
	return tenancy.WithStorage(o, o), nil
}

// Revert closes the root the tenant context opened, if any.
func (b *Bootstrapper) Revert(ctx context.Context) {
	if o, ok := ctx.Value(openerKey{}).(*opener); ok {
		o.close()
	}
}

// openerKey is the context key under which an opener finds itself.
type openerKey struct{}

// opener is both the context Bootstrap returns, wrapping the tenant
// context, and the tenancy.StorageOpener attached to it.
type opener struct {
	context.Context
	s      *Storage
	tenant string

	mu     sync.Mutex
	root   *os.Root
	closed bool
}

var _ tenancy.StorageOpener = (*opener)(nil)

// Value returns the opener itself for openerKey and defers every other key
// to the wrapped context.
func (o *opener) Value(key any) any {
	if key == (openerKey{}) {
		return o
	}
	return o.Context.Value(key)
}

// Root opens the tenant's root on the first call and returns the same root
// afterwards. A failed open is retried by the next call.
func (o *opener) Root() (*os.Root, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, fmt.Errorf("storage: tenant context ended: %w", tenancy.ErrNoTenant)
	}
	if o.root == nil {
		root, err := o.s.Root(o.tenant)
		if err != nil {
			return nil, err
		}
		o.root = root
	}
	return o.root, nil
}

// close closes the root if it was opened; later Root calls fail.
func (o *opener) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.root != nil {
		o.root.Close()
		o.root = nil
	}
}

// String describes the context, for debugging.
func (o *opener) String() string {
	return fmt.Sprintf("%v.WithValue(storage opener %s)", o.Context, o.tenant)
}
