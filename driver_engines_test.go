package tenancy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/driver/mysqldriver"
	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
)

// TestDriversServeIsolatedTenants runs the embedded setup (New, EnsureTenant,
// Handler) on every engine and mode: each tenant sees only its own rows,
// and an unknown host is 404.
func TestDriversServeIsolatedTenants(t *testing.T) {
	t.Parallel()
	engines := []struct {
		name    string
		dialect string
		driver  func(t *testing.T) tenancy.Driver
	}{
		{"sqlite", "sqlite3", func(t *testing.T) tenancy.Driver { return sqlitedriver.Open(t.TempDir()) }},
		{"postgres-database", "postgres", func(t *testing.T) tenancy.Driver {
			return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{Mode: pgdriver.ModeDatabase})
		}},
		{"postgres-schema", "postgres", func(t *testing.T) tenancy.Driver {
			return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{Mode: pgdriver.ModeSchema})
		}},
		{"postgres-rls", "postgres", func(t *testing.T) tenancy.Driver {
			return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{
				Mode: pgdriver.ModeRLS, AppRole: testenv.Name("app"), AppPassword: "app-secret",
			})
		}},
		{"mysql-database", "mysql", func(t *testing.T) tenancy.Driver { return mysqldriver.Open(testenv.NewMySQLDatabase(t), nil) }},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			set, err := migrate.Load(demo.Migrations(e.dialect))
			if err != nil {
				t.Fatal(err)
			}
			mgr, err := tenancy.New(ctx, e.driver(t), &tenancy.Config{Migrations: set})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mgr.Close() }) // after the tenants' deletes, which run first
			prefix := strings.ReplaceAll(testenv.Name("drv"), "_", "-")
			hosts := []string{prefix + "-a.test", prefix + "-b.test"}
			var tenants []*tenancy.Tenant
			for _, host := range hosts {
				tn, err := mgr.EnsureTenant(ctx, tenancy.CreateRequest{Name: host, Domain: host, Migrate: true})
				if err != nil {
					t.Fatal(err)
				}
				tenants = append(tenants, tn)
				t.Cleanup(func() {
					if _, err := mgr.Delete(context.Background(), tn.UUID); err != nil {
						t.Errorf("delete %s: %v", tn.Name, err)
					}
				})
			}
			if err := mgr.Run(ctx, tenants[0], func(ctx context.Context) error {
				db, err := tenancy.DB(ctx)
				if err != nil {
					return err
				}
				_, err = db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('only a''s')`)
				return err
			}); err != nil {
				t.Fatal(err)
			}

			mux := http.NewServeMux()
			mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
				db, err := tenancy.DB(r.Context())
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				var n int
				if err := db.QueryRowContext(r.Context(), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				fmt.Fprint(w, n)
			})
			srv := httptest.NewServer(mgr.Handler(mux))
			defer srv.Close()
			for host, want := range map[string]string{hosts[0]: "200 1", hosts[1]: "200 0", prefix + "-nobody.test": "404"} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/count", nil)
				req.Host = host
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				got := fmt.Sprint(res.StatusCode)
				if res.StatusCode == http.StatusOK {
					got += " " + string(body)
				}
				if got != want {
					t.Errorf("GET %s/count = %s (%s), want %s", host, got, body, want)
				}
			}
		})
	}
}
