package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/controlplane"
)

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{config: func(c *Config) {
		c.EnvAPIKey = "env-api-key-secret"
		c.EnvBearerToken = "env-bearer-token-secret"
	}})
	tn := f.tenant("A", "a.example.test", false)
	ctx := context.Background()
	revoked := f.key("revoked-key", controlplane.ScopeAdmin)
	if err := f.cp.RevokeAPIKey(ctx, "revoked-key"); err != nil {
		t.Fatal(err)
	}
	getPath := "/tenancy/tenants/" + tn.UUID
	writeBody := `{"notes":"changed"}`

	cases := []struct {
		name   string
		rq     req
		want   int
		actor  string // expected audit actor of a successful write
		method string
	}{
		{name: "no key", rq: req{method: "GET", path: getPath, key: "-"}, want: 401},
		{name: "empty key", rq: req{method: "GET", path: getPath, key: "-", header: map[string]string{"X-API-Key": "   "}}, want: 401},
		{name: "wrong key", rq: req{method: "GET", path: getPath, key: "tnk_abcdefgh_wrong"}, want: 401},
		{name: "garbage key", rq: req{method: "GET", path: getPath, key: "not a key at all"}, want: 401},
		{name: "wrong bearer", rq: req{method: "GET", path: getPath, key: "-", bearer: "nope"}, want: 401},
		{name: "basic auth", rq: req{method: "GET", path: getPath, key: "-", header: map[string]string{"Authorization": "Basic " + f.admin}}, want: 401},
		{name: "revoked key", rq: req{method: "GET", path: getPath, key: revoked}, want: 401},
		{name: "read key reads", rq: req{method: "GET", path: getPath, key: f.read}, want: 200},
		{name: "read key writes", rq: req{method: "PUT", path: getPath, key: f.read, body: writeBody}, want: 403},
		{name: "read key on admin", rq: req{method: "POST", path: "/tenancy/maintenance/off", key: f.read}, want: 403},
		{name: "write key writes", rq: req{method: "PUT", path: getPath, key: f.write, body: writeBody}, want: 200, actor: "write-key"},
		{name: "write key on admin", rq: req{method: "PUT", path: "/tenancy/bulk-status-update", key: f.write, body: `{"tenant_uuids":["` + tn.UUID + `"],"status":"active"}`}, want: 403},
		{name: "admin key on admin", rq: req{method: "POST", path: "/tenancy/optimize-connections", key: f.admin}, want: 200},
		{name: "stored key as bearer", rq: req{method: "PUT", path: getPath, key: "-", bearer: f.write, body: writeBody}, want: 200, actor: "write-key"},
		{name: "read key as bearer writes", rq: req{method: "PUT", path: getPath, key: "-", bearer: f.read, body: writeBody}, want: 403},
		{name: "env key", rq: req{method: "PUT", path: getPath, key: "env-api-key-secret", body: writeBody}, want: 200, actor: envAPIKeyActor},
		{name: "env key as bearer", rq: req{method: "PUT", path: getPath, key: "-", bearer: "env-api-key-secret", body: writeBody}, want: 200, actor: envAPIKeyActor},
		{name: "env bearer token", rq: req{method: "PUT", path: getPath, key: "-", bearer: "env-bearer-token-secret", body: writeBody}, want: 200, actor: envBearerTokenActor},
		{name: "env bearer token in X-API-Key", rq: req{method: "GET", path: getPath, key: "env-bearer-token-secret"}, want: 401},
		{name: "env key prefix", rq: req{method: "GET", path: getPath, key: "env-api-key"}, want: 401},
		{name: "lower-case bearer scheme", rq: req{method: "GET", path: getPath, key: "-", header: map[string]string{"Authorization": "bearer " + f.read}}, want: 200},
	}
	for _, c := range cases {
		res := f.do(c.rq)
		if res.code != c.want {
			t.Fatalf("%s: status %d, want %d: %s", c.name, res.code, c.want, res.body)
		}
		checkEnvelope(t, res)
		if c.want == 401 {
			// The reference's 401, word for word.
			if res.env["error"] != "Unauthorized" || res.env["message"] != unauthorizedMessage || res.env["code"] != 401.0 || len(res.env) != 5 {
				t.Fatalf("%s: 401 shape: %s", c.name, res.body)
			}
		}
		if c.actor != "" {
			entries, err := f.cp.Audit(ctx, controlplane.AuditFilter{TenantUUID: tn.UUID, Limit: 1})
			if err != nil || len(entries) != 1 || entries[0].Actor != c.actor {
				t.Fatalf("%s: audit actor %+v %v, want %s", c.name, entries, err, c.actor)
			}
		}
	}
}

func TestRevokedKeyStopsWithinTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// With the cache: the key keeps working until the TTL passes.
	f := newFixture(t, fixtureOptions{})
	secret := f.key("soon-revoked", controlplane.ScopeRead)
	f.do(req{method: "GET", path: "/tenancy/stats", key: secret}).expect(t, http.StatusOK)
	if err := f.cp.RevokeAPIKey(ctx, "soon-revoked"); err != nil {
		t.Fatal(err)
	}
	f.do(req{method: "GET", path: "/tenancy/stats", key: secret}).expect(t, http.StatusOK)
	f.clock.Advance(DefaultKeyCacheTTL)
	f.do(req{method: "GET", path: "/tenancy/stats", key: secret}).expect(t, http.StatusUnauthorized)
	// A failed verification is not remembered beyond the TTL either.
	newKey := f.key("late", controlplane.ScopeRead)
	f.do(req{method: "GET", path: "/tenancy/stats", key: newKey}).expect(t, http.StatusOK)

	// Without it: at once.
	g := newFixture(t, fixtureOptions{config: func(c *Config) { c.KeyCacheTTL = -1 }})
	secret = g.key("soon-revoked", controlplane.ScopeRead)
	g.do(req{method: "GET", path: "/tenancy/stats", key: secret}).expect(t, http.StatusOK)
	if err := g.cp.RevokeAPIKey(ctx, "soon-revoked"); err != nil {
		t.Fatal(err)
	}
	g.do(req{method: "GET", path: "/tenancy/stats", key: secret}).expect(t, http.StatusUnauthorized)
}

func TestKeyCacheBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.api.keys.max = 16
	for i := range 40 {
		f.do(req{method: "GET", path: "/tenancy/stats", key: "tnk_abcdefgh_" + strconv.Itoa(i)}).expect(t, http.StatusUnauthorized)
	}
	f.api.keys.mu.RLock()
	n := len(f.api.keys.bad)
	f.api.keys.mu.RUnlock()
	if n == 0 || n > 16 {
		t.Fatalf("%d failed verifications remembered, want 1-16", n)
	}
	// Valid keys still verify once the cache was emptied.
	f.do(req{method: "GET", path: "/tenancy/stats", key: f.read}).expect(t, http.StatusOK)
}

func TestNoCredentialConfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noKeys: true})
	res := f.do(req{method: "GET", path: "/tenancy/tenants", key: "-"}).expect(t, http.StatusUnauthorized)
	if !strings.Contains(res.env["message"].(string), "tenancy api-key create --name NAME --scopes admin") {
		t.Fatalf("message: %s", res.body)
	}
	// Once a key exists (and the remembered answer expires), the plain 401.
	f.key("first", controlplane.ScopeAdmin)
	f.clock.Advance(DefaultKeyCacheTTL)
	res = f.do(req{method: "GET", path: "/tenancy/tenants", key: "-"}).expect(t, http.StatusUnauthorized)
	if res.env["message"] != unauthorizedMessage {
		t.Fatalf("message: %s", res.body)
	}
	g := newFixture(t, fixtureOptions{noKeys: true, config: func(c *Config) { c.EnvAPIKey = "x" }})
	if res := g.do(req{method: "GET", path: "/tenancy/tenants", key: "-"}).expect(t, http.StatusUnauthorized); res.env["message"] != unauthorizedMessage {
		t.Fatalf("with TENANT_API_KEY set: %s", res.body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{config: func(c *Config) {
		c.RateLimit = RateLimitConfig{Enabled: true, Attempts: 3, Decay: time.Minute}
	}})
	start := f.clock.Now()
	for i := range 3 {
		res := f.do(req{method: "GET", path: "/tenancy/stats"}).expect(t, http.StatusOK)
		if res.header.Get("X-RateLimit-Limit") != "3" || res.header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) ||
			res.header.Get("X-RateLimit-Reset") != strconv.FormatInt(start.Add(time.Minute).Unix(), 10) {
			t.Fatalf("request %d headers: %v", i, res.header)
		}
	}
	f.clock.Advance(20 * time.Second)
	res := f.do(req{method: "GET", path: "/tenancy/stats"}).expect(t, http.StatusTooManyRequests)
	if res.header.Get("Retry-After") != "40" || res.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", res.header)
	}
	// Another key from the same IP is limited by the IP.
	f.do(req{method: "GET", path: "/tenancy/stats", key: f.read}).expect(t, http.StatusTooManyRequests)
	// Failed authentications count against the IP and carry the headers.
	res = f.do(req{method: "GET", path: "/tenancy/stats", key: "-", remote: "198.51.100.1:1"}).expect(t, http.StatusUnauthorized)
	if res.header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("401 headers: %v", res.header)
	}
	// The same key from other IPs is limited by the key.
	f.do(req{method: "GET", path: "/tenancy/stats", remote: "198.51.100.2:1"}).expect(t, http.StatusTooManyRequests)
	// A new window.
	f.clock.Advance(41 * time.Second)
	f.do(req{method: "GET", path: "/tenancy/stats"}).expect(t, http.StatusOK)

	// A write refused by the limiter changes nothing.
	tn := f.tenant("A", "a.example.test", false)
	before := f.catalog()
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"notes":"x"}`})
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"notes":"x"}`})
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"notes":"y"}`}).expect(t, http.StatusTooManyRequests)
	if got := f.get(tn.UUID); got.Notes != "x" || f.catalog() == before {
		t.Fatalf("notes %q", got.Notes)
	}
}

func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, time.Minute, 10)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		l.hit(strconv.Itoa(i), now)
	}
	if n := len(l.windows); n > 11 {
		t.Fatalf("%d windows kept", n)
	}
	// The keys that found it full share the overflow window, which is used up.
	if s := l.hit("new", now); s.ok {
		t.Fatal("overflow keys are not limited")
	}
	// Expired windows go.
	l.hit("later", now.Add(2*time.Minute))
	if n := len(l.windows); n != 1 {
		t.Fatalf("%d windows after expiry", n)
	}
}

func TestRateLimitFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := RateLimitFromEnv(env(nil))
	if err != nil || c != (RateLimitConfig{Enabled: true, Attempts: 60, Decay: time.Minute}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = RateLimitFromEnv(env(map[string]string{"TENANCY_API_RATE_LIMIT": "false", "TENANCY_API_RATE_LIMIT_ATTEMPTS": "100", "TENANCY_API_RATE_LIMIT_DECAY": "5"}))
	if err != nil || c != (RateLimitConfig{Enabled: false, Attempts: 100, Decay: 5 * time.Minute}) {
		t.Fatalf("set: %+v %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"TENANCY_API_RATE_LIMIT": "maybe"},
		{"TENANCY_API_RATE_LIMIT_ATTEMPTS": "0"},
		{"TENANCY_API_RATE_LIMIT_ATTEMPTS": "-3"},
		{"TENANCY_API_RATE_LIMIT_ATTEMPTS": "ten"},
		{"TENANCY_API_RATE_LIMIT_DECAY": "0"},
		{"TENANCY_API_RATE_LIMIT_DECAY": "1.5"},
		{"TENANCY_API_RATE_LIMIT_DECAY": "1m"},
	} {
		if _, err := RateLimitFromEnv(env(bad)); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(nil); err == nil {
		t.Fatal("nil config accepted")
	}
	if _, err := New(&Config{}); err == nil {
		t.Fatal("config without a Manager accepted")
	}
	mgr, cp := newManager(t, t.TempDir())
	if _, err := New(&Config{Manager: mgr}); err == nil {
		t.Fatal("config without a ControlPlane accepted")
	}
	if _, err := New(&Config{Manager: mgr, ControlPlane: cp, RateLimit: RateLimitConfig{Enabled: true, Attempts: -1}}); err == nil {
		t.Fatal("negative attempts accepted")
	}
	a, err := New(&Config{Manager: mgr, ControlPlane: cp})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}
