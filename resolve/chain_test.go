package resolve_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/resolve"
)

// chainEnv has tenants acme.test, shop.example.test (a full subdomain
// domain) and solo (a single-label domain), and central domains
// example.test plus the local ones.
type chainEnv struct {
	*env
	acme, shop, solo *tenancy.Tenant
}

func newChainEnv(tb testing.TB) *chainEnv {
	tb.Helper()
	e := newEnv(tb, nil)
	return &chainEnv{
		env:  e,
		acme: mustCreate(tb, e.mgr, "acme.test"),
		shop: mustCreate(tb, e.mgr, "shop.example.test"),
		solo: mustCreate(tb, e.mgr, "solo"),
	}
}

func (e *chainEnv) chain(tb testing.TB, resolvers ...resolve.Resolver) *resolve.Chain {
	tb.Helper()
	cfg := &resolve.ChainConfig{Cache: e.cache, CentralDomains: []string{"localhost", "127.0.0.1", "[::1]", "Example.Test."}}
	if len(resolvers) > 0 {
		cfg.Resolvers = resolvers
	}
	c, err := resolve.NewChain(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestResolveRequest(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	chain := e.chain(t)
	central := ""
	cases := []struct {
		host, target string
		want         string // tenant uuid; central for central routes; "404" for not found
		path, raw    string // path passed on; "" means unchanged
	}{
		{"acme.test", "/notes", e.acme.UUID, "", ""},
		{"ACME.TEST:8080", "/notes", e.acme.UUID, "", ""},
		{"acme.test.", "/t/solo/x", e.acme.UUID, "", ""}, // Path only on central hosts
		{"unknown.test", "/", "404", "", ""},
		{"", "/", "404", "", ""},
		{"a b", "/", "404", "", ""},
		{"localhost", "/", central, "", ""},
		{"localhost:3000", "/admin", central, "", ""},
		{"127.0.0.1:8080", "/healthz", central, "", ""},
		{"[::1]:80", "/", central, "", ""},
		{"example.test", "/", central, "", ""},
		{"EXAMPLE.test:443", "/", central, "", ""},
		{"10.0.0.1", "/", "404", "", ""}, // an address that is not central
		{"localhost", "/t/acme.test/notes?x=1", e.acme.UUID, "/notes", ""},
		{"localhost", "/t/ACME.test/", e.acme.UUID, "/", ""},
		{"localhost", "/t/acme.test", e.acme.UUID, "/", ""},
		{"127.0.0.1", "/t/" + e.acme.UUID + "/a/b/", e.acme.UUID, "/a/b/", ""},
		{"example.test", "/t/solo/x", e.solo.UUID, "/x", ""},
		{"localhost", "/t/acme.test/a%2Fb/c", e.acme.UUID, "/a/b/c", "/a%2Fb/c"},
		{"localhost", "/t/acme%2Etest/x%20y", e.acme.UUID, "/x y", "/x%20y"},
		{"localhost", "/t/a%2Fb/x", "404", "", ""}, // escaped slash in the tenant segment
		{"localhost", "/t/unknown.test/x", "404", "", ""},
		{"localhost", "/t//x", central, "", ""},
		{"localhost", "/t/", central, "", ""},
		{"localhost", "/t", central, "", ""},
		{"localhost", "/tenants/acme.test", central, "", ""},
		{"shop.example.test", "/", e.shop.UUID, "", ""}, // Domain: the full host
		{"solo.example.test:8443", "/", e.solo.UUID, "", ""},
		{"nope.example.test", "/", "404", "", ""},
		{"a.solo.example.test", "/", "404", "", ""}, // two labels under the central domain
		{"solo.localhost", "/", e.solo.UUID, "", ""},
		{"solo", "/", e.solo.UUID, "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.target, nil)
		r.Host = c.host
		got, r2, err := chain.ResolveRequest(r)
		name := c.host + " " + c.target
		switch c.want {
		case "404":
			if !errors.Is(err, tenancy.ErrNotFound) || got != nil {
				t.Errorf("%s: got %v, %v; want ErrNotFound", name, got, err)
			}
			if r2 != r {
				t.Errorf("%s: a failed resolution changed the request", name)
			}
			continue
		case central:
			if err != nil || got != nil || r2 != r {
				t.Errorf("%s: got %v, %v (same request %v); want central", name, got, err, r2 == r)
			}
			continue
		}
		if err != nil || got == nil || got.UUID != c.want {
			t.Errorf("%s: got %v, %v; want %s", name, got, err, c.want)
			continue
		}
		if c.path == "" {
			if r2 != r {
				t.Errorf("%s: request replaced although nothing changed", name)
			}
			continue
		}
		if r2 == r || r2.URL == r.URL {
			t.Errorf("%s: the original request was changed in place", name)
			continue
		}
		if r2.URL.Path != c.path || r2.URL.RawPath != c.raw || r2.URL.RawQuery != r.URL.RawQuery {
			t.Errorf("%s: passed on path %q raw %q query %q; want %q raw %q", name, r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery, c.path, c.raw)
		}
		if !strings.HasPrefix(r.URL.Path, "/t/") {
			t.Errorf("%s: original path changed to %q", name, r.URL.Path)
		}
	}
}

func TestHeaderResolverIsOptIn(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	req := func(host, value string) *http.Request {
		r := httptest.NewRequest("GET", "/api/whoami", nil)
		r.Host = host
		r.Header.Set("X-Tenant", value)
		return r
	}

	got, _, err := e.chain(t).ResolveRequest(req("localhost", e.acme.UUID))
	if got != nil || err != nil {
		t.Fatalf("default chain honoured X-Tenant: %v, %v", got, err)
	}

	chain := e.chain(t, resolve.Domain(), resolve.Path(""), resolve.Header(""))
	for _, v := range []string{e.acme.UUID, "acme.test", " ACME.test "} {
		if got, r2, err := chain.ResolveRequest(req("localhost", v)); err != nil || got == nil || got.UUID != e.acme.UUID || r2.URL.Path != "/api/whoami" {
			t.Fatalf("X-Tenant %q: %v, %v", v, got, err)
		}
	}
	_, _, err = chain.ResolveRequest(req("localhost", "nobody.test"))
	mustNotFound(t, "unknown X-Tenant", err)
	// On a tenant host the host decides, not the header.
	if got, _, err := chain.ResolveRequest(req("acme.test", e.solo.UUID)); err != nil || got.UUID != e.acme.UUID {
		t.Fatalf("X-Tenant overrode the host: %v, %v", got, err)
	}
	// The header name is configurable.
	custom := e.chain(t, resolve.Header("x-org"))
	r := req("localhost", "")
	r.Header.Set("X-Org", "solo")
	if got, _, err := custom.ResolveRequest(r); err != nil || got.UUID != e.solo.UUID {
		t.Fatalf("X-Org: %v, %v", got, err)
	}
}

func TestPathPrefixes(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	for _, prefix := range []string{"tenants", "/tenants", "tenants/", "/tenants/"} {
		chain := e.chain(t, resolve.Path(prefix))
		r := httptest.NewRequest("GET", "/tenants/acme.test/x", nil)
		r.Host = "localhost"
		got, r2, err := chain.ResolveRequest(r)
		if err != nil || got.UUID != e.acme.UUID || r2.URL.Path != "/x" {
			t.Fatalf("Path(%q): %v, %v", prefix, got, err)
		}
	}
}

func TestCustomResolver(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	boom := errors.New("boom")
	chain := e.chain(t,
		resolve.ResolverFunc(func(in resolve.Input) (*tenancy.Tenant, *http.Request, error) {
			if in.Request.URL.Path == "/fail" {
				return nil, nil, boom
			}
			if label, ok := in.Subdomain(); ok && label == "x" {
				t, err := in.Cache.ByRef(in.Request.Context(), "solo")
				return t, nil, err
			}
			return nil, nil, nil
		}),
		resolve.Domain(),
	)
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "x.example.test"
	if got, _, err := chain.ResolveRequest(r); err != nil || got.UUID != e.solo.UUID {
		t.Fatalf("custom resolver: %v, %v", got, err)
	}
	r = httptest.NewRequest("GET", "/fail", nil)
	r.Host = "acme.test"
	if _, _, err := chain.ResolveRequest(r); !errors.Is(err, boom) {
		t.Fatalf("resolver error not passed on: %v", err)
	}
}

func TestNewChainValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for name, cfg := range map[string]*resolve.ChainConfig{
		"nil":             nil,
		"no cache":        {},
		"bad central":     {Cache: e.cache, CentralDomains: []string{"http://x/"}},
		"empty central":   {Cache: e.cache, CentralDomains: []string{""}},
		"nil resolver":    {Cache: e.cache, Resolvers: []resolve.Resolver{resolve.Domain(), nil}},
		"central as path": {Cache: e.cache, CentralDomains: []string{"a/b"}},
	} {
		if _, err := resolve.NewChain(cfg); err == nil {
			t.Errorf("%s: NewChain succeeded", name)
		}
	}
	// No central domains at all: localhost is then an ordinary (unknown) host.
	c, err := resolve.NewChain(&resolve.ChainConfig{Cache: e.cache, CentralDomains: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "localhost"
	_, _, err = c.ResolveRequest(r)
	mustNotFound(t, "localhost without central domains", err)
}

func TestResolveRequestStoreErrors(t *testing.T) {
	t.Parallel()
	e := newChainEnv(t)
	chain := e.chain(t)
	e.store.Close() // every store query now fails
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "acme.test" // in the snapshot: still served
	if got, _, err := chain.ResolveRequest(r); err != nil || got.UUID != e.acme.UUID {
		t.Fatalf("known host with the store down: %v, %v", got, err)
	}
	r.Host = "new.test"
	_, _, err := chain.ResolveRequest(r)
	if err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("a failed lookup must be an error other than not found, got %v", err)
	}
	if _, _, err := chain.ResolveRequest(r); err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("a failed lookup must not be remembered as not found, got %v", err)
	}
}
