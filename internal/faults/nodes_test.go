package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
)

// mysqlURL turns a go-sql-driver DSN into the mysql:// URL --database-url
// takes.
func mysqlURL(dsn string) string {
	userinfo, rest, _ := strings.Cut(dsn, "@tcp(")
	hostport, rest, _ := strings.Cut(rest, ")/")
	dbname, _, _ := strings.Cut(rest, "?")
	return "mysql://" + userinfo + "@" + hostport + "/" + dbname
}

// Two nodes started at the same moment on a fresh PostgreSQL catalog (made
// by the CLI first) and on a fresh MariaDB catalog with --demo both come
// up and serve, and demo seeding happens once.
func TestNodesStartTogether(t *testing.T) {
	t.Parallel()
	catalogs := map[string]func() (string, []string){
		"postgres": func() (string, []string) {
			return testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), nil
		},
		"mariadb": func() (string, []string) {
			return mysqlURL(testenv.NewMySQLDatabase(t)), []string{"--demo"}
		},
	}
	for name, catalog := range catalogs {
		t.Run(name, func(t *testing.T) {
			for round := range 2 {
				url, flags := catalog()
				env := []string{"TENANCY_DATABASE_URL=" + url}
				first := &dataDir{t: t, dir: t.TempDir(), env: env}
				if name == "postgres" {
					first.must("list") // the CLI creates the catalog first
				}
				dirs := []*dataDir{first, {t: t, dir: t.TempDir(), env: env}}
				servers := make([]*server, len(dirs))
				var wg sync.WaitGroup
				for i, d := range dirs {
					wg.Go(func() {
						s := &server{addr: freeAddr(t)}
						servers[i] = d.start(s, flags...)
					})
				}
				wg.Wait()
				for i, s := range servers {
					if err := s.waitReady(90 * time.Second); err != nil {
						violation(t, "round %d: node %d did not come up: %v\n%s", round, i, err, s.logs)
					}
				}
				if name == "mariadb" {
					out := first.must("list", "-o", "json", "--per-page", "100")
					if n := strings.Count(out, `"uuid"`); n != 5 {
						violation(t, "round %d: %d demo tenants, want 5", round, n)
					}
				}
				for _, s := range servers {
					s.stop()
				}
			}
		})
	}
	t.Logf("node starts: %d in all; invariant violations %d", nodeStarts.Load(), violations.Load())
}

// start starts serve on s.addr without waiting for it.
func (d *dataDir) start(s *server, args ...string) *server {
	s.logs, s.exited = &lockedBuffer{}, make(chan struct{})
	s.cmd = d.cmd(append([]string{"serve", "--addr", s.addr}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		panic(fmt.Sprintf("start serve: %v", err))
	}
	nodeStarts.Add(1)
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	d.t.Cleanup(func() { s.stop() })
	return s
}
