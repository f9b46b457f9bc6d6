package faults

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads tenant databases directly for the invariants

	"github.com/gotenancy/tenancy/internal/testwait"
)

// binary is the tenancy command built once for the package.
var binary string

// Totals of the suite, printed by the tests that add to them.
var kills, concurrentRuns, nodeStarts, violations atomic.Int64

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tenancy-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tenancy")
	// Built without -race: the subprocesses should be as fast as a real
	// deployment's, so that kills land all over an operation.
	build := exec.Command("go", "build", "-o", binary, "../../cmd/tenancy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: building tenancy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dataDir is one deployment's data directory with slow migrations.
type dataDir struct {
	t   *testing.T
	dir string
	env []string
}

// markerVersion is the migration that inserts one marker row, so that
// "applied exactly once" can be counted.
const (
	markerVersion = 3
	migrations    = 5
)

// newDataDir makes a data directory whose tenant migrations are five slow
// ones (each fills a table with rows rows), the third inserting a marker.
func newDataDir(t *testing.T, rows int) *dataDir {
	t.Helper()
	d := &dataDir{t: t, dir: t.TempDir()}
	mig := filepath.Join(d.dir, "migrations", "tenant")
	if err := os.MkdirAll(mig, 0o755); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= migrations; v++ {
		body := fmt.Sprintf("-- +goose Up\nCREATE TABLE t%d AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT x, printf('%%080d', x) AS pad FROM c;\n", v, rows)
		if v == markerVersion {
			body += "CREATE TABLE IF NOT EXISTS marker (applied INTEGER);\nINSERT INTO marker VALUES (1);\n"
		}
		body += fmt.Sprintf("-- +goose Down\nDROP TABLE t%d;\n", v)
		if err := os.WriteFile(filepath.Join(mig, fmt.Sprintf("%05d_t%d.sql", v, v)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// cmd returns the tenancy command with args on this data directory.
func (d *dataDir) cmd(args ...string) *exec.Cmd {
	c := exec.Command(binary, append([]string{"--data-dir", d.dir}, args...)...)
	c.Env = append(os.Environ(), d.env...)
	return c
}

// run runs a command to its end and returns its output and exit code.
func (d *dataDir) run(args ...string) (string, int) {
	d.t.Helper()
	c := d.cmd(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		d.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), 0
}

// must runs a command that must succeed.
func (d *dataDir) must(args ...string) string {
	d.t.Helper()
	out, code := d.run(args...)
	if code != 0 {
		d.t.Fatalf("tenancy %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// timed runs a command that must succeed and returns how long it took.
func (d *dataDir) timed(args ...string) time.Duration {
	d.t.Helper()
	start := time.Now()
	d.must(args...)
	return time.Since(start)
}

// killedAt starts a command and kills it with SIGKILL after delay, or
// lets it finish if it is faster. It reports whether the kill landed.
func (d *dataDir) killedAt(delay time.Duration, args ...string) bool {
	d.t.Helper()
	c := d.cmd(args...)
	c.Stdout, c.Stderr = nil, nil
	if err := c.Start(); err != nil {
		d.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
		return false
	case <-time.After(delay):
	}
	_ = c.Process.Signal(syscall.SIGKILL)
	<-done
	kills.Add(1)
	return true
}

// tenant is what `tenancy list -o json` prints of a tenant.
type tenant struct {
	UUID         string `json:"uuid"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	DatabaseName string `json:"database_name"`
	Domains      []struct {
		Domain    string `json:"domain"`
		IsPrimary bool   `json:"is_primary"`
	} `json:"domains"`
}

// tenants lists every tenant of the catalog.
func (d *dataDir) tenants() []tenant {
	d.t.Helper()
	var all []tenant
	for page := 1; ; page++ {
		out := d.must("list", "-o", "json", "--per-page", "100", "--page", fmt.Sprint(page))
		var ts []tenant
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			d.t.Fatalf("list -o json: %v\n%s", err, out)
		}
		all = append(all, ts...)
		if len(ts) < 100 {
			return all
		}
	}
}

// violation records a broken invariant.
func violation(t *testing.T, format string, args ...any) {
	t.Helper()
	violations.Add(1)
	t.Errorf("invariant violated: "+format, args...)
}

// checkInvariants checks, after a repair, that every tenant is committed,
// has a domain and a complete database with each migration applied once,
// and that no database file is left without a tenant. complete lists the
// tenants (by name) that must exist.
func (d *dataDir) checkInvariants(complete ...string) {
	t := d.t
	t.Helper()
	ts := d.tenants()
	files := map[string]bool{}
	entries, _ := os.ReadDir(filepath.Join(d.dir, "tenants"))
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".sqlite"); ok {
			files[name] = true
		}
	}
	byName := map[string]bool{}
	for _, tn := range ts {
		byName[tn.Name] = true
		switch tn.Status {
		case "provisioning", "deleting":
			violation(t, "tenant %s is still %s after repair", tn.Name, tn.Status)
			continue
		}
		if len(tn.Domains) == 0 {
			violation(t, "tenant %s has no domain", tn.Name)
		}
		if !files[tn.DatabaseName] {
			violation(t, "tenant %s (%s) has no database file", tn.Name, tn.Status)
			continue
		}
		delete(files, tn.DatabaseName)
		d.checkDatabase(tn)
	}
	for name := range files {
		violation(t, "database file %s.sqlite belongs to no tenant", name)
	}
	for _, name := range complete {
		if !byName[name] {
			violation(t, "tenant %s is missing", name)
		}
	}
}

// checkDatabase checks that a committed tenant's database has every
// migration applied exactly once.
func (d *dataDir) checkDatabase(tn tenant) {
	t := d.t
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(d.dir, "tenants", tn.DatabaseName+".sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var applied, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied, &distinct); err != nil {
		violation(t, "tenant %s: reading its migrations: %v", tn.Name, err)
		return
	}
	if applied != migrations || distinct != migrations {
		violation(t, "tenant %s (%s) is at %d migrations (%d distinct), want %d each once", tn.Name, tn.Status, applied, distinct, migrations)
		return
	}
	var markers int
	if err := db.QueryRow(`SELECT count(*) FROM marker`).Scan(&markers); err != nil || markers != 1 {
		violation(t, "tenant %s: marker migration applied %d times (%v), want once", tn.Name, markers, err)
	}
}

// freeAddr returns a free loopback address.
//
// The port is below Linux's ephemeral range (32768–60999): one the kernel
// hands out for port 0 is also what it gives the outgoing connections of
// every process (to PostgreSQL, Redis…), which could take it between this
// check and the server binding it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mathrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// server is a running `tenancy serve`.
type server struct {
	addr string
	cmd  *exec.Cmd
	logs *lockedBuffer
	// exited is closed when the process has ended, with its error in err.
	exited chan struct{}
	err    error
}

// lockedBuffer is a bytes.Buffer a subprocess writes to while a test may
// read it.
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

// serve starts `tenancy serve` with args and waits until it answers.
func (d *dataDir) serve(args ...string) *server {
	d.t.Helper()
	s := d.start(&server{addr: freeAddr(d.t)}, args...)
	if err := s.waitReady(60 * time.Second); err != nil {
		d.t.Fatalf("serve did not come up: %v\n%s", err, s.logs)
	}
	return s
}

// waitReady polls /healthz until it answers 200, the process exits, or
// within passes. It returns an error rather than failing the test, for
// callers that wait for several nodes from other goroutines.
func (s *server) waitReady(within time.Duration) error {
	exited := false
	ready := testwait.Poll(within, func() bool {
		select {
		case <-s.exited:
			exited = true
			return true
		default:
		}
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	switch {
	case exited:
		return fmt.Errorf("exited: %v", s.err)
	case !ready:
		return fmt.Errorf("no answer within %s", within)
	}
	return nil
}

// stop ends the server gracefully.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// request sends a request for a tenant host and returns status and body.
func (s *server) request(t *testing.T, method, host, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}
