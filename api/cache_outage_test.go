package api

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/gotenancy/tenancy/cache/rediscache"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// TestCacheEndpointsWhileRedisIsDown: flushes the cache cannot carry out
// are answered 503 with the envelope, not 500.
func TestCacheEndpointsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	s := testenv.StartRedisServer(t)
	s.Stop()
	rc, err := rediscache.New(context.Background(), &rediscache.Config{URL: s.URL(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	f := newFixture(t, fixtureOptions{config: func(c *Config) { c.Cache = rc }})
	tn := f.tenant("A", "a.example.test", false)
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": tn.UUID})}).expect(t, http.StatusServiceUnavailable)
	f.do(req{method: "POST", path: "/tenancy/clear-cache", body: jsonBody(map[string]any{"tenant_uuid": tn.UUID, "keys": []string{"k"}})}).expect(t, http.StatusServiceUnavailable)
	f.do(req{method: "POST", path: "/tenancy/clear-all-caches"}).expect(t, http.StatusServiceUnavailable)
}
