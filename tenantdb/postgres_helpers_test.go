package tenantdb_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
)

// pgShards returns n shards (1 or 2), each the URL of a fresh database on
// its own server (shard a on the first server, b on the second), dropped
// when the test ends.
func pgShards(t testing.TB, n int) []tenantdb.Shard {
	t.Helper()
	shards := []tenantdb.Shard{{Name: "a", URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))}}
	if n > 1 {
		shards = append(shards, tenantdb.Shard{Name: "b", URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL2(t))})
	}
	return shards
}

// pgOpen opens a pool on url, closed when the test ends.
func pgOpen(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pgCountObjects counts the relations, types and functions of db's
// non-system schemas (current_schema only, when schemaOnly).
func pgCountObjects(schemaOnly bool) func(ctx context.Context, db *sql.DB) (int, error) {
	filter := `n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'`
	if schemaOnly {
		filter = `n.nspname = current_schema()`
	}
	return func(ctx context.Context, db *sql.DB) (int, error) {
		var n int
		err := db.QueryRowContext(ctx, `
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE `+filter+`)
     + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE `+filter+` AND t.typrelid = 0 AND t.typelem = 0)
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE `+filter+`)`).Scan(&n)
		return n, err
	}
}

// pgValidOrPrefixed keeps the names that start with prefix or are not
// valid identifiers (what a provisioner mishandling invalid names would
// leave).
func pgValidOrPrefixed(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) || tenantdb.ValidateName(n) != nil {
			out = append(out, n)
		}
	}
	return out
}

// queryNames returns the first column of every row of query.
func queryNames(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
