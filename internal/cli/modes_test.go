package cli

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/internal/testenv"
)

// TestServerModes runs the same lifecycle in every server tenant database
// mode, with the catalog on the same kind of server: create with migrations
// and sample data, query each tenant's own data, delete.
func TestServerModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{modePostgresDatabase, modePostgresSchema, modePostgresRLS, modeMySQLDatabase} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var catalog string
			if mode == modeMySQLDatabase {
				dsn := testenv.NewMySQLDatabase(t)
				catalog = mysqlURL(t, dsn)
			} else {
				catalog = testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
			}
			dir := t.TempDir()
			flags := []string{"--database-url", catalog, "--tenant-db", mode}
			prefix := strings.ReplaceAll(mode, "-", "")
			out := ok(t, dir, append(flags, "create-test-tenants", "--count", "2", "--with-data", "--domain-prefix", prefix)...)
			if strings.Count(out, "created ") != 2 {
				t.Fatalf("create-test-tenants: %s", out)
			}
			for _, host := range []string{prefix + "1.localhost", prefix + "2.localhost"} {
				rows := decode[[]map[string]any](t, ok(t, dir, append(flags, "run", host, "--sql", "SELECT count(*) AS n FROM notes", "-o", "json")...))
				if len(rows) != 1 || rows[0]["n"] != float64(3) {
					t.Fatalf("%s sees %v notes, want its own 3", host, rows)
				}
			}
			ok(t, dir, append(flags, "delete", prefix+"1.localhost", "--force")...)
			if _, _, code := run(t, dir, append(flags, "show", prefix+"1.localhost")...); code == 0 {
				t.Fatal("deleted tenant still shown")
			}
			ok(t, dir, append(flags, "delete", prefix+"2.localhost", "--force")...)
		})
	}
}

// mysqlURL turns a go-sql-driver DSN into the mysql:// URL --database-url takes.
func mysqlURL(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// user:pass@tcp(host:port)/db?params → mysql://user:pass@host:port/db
	userinfo, rest, _ := strings.Cut(dsn, "@tcp(")
	hostport, rest, _ := strings.Cut(rest, ")/")
	dbname, _, _ := strings.Cut(rest, "?")
	return "mysql://" + userinfo + "@" + hostport + "/" + dbname
}
