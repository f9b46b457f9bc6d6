// Command pgbaseline is the shared-pool baseline of bench/pgscale.sh: a
// plain net/http server, without tenancy's middleware, holding ONE
// pgxpool.Pool of -max-conns connections to the database that holds the
// tenants' data, answering GET /api/notes/count like the demo application:
//
//	{"count": N}
//
// The tenant is taken from the Host header. At start it reads the whole
// host → tenant map from the tenancy catalog (-catalog: the domains and
// tenants tables of a PostgreSQL catalog) into a plain map; there is no
// status gate, no resolver and no cache beyond that map. Each request runs
// one schema-qualified statement on any connection of the pool:
//
//	-mode schema  SELECT count(*) FROM "<tenant schema>".notes       (postgres-schema data)
//	-mode rls     SELECT count(*) FROM "<schema>".notes WHERE tenant_id = $1
//	              (postgres-rls data, as the shard's owner: the WHERE does RLS's work)
//
// Unless the URL sets default_query_exec_mode, schema mode uses pgx's exec
// mode (one round trip, unnamed statement): every tenant has its own
// statement text, which would only churn a per-connection statement cache;
// rls mode keeps pgx's default (one cached prepared statement per
// connection).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// tenant is what a host maps to: the statement to run and its arguments.
type tenant struct {
	query string
	args  []any
}

func main() {
	var (
		addr      = flag.String("addr", "127.0.0.1:8092", "listen address")
		dataURL   = flag.String("url", "", "PostgreSQL URL of the database holding the tenants' data (required)")
		catalog   = flag.String("catalog", "", "PostgreSQL URL of the tenancy catalog to read hosts and tenants from (required)")
		maxConns  = flag.Int("max-conns", 80, "connections of the one shared pool")
		mode      = flag.String("mode", "schema", "schema (a schema per tenant) or rls (shared tables with a tenant_id column)")
		rlsSchema = flag.String("rls-schema", "tenant_data", "schema of the shared tables (rls mode)")
		execMode  = flag.String("exec-mode", "", "pgx default_query_exec_mode when the URL sets none; empty: exec in schema mode, pgx's default in rls mode")
	)
	flag.Parse()
	if *dataURL == "" || *catalog == "" {
		log.Fatal("pgbaseline: -url and -catalog are required")
	}
	if *mode != "schema" && *mode != "rls" {
		log.Fatalf("pgbaseline: invalid -mode %q: want schema or rls", *mode)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tenants, err := loadTenants(ctx, *catalog, *mode, *rlsSchema)
	if err != nil {
		log.Fatalf("pgbaseline: reading the catalog: %v", err)
	}

	cfg, err := pgxpool.ParseConfig(*dataURL)
	if err != nil {
		log.Fatalf("pgbaseline: invalid -url: %v", err)
	}
	cfg.MaxConns = int32(*maxConns)
	if !strings.Contains(*dataURL, "default_query_exec_mode") {
		m := *execMode
		if m == "" && *mode == "schema" {
			m = "exec"
		}
		switch m {
		case "":
		case "exec":
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		case "simple_protocol":
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		case "cache_statement":
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
		case "cache_describe":
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		case "describe_exec":
			cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
		default:
			log.Fatalf("pgbaseline: invalid -exec-mode %q", m)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("pgbaseline: %v", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		log.Fatalf("pgbaseline: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/notes/count", func(w http.ResponseWriter, r *http.Request) {
		t, ok := tenants[hostOf(r.Host)]
		if !ok {
			writeError(w, http.StatusNotFound, "no tenant at this host")
			return
		}
		var n int64
		if err := pool.QueryRow(r.Context(), t.query, t.args...).Scan(&n); err != nil {
			if r.Context().Err() == nil {
				log.Printf("pgbaseline: %s: %v", r.Host, err)
			}
			writeError(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "tenants": len(tenants)})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("pgbaseline: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Printf("pgbaseline: %d hosts, %s mode, one pool of %d connections, listening on %s", len(tenants), *mode, *maxConns, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("pgbaseline: %v", err)
	}
}

// loadTenants reads every domain of every tenant from the catalog once and
// prepares the statement each host runs. The tenant's database_name is its
// schema in postgres-schema mode and its tenant_id in postgres-rls mode.
func loadTenants(ctx context.Context, url, mode, rlsSchema string) (map[string]tenant, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT d.domain, t.database_name FROM domains d JOIN tenants t ON t.id = d.tenant_id`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]tenant)
	rlsQuery := "SELECT count(*) FROM " + pgx.Identifier{rlsSchema, "notes"}.Sanitize() + " WHERE tenant_id = $1"
	for rows.Next() {
		var domain, name string
		if err := rows.Scan(&domain, &name); err != nil {
			return nil, err
		}
		if mode == "rls" {
			out[domain] = tenant{query: rlsQuery, args: []any{name}}
		} else {
			out[domain] = tenant{query: "SELECT count(*) FROM " + pgx.Identifier{name, "notes"}.Sanitize()}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no domains in the catalog")
	}
	return out, nil
}

// hostOf is the Host header without its port, lower-cased, as the catalog
// stores domains.
func hostOf(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{
		"success": false, "error": http.StatusText(code), "message": msg, "code": code,
		"timestamp": time.Now().UTC().Format(time.RFC3339),
	})
}
