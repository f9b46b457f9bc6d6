package migrate

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

//go:embed testdata/migrations
var embedded embed.FS

// testdataFS is the sample migrations: 00001..00003 plus a README.md.
func testdataFS(tb testing.TB) fs.FS {
	tb.Helper()
	sub, err := fs.Sub(embedded, "testdata/migrations")
	if err != nil {
		tb.Fatal(err)
	}
	return sub
}

func testdataSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := Load(testdataFS(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func openAt(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// openDB opens a fresh SQLite database file in a temporary directory.
func openDB(tb testing.TB) *sql.DB {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "tenant.db"))
}

func tableExistsT(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(),
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
