// Command httpbench serves one of three HTTP servers over a data directory
// of benchmark tenants (t1.bench.test … tN.bench.test), for load tools such
// as wrk to compare in one run:
//
//	bare     a bare net/http handler answering like /api/whoami
//	tenancy  the full `tenancy serve` stack: resolver, gate, bootstrappers, demo app
//	naive    a mutex-guarded map of *sql.DB, one per tenant, answering /api/notes/count
//	prepared the naive server plus one prepared statement per tenant and no
//	         middleware: what a runtime that cost nothing itself would reach
//	         doing the same database work per request
//
// `httpbench -setup` creates the tenants first. On SIGTERM it prints the
// connection manager's statistics and the process's peak memory as JSON.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/server"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/storage"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/tenantdb"
)

func main() {
	var (
		dataDir = flag.String("data-dir", "", "benchmark data directory (required)")
		mode    = flag.String("mode", "tenancy", "bare, tenancy, naive or prepared")
		addr    = flag.String("addr", "127.0.0.1:8090", "listen address")
		setup   = flag.Int("setup", 0, "create this many tenants, then exit")
		budget  = flag.Int("budget", tenantdb.DefaultMaxOpen, "most tenant databases open at once (tenancy mode)")
		profile = flag.String("cpuprofile", "", "write a CPU profile of the serving to this file")
	)
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("httpbench: -data-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *setup > 0 {
		if err := createTenants(ctx, *dataDir, *setup); err != nil {
			log.Fatal(err)
		}
		return
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var handler http.Handler
	var report func() map[string]any
	switch *mode {
	case "bare":
		handler = bareHandler()
	case "naive", "prepared":
		n, err := newNaive(*dataDir)
		if err != nil {
			log.Fatal(err)
		}
		if *mode == "prepared" {
			n.stmts = map[string]*sql.Stmt{}
		}
		handler, report = n, n.report
	case "tenancy":
		handler, report, err = tenancyHandler(ctx, *dataDir, *budget)
		if err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("httpbench: unknown -mode %q", *mode)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	go srv.Serve(ln)
	<-ctx.Done()
	srv.Shutdown(context.Background())
	out := map[string]any{"mode": *mode, "peak_rss_mb": peakRSSMB()}
	if report != nil {
		for k, v := range report() {
			out[k] = v
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// open opens the benchmark data directory's Manager.
func open(ctx context.Context, dataDir string, budget int) (*tenancy.Manager, *sqlitestore.Store, error) {
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dataDir, "catalog.sqlite")})
	if err != nil {
		return nil, nil, err
	}
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dataDir, "tenants")})
	if err != nil {
		return nil, nil, err
	}
	set, err := migrate.Load(demo.Migrations("sqlite3"))
	if err != nil {
		return nil, nil, err
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: st, Provisioner: prov, Migrations: set,
		ConnConfig: &tenantdb.ConnConfig{MaxOpen: budget}, Logger: slog.New(slog.DiscardHandler)})
	return mgr, st, err
}

// createTenants makes n migrated tenants with one note each, four at a time.
func createTenants(ctx context.Context, dataDir string, n int) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	mgr, st, err := open(ctx, dataDir, 64)
	if err != nil {
		return err
	}
	defer st.Close()
	defer mgr.Close()
	items := make([]int, n)
	for i := range items {
		items[i] = i + 1
	}
	out, err := migrate.RunFleet(ctx, items, &migrate.FleetConfig{Concurrency: 4}, func(ctx context.Context, i int) error {
		t, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Bench ", i), Domain: fmt.Sprintf("t%d.bench.test", i), Migrate: true})
		if err != nil {
			return err
		}
		return mgr.Run(ctx, t, func(ctx context.Context) error {
			_, err := demo.InsertNote(ctx, "bench note")
			return err
		})
	})
	if err != nil {
		return err
	}
	for _, o := range out {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

// bareHandler answers like /api/whoami with no tenancy at all.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(map[string]string{"uuid": "01a2185c-8068-7cbf-ba4e-a68e05dd8e16", "name": "Bench 1", "status": "active"})
	})
}

// tenancyHandler is the full server stack.
func tenancyHandler(ctx context.Context, dataDir string, budget int) (http.Handler, func() map[string]any, error) {
	mgr, st, err := open(ctx, dataDir, budget)
	if err != nil {
		return nil, nil, err
	}
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dataDir, "storage")})
	if err != nil {
		return nil, nil, err
	}
	cp, err := controlplane.New(st, nil)
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.New(ctx, &server.Config{Manager: mgr, ControlPlane: cp, Storage: files, DataDir: dataDir, Watcher: st,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, nil, err
	}
	return srv.Handler(), func() map[string]any {
		s := mgr.Databases().Stats()
		ratio := 0.0
		if s.Hits+s.Misses > 0 {
			ratio = float64(s.Hits) / float64(s.Hits+s.Misses)
		}
		return map[string]any{"connections": s, "hit_ratio": ratio}
	}, nil
}

// naive is the baseline a team writes first: a mutex-guarded map of
// *sql.DB, one per tenant host, opened on first use and never closed. With
// stmts set it also keeps the count query prepared per tenant.
type naive struct {
	catalog *sql.DB
	dir     string
	mu      sync.Mutex
	dbs     map[string]*sql.DB
	stmts   map[string]*sql.Stmt // by host; nil: prepare on every request
}

func newNaive(dataDir string) (*naive, error) {
	catalog, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "catalog.sqlite")+"?mode=ro")
	if err != nil {
		return nil, err
	}
	return &naive{catalog: catalog, dir: filepath.Join(dataDir, "tenants"), dbs: map[string]*sql.DB{}}, nil
}

// count runs the count query on host's database.
func (n *naive) count(ctx context.Context, host string) (int64, error) {
	db, err := n.db(ctx, host)
	if err != nil {
		return 0, err
	}
	var row *sql.Row
	if n.stmts == nil {
		row = db.QueryRowContext(ctx, countQuery)
	} else {
		st, err := n.stmt(ctx, host, db)
		if err != nil {
			return 0, err
		}
		row = st.QueryRowContext(ctx)
	}
	var count int64
	err = row.Scan(&count)
	return count, err
}

const countQuery = `SELECT count(*) FROM notes`

// stmt returns the count query prepared on host's database.
func (n *naive) stmt(ctx context.Context, host string, db *sql.DB) (*sql.Stmt, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st, ok := n.stmts[host]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, countQuery)
	if err != nil {
		return nil, err
	}
	n.stmts[host] = st
	return st, nil
}

func (n *naive) db(ctx context.Context, host string) (*sql.DB, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if db, ok := n.dbs[host]; ok {
		return db, nil
	}
	var name string
	err := n.catalog.QueryRowContext(ctx, `SELECT t.database_name FROM tenants t JOIN domains d ON d.tenant_id = t.id WHERE d.domain = ?`, host).Scan(&name)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", OmitHost: true, Path: filepath.Join(n.dir, name+".sqlite"), RawQuery: q.Encode()}).String())
	if err != nil {
		return nil, err
	}
	n.dbs[host] = db
	return db, nil
}

func (n *naive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, found := strings.Cut(r.Host, ":")
	if !found {
		host = r.Host
	}
	count, err := n.count(r.Context(), strings.ToLower(host))
	if errors.Is(err, sql.ErrNoRows) {
		http.Error(w, "unknown host", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int64{"count": count})
}

func (n *naive) report() map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return map[string]any{"open_databases": len(n.dbs)}
}

// peakRSSMB reads the process's peak resident memory from /proc.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}
