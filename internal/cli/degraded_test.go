package cli

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// TestRedisOutage runs a node and the CLI while Redis is down: the node
// starts and says on /readyz that Redis is missing, a cache write is
// refused with 503, and a suspension made by the CLI during the outage
// succeeds (with a warning) and reaches the node through its catalog
// watcher. Once Redis is back, /readyz passes and the cache stores again.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedisServer(t)
	redis.Stop()
	dir := t.TempDir()
	ok(t, dir, "create-test-tenants", "--count", "1", "--domain-prefix", "outage")
	host := "outage1.localhost"
	nd := startServe(t, []string{"TENANCY_REDIS_URL=" + redis.URL()}, dir, "serve")

	readiness := func() (int, map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}) {
		code, body := nd.do(t, "GET", "localhost", "/readyz", "", nil)
		var rd struct {
			Checks map[string]struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(body, &rd); err != nil {
			t.Fatalf("/readyz: %d %s: %v", code, body, err)
		}
		return code, rd.Checks
	}
	code, checks := readiness()
	if code != http.StatusServiceUnavailable || checks["redis"].OK || checks["catalog"].OK != true {
		t.Fatalf("/readyz with Redis down: %d %+v; want 503 with the redis check failing", code, checks)
	}
	if e := checks["redis"].Error; strings.Contains(e, "127.0.0.1") || strings.Contains(e, "refused") {
		t.Fatalf("/readyz shows why the redis check failed (%q); it must only say that it did", e)
	}
	putGreeting := func(value string) (int, []byte) {
		return nd.do(t, "PUT", host, "/api/cache/greeting", "", map[string]string{"value": value})
	}
	if code, body := putGreeting("lost"); code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"success":false`) {
		t.Fatalf("cache write with Redis down: %d %s; want 503 with the error envelope", code, body)
	}

	out, errOut, exit := run(t, dir, "--redis-url", redis.URL(), "suspend", host, "--reason", "outage drill")
	if exit != 0 {
		t.Fatalf("suspend with Redis down: exit %d: %s%s", exit, out, errOut)
	}
	if !strings.Contains(errOut, "could not announce") || !strings.Contains(errOut, "catalog watchers") {
		t.Fatalf("suspend with Redis down warned %q; want that the nodes see it through their catalog watchers", errOut)
	}
	nd.waitStatus(t, host, http.StatusForbidden)

	redis.Start()
	if !testwait.Poll(testwait.DefaultTimeout, func() bool {
		code, checks := readiness()
		return code == http.StatusOK && checks["redis"].OK
	}) {
		t.Fatalf("/readyz did not pass within %s of Redis's return:\n%s", testwait.DefaultTimeout, nd.logs)
	}
	ok(t, dir, "--redis-url", redis.URL(), "activate", host)
	nd.waitStatus(t, host, http.StatusOK)
	if code, body := putGreeting("hello"); code != http.StatusOK {
		t.Fatalf("cache write with Redis back: %d %s", code, body)
	}
	if code, body := nd.do(t, "GET", host, "/api/cache/greeting", "", nil); code != http.StatusOK || !strings.Contains(string(body), "hello") {
		t.Fatalf("cache read with Redis back: %d %s", code, body)
	}
}

// TestDemoNodesStartTogether starts two `serve --demo` nodes at the same
// moment on one catalog (made by the CLI first) and one data directory,
// on each kind of catalog: both come up, and the demo tenants and the
// demo admin user exist once. River's migrations (on PostgreSQL, or the
// shared SQLite jobs database) and the demo seeding race, and whoever
// loses finds the work done.
func TestDemoNodesStartTogether(t *testing.T) {
	t.Parallel()
	for _, catalog := range []string{"sqlite", "postgres", "mariadb"} {
		t.Run(catalog, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var flags []string
			switch catalog {
			case "postgres":
				flags = []string{"--database-url", testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))}
			case "mariadb":
				flags = []string{"--database-url", mysqlURL(t, testenv.NewMySQLDatabase(t))}
			}
			cli := func(args ...string) string { return ok(t, dir, append(slices.Clone(flags), args...)...) }
			cli("list") // the catalog exists before the nodes start
			nodes := []*node{
				launchServe(t, nil, dir, append(slices.Clone(flags), "serve", "--demo")...),
				launchServe(t, nil, dir, append(slices.Clone(flags), "serve", "--demo")...),
			}
			for _, nd := range nodes {
				nd.waitHealthy(t)
			}
			tenants := decode[[]map[string]any](t, cli("list", "-o", "json", "--per-page", "100"))
			if len(tenants) != 5 {
				t.Fatalf("%d tenants after two demo starts, want the 5 demo tenants once: %v", len(tenants), tenants)
			}
			admins := decode[[]map[string]any](t, cli("admin", "list", "-o", "json"))
			if len(admins) != 1 || admins[0]["email"] != "admin@example.com" {
				t.Fatalf("admin users after two demo starts: %v, want the demo admin once", admins)
			}
			for _, nd := range nodes {
				if code, body := nd.do(t, "GET", "test1.localhost", "/api/whoami", "", nil); code != http.StatusOK {
					t.Fatalf("node %s serving test1.localhost: %d %s", nd.addr, code, body)
				}
			}
		})
	}
}
