package pgdriver_test

import (
	"context"
	"database/sql"
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
