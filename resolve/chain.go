package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gotenancy/tenancy/model"
)

// DefaultCentralDomains are the central domains of a ChainConfig that names
// none: the local machine.
var DefaultCentralDomains = []string{"localhost", "127.0.0.1", "::1"}

// Input is what a Resolver sees of a request.
type Input struct {
	// Request is the request being resolved.
	Request *http.Request
	// Host is the request's host, normalised and without port: a domain
	// in IDNA ASCII form, or a canonical IP address ("::1"). It is "" when
	// the Host header is not a host name.
	Host string
	// Central reports whether Host is one of the chain's central domains.
	Central bool
	// Cache looks tenants up.
	Cache *Cache

	parents []string // central domains that are names, not addresses
}

// Subdomain returns label when Host is "<label>.<central domain>" with a
// single label (no dot) before one of the chain's central domains.
func (in Input) Subdomain() (label string, ok bool) {
	h := in.Host
	for _, p := range in.parents {
		n := len(h) - len(p) - 1
		if n > 0 && h[n] == '.' && h[n+1:] == p && strings.IndexByte(h[:n], '.') < 0 {
			return h[:n], true
		}
	}
	return "", false
}

// Resolver identifies the tenant of a request from one of its aspects.
//
// Resolve returns the tenant and the request to pass on (in.Request itself,
// or a changed shallow copy; nil means in.Request). It returns a nil tenant
// and a nil error when the request is not its to decide, and the chain asks
// the next Resolver. An error ends the chain: one wrapping model.ErrNotFound
// when the request names a tenant that does not exist, any other when the
// lookup failed.
type Resolver interface {
	Resolve(in Input) (*model.Tenant, *http.Request, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(in Input) (*model.Tenant, *http.Request, error)

// Resolve calls f(in).
func (f ResolverFunc) Resolve(in Input) (*model.Tenant, *http.Request, error) { return f(in) }

// ChainConfig configures a Chain.
type ChainConfig struct {
	// Cache looks tenants up; required.
	Cache *Cache
	// CentralDomains are the hosts of the central application (landing
	// page, admin, API): no tenant is resolved from them by host. They are
	// compared with the normalised host without port; IP addresses are
	// allowed ("127.0.0.1", "::1" or "[::1]"). nil means
	// DefaultCentralDomains; an empty non-nil slice means none.
	CentralDomains []string
	// Resolvers run in order until one decides; nil means Domain(),
	// Subdomain(), Path("/t/"). Header is never a default: a header must not
	// pick the tenant unless the application authenticates the caller.
	Resolvers []Resolver
}

// Chain resolves requests with a list of Resolvers. It implements the
// RequestResolver of tenancy.Middleware and is safe for concurrent use.
type Chain struct {
	cache     *Cache
	central   map[string]struct{}
	parents   []string
	resolvers []Resolver
}

var _ interface {
	ResolveRequest(*http.Request) (*model.Tenant, *http.Request, error)
} = (*Chain)(nil)

// NewChain returns a Chain over cfg.Cache. Central domains are normalised;
// one that is neither a host name nor an IP address is an error.
func NewChain(cfg *ChainConfig) (*Chain, error) {
	if cfg == nil || cfg.Cache == nil {
		return nil, errors.New("resolve: ChainConfig.Cache is required")
	}
	c := &Chain{cache: cfg.Cache, central: map[string]struct{}{}}
	central := cfg.CentralDomains
	if central == nil {
		central = DefaultCentralDomains
	}
	for _, d := range central {
		key, isIP := ipKey(strings.TrimSpace(d))
		if !isIP {
			var err error
			if key, err = model.NormalizeDomain(d); err != nil {
				return nil, fmt.Errorf("resolve: central domain %q: %w", d, err)
			}
			if _, dup := c.central[key]; !dup {
				c.parents = append(c.parents, key)
			}
		}
		c.central[key] = struct{}{}
	}
	c.resolvers = cfg.Resolvers
	if c.resolvers == nil {
		c.resolvers = []Resolver{Domain(), Subdomain(), Path("")}
	}
	for i, r := range c.resolvers {
		if r == nil {
			return nil, fmt.Errorf("resolve: ChainConfig.Resolvers[%d] is nil", i)
		}
	}
	c.resolvers = append([]Resolver(nil), c.resolvers...)
	return c, nil
}

// ResolveRequest returns the request's tenant and the request to pass on:
// r itself when nothing changed, a shallow copy when a resolver changed it
// (Path strips its prefix). It returns (nil, r, nil) for a request to a
// central domain that no resolver claims (it goes to the central routes),
// and an error wrapping model.ErrNotFound when the request names an
// unknown tenant, including every non-central host that matches none.
func (c *Chain) ResolveRequest(r *http.Request) (*model.Tenant, *http.Request, error) {
	key, ok := hostKey(r.Host)
	in := Input{Request: r, Cache: c.cache, parents: c.parents}
	if ok {
		_, in.Central = c.central[key]
		in.Host = key
	}
	for _, res := range c.resolvers {
		t, r2, err := res.Resolve(in)
		if err != nil {
			return nil, r, err
		}
		if t != nil {
			if r2 == nil {
				r2 = r
			}
			return t, r2, nil
		}
	}
	if in.Central {
		return nil, r, nil
	}
	return nil, r, &notFoundError{"host", r.Host}
}

// NewDefault returns the default request resolver of m, the one
// Manager.Handler uses: host lookups from an in-memory snapshot of the
// catalog, reloaded when watcher (the engine's change feed; nil for none)
// reports a change. The returned function stops it.
func NewDefault(ctx context.Context, m Catalog, watcher Watcher) (*Chain, func(), error) {
	cache, err := NewCache(ctx, m, &CacheConfig{Watcher: watcher})
	if err != nil {
		return nil, nil, err
	}
	chain, err := NewChain(&ChainConfig{Cache: cache})
	if err != nil {
		cache.Close()
		return nil, nil, err
	}
	return chain, func() { cache.Close() }, nil
}
