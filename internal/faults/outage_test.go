package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// load sends requests to a tenant until stop is closed and counts the
// answers that were not 200.
func load(t *testing.T, s *server, host string, stop <-chan struct{}) (wait func() (ok, failed int64)) {
	var good, bad atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := http.Get("http://" + s.addr + "/t/" + host + "/api/notes/count")
				if err == nil {
					res.Body.Close()
				}
				if err == nil && res.StatusCode == http.StatusOK {
					good.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	return func() (int64, int64) { wg.Wait(); return good.Load(), bad.Load() }
}

// A Redis restart under load: tenants stay served, a cache write during
// the outage is refused (503) rather than acknowledged and lost, and after
// the restart writes and reads work again with no stale value.
func TestRedisRestartUnderLoad(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedisServer(t)
	d := &dataDir{t: t, dir: t.TempDir()}
	s := d.serve("--demo", "--redis-url", r.URL())
	const host = "test1.localhost"
	if code, body := s.request(t, "PUT", host, "/api/cache/k", `{"value":"before"}`); code != http.StatusOK {
		t.Fatalf("cache write: %d %s", code, body)
	}
	stop := make(chan struct{})
	wait := load(t, s, host, stop)
	r.Stop()
	if code, _ := s.request(t, "PUT", host, "/api/cache/k", `{"value":"during"}`); code == http.StatusOK {
		violation(t, "a cache write during the outage was acknowledged")
	}
	if code, _ := s.request(t, "POST", host, "/api/notes", `{"body":"during the outage"}`); code != http.StatusCreated {
		violation(t, "a note during the Redis outage answered %d", code)
	}
	r.Start()
	testwait.Eventually(t, "cache writes to work again", func() bool {
		code, _ := s.request(t, "PUT", host, "/api/cache/k", `{"value":"after"}`)
		return code == http.StatusOK
	})
	if _, body := s.request(t, "GET", host, "/api/cache/k", ""); !strings.Contains(body, `"after"`) {
		violation(t, "after the outage the cache holds %s, want the value written after it", body)
	}
	close(stop)
	ok, failed := wait()
	if failed > 0 {
		violation(t, "%d of %d tenant requests failed during the Redis restart", failed, ok+failed)
	}
	t.Logf("redis restart: %d requests served under load, %d failed", ok, failed)
}

// privatePostgres starts a PostgreSQL cluster of the test's own, which it
// may restart, and returns its URL and a restart function.
func privatePostgres(t *testing.T) (string, func()) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (scripts/services installs it)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	asPostgres := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", port, dir)
	pgctl := func(action string, extra ...string) {
		asPostgres(append([]string{filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o", opts, action}, extra...)...)
	}
	pgctl("start")
	t.Cleanup(func() { pgctl("stop", "-m", "immediate") })
	return "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", func() { pgctl("restart", "-m", "fast") }
}

// A PostgreSQL restart under load (catalog and tenant databases on it):
// requests fail at most while the server is down, every write that was
// acknowledged is there afterwards, and the node serves again by itself.
func TestPostgresRestartUnderLoad(t *testing.T) {
	t.Parallel()
	url, restart := privatePostgres(t)
	d := &dataDir{t: t, dir: t.TempDir(), env: []string{"TENANCY_DATABASE_URL=" + url, "TENANCY_TENANT_DB=postgres-database"}}
	s := d.serve("--demo")
	const host = "test2.localhost"
	_, base := noteCount(t, s, host)
	var acked atomic.Int64
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			code, _ := s.request(t, "POST", host, "/api/notes", fmt.Sprintf(`{"body":"note %d"}`, i))
			if code == http.StatusCreated {
				acked.Add(1)
			}
		}
	})
	wait := load(t, s, host, stop)
	restart()
	testwait.Eventually(t, "the node to serve again after the restart", func() bool {
		code, _ := noteCount(t, s, host)
		return code == http.StatusOK
	})
	close(stop)
	writers.Wait()
	ok, failed := wait()
	_, after := noteCount(t, s, host)
	if int64(after-base) < acked.Load() {
		violation(t, "%d notes acknowledged, %d stored", acked.Load(), after-base)
	}
	t.Logf("postgres restart: %d requests served under load, %d failed while it was down; %d writes acknowledged, %d notes stored", ok, failed, acked.Load(), after)
}
