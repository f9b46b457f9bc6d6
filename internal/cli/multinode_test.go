package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// TestMain lets the test binary act as the tenancy command, so tests can
// start real `tenancy serve` processes without building the binary.
func TestMain(m *testing.M) {
	if os.Getenv("TENANCY_TEST_RUN_CLI") == "1" {
		ctx, stop := signalContext()
		code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// signalContext is cancelled by SIGINT or SIGTERM, as in cmd/tenancy.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// cluster is several `tenancy serve` nodes sharing PostgreSQL (the catalog
// on one server, tenant databases on two shards) and Redis.
type cluster struct {
	env        []string
	migrations string // the demo application's PostgreSQL migrations
	key        string
	nodes      []*node
}

type node struct {
	addr string
	cmd  *exec.Cmd
	logs *lockedBuffer
	// exited is closed when the process has exited, with its error in err.
	exited chan struct{}
	err    error
}

// lockedBuffer is a bytes.Buffer that a process writes while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster starts n nodes with their own data directories.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	pg1, pg2 := testenv.PostgresURL(t), testenv.PostgresURL2(t)
	c := &cluster{env: []string{
		"TENANCY_DATABASE_URL=" + testenv.NewPostgresDatabase(t, pg1),
		"TENANCY_TENANT_DB=postgres-database",
		"TENANCY_SHARDS=a=" + pg1 + ",b=" + pg2,
		"TENANCY_REDIS_URL=" + testenv.RedisURL(t),
		"TENANCY_API_RATE_LIMIT=false",
	}}
	c.migrations = t.TempDir()
	if err := os.CopyFS(c.migrations, demo.Migrations("postgres")); err != nil {
		t.Fatal(err)
	}
	out := c.cli(t, t.TempDir(), "api-key", "create", "--name", "cluster", "--scopes", "admin", "-o", "json")
	var created struct{ Secret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" {
		t.Fatalf("api-key create: %q %v", out, err)
	}
	c.key = created.Secret
	for range n {
		c.nodes = append(c.nodes, c.start(t))
	}
	return c
}

// cli runs one tenancy command against the cluster's configuration.
func (c *cluster) cli(t testing.TB, dataDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--data-dir", dataDir}, args...)...)
	cmd.Env = append(append(os.Environ(), "TENANCY_TEST_RUN_CLI=1"), c.env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tenancy %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (c *cluster) start(t testing.TB) *node {
	t.Helper()
	return startServe(t, c.env, t.TempDir(), "--migrations", c.migrations, "serve")
}

// startServe starts the tenancy command args (global flags, "serve" and
// its flags) on dataDir with the environment env, listening on a free
// port, stopped when the test ends, and waits until it answers /healthz.
func startServe(t testing.TB, env []string, dataDir string, args ...string) *node {
	t.Helper()
	nd := launchServe(t, env, dataDir, args...)
	nd.waitHealthy(t)
	return nd
}

// launchServe starts `tenancy serve` as startServe does, without waiting.
func launchServe(t testing.TB, env []string, dataDir string, args ...string) *node {
	t.Helper()
	nd := &node{addr: freeAddr(t), logs: &lockedBuffer{}, exited: make(chan struct{})}
	args = append(append([]string{"--data-dir", dataDir}, args...), "--addr", nd.addr, "--access-log=false")
	nd.cmd = exec.Command(os.Args[0], args...)
	nd.cmd.Env = append(append(os.Environ(), "TENANCY_TEST_RUN_CLI=1"), env...)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		nd.err = nd.cmd.Wait()
		close(nd.exited)
	}()
	t.Cleanup(func() {
		nd.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-nd.exited:
			if nd.err != nil {
				t.Errorf("node %s exited with %v:\n%s", nd.addr, nd.err, nd.logs)
			}
		case <-time.After(30 * time.Second):
			nd.cmd.Process.Kill()
			t.Errorf("node %s did not stop within 30 s:\n%s", nd.addr, nd.logs)
		}
	})
	return nd
}

// waitHealthy waits until the node answers /healthz, failing t if it
// exits first or does not answer within testwait.DefaultTimeout.
func (nd *node) waitHealthy(t testing.TB) {
	t.Helper()
	exited := false
	healthy := testwait.Poll(testwait.DefaultTimeout, func() bool {
		select {
		case <-nd.exited:
			exited = true
			return true
		default:
		}
		res, err := http.Get("http://" + nd.addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	switch {
	case exited:
		t.Fatalf("node %s exited before it served (%v):\n%s", nd.addr, nd.err, nd.logs)
	case !healthy:
		t.Fatalf("node %s did not start:\n%s", nd.addr, nd.logs)
	}
}

// do sends a request to a node; host picks the tenant (or "localhost" for the API).
func (nd *node) do(t testing.TB, method, host, path, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+nd.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, nd.addr, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// waitStatus waits until a tenant's host on nd answers want, failing t if
// it has not within 5 s, and says how long it took.
func (nd *node) waitStatus(t testing.TB, host string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	var (
		code int
		body []byte
	)
	if !testwait.Poll(5*time.Second, func() bool {
		code, body = nd.do(t, "GET", host, "/api/whoami", "", nil)
		return code == want
	}) {
		t.Fatalf("%s on %s answered %d %s, want %d after 5 s", host, nd.addr, code, body, want)
	}
	return time.Since(start)
}

// statusLatency is how long a tenant's host on nd takes to answer want,
// for BenchmarkCrossNodeStatus. It asks again as soon as each answer
// arrives (each request is the pace), rather than at testwait's growing
// intervals, so that the latency it reports is not rounded up to them.
func (nd *node) statusLatency(b *testing.B, host string, want int) time.Duration {
	b.Helper()
	start := time.Now()
	for {
		code, body := nd.do(b, "GET", host, "/api/whoami", "", nil)
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			b.Fatalf("%s on %s answered %d %s, want %d after 5 s", host, nd.addr, code, body, want)
		}
	}
}

// TestClusterAcrossNodes: tenants created through node A are served by node
// B; a tenant blocked through B is refused by A; tenants land on both shards.
func TestClusterAcrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	var uuids []string
	shards := map[string]int{}
	for i := range 4 {
		domain := fmt.Sprintf("n%d.cluster.test", i)
		code, body := a.do(t, "POST", "localhost", "/tenancy/tenants", c.key,
			map[string]any{"name": fmt.Sprint("Node tenant ", i), "domain": domain, "run_migrations": true})
		if code != 201 {
			t.Fatalf("create through A: %d %s", code, body)
		}
		var res struct {
			Data struct {
				Tenant struct{ UUID, Shard string }
			}
		}
		json.Unmarshal(body, &res)
		uuids = append(uuids, res.Data.Tenant.UUID)
		shards[res.Data.Tenant.Shard]++
	}
	t.Cleanup(func() {
		for _, u := range uuids {
			a.do(t, "DELETE", "localhost", "/tenancy/tenants/"+u+"?force=true", c.key, nil)
		}
	})
	if shards["a"] == 0 || shards["b"] == 0 {
		t.Fatalf("tenants did not land on both shards: %v", shards)
	}
	for i, u := range uuids {
		host := fmt.Sprintf("n%d.cluster.test", i)
		b.waitStatus(t, host, 200)
		if code, body := b.do(t, "GET", host, "/api/whoami", "", nil); code != 200 || !strings.Contains(string(body), u) {
			t.Fatalf("B serving %s: %d %s", host, code, body)
		}
		if code, body := b.do(t, "GET", host, "/api/notes/count", "", nil); code != 200 || !strings.Contains(string(body), `"count":0`) {
			t.Fatalf("B reading %s's database: %d %s", host, code, body)
		}
	}
	host := "n0.cluster.test"
	if code, body := b.do(t, "POST", "localhost", "/tenancy/tenants/"+uuids[0]+"/block", c.key, map[string]string{"reason": "cluster test"}); code != 200 {
		t.Fatalf("block through B: %d %s", code, body)
	}
	took := a.waitStatus(t, host, 403)
	t.Logf("node A refused the tenant blocked through node B after %s", took)
	if code, _ := b.do(t, "POST", "localhost", "/tenancy/tenants/"+uuids[0]+"/activate", c.key, nil); code != 200 {
		t.Fatalf("activate through B: %d", code)
	}
	a.waitStatus(t, host, 200)
}

// BenchmarkCrossNodeStatus measures how long a status change made through
// one node takes to be enforced by the other (the target: p99 under
// 100 ms over 100 trials). Run with -benchtime 1x; it reports p50 and p99.
func BenchmarkCrossNodeStatus(b *testing.B) {
	c := newCluster(b, 2)
	na, nb := c.nodes[0], c.nodes[1]
	code, body := na.do(b, "POST", "localhost", "/tenancy/tenants", c.key, map[string]any{"name": "Bench", "domain": "bench.cluster.test"})
	if code != 201 {
		b.Fatalf("create: %d %s", code, body)
	}
	var res struct {
		Data struct{ Tenant struct{ UUID string } }
	}
	json.Unmarshal(body, &res)
	uuid := res.Data.Tenant.UUID
	defer na.do(b, "DELETE", "localhost", "/tenancy/tenants/"+uuid+"?force=true", c.key, nil)
	na.waitStatus(b, "bench.cluster.test", 200)
	const trials = 100
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for i := range trials {
			action, want := "block", 403
			if i%2 == 1 {
				action, want = "activate", 200
			}
			if code, _ := nb.do(b, "POST", "localhost", "/tenancy/tenants/"+uuid+"/"+action, c.key, nil); code != 200 {
				b.Fatalf("%s through B: %d", action, code)
			}
			took = append(took, na.statusLatency(b, "bench.cluster.test", want))
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100])/1e6, "p99-ms")
}
