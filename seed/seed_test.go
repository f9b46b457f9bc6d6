package seed

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

//go:embed testdata/seeds
var embedded embed.FS

func openAt(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openDB opens a fresh SQLite database with a users table.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db := openAt(t, filepath.Join(t.TempDir(), "tenant.db"))
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestLoadFSEmbedded(t *testing.T) {
	t.Parallel()
	sub, err := fs.Sub(embedded, "testdata/seeds")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry()
	if err := r.LoadFS(sub); err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"01_users", "02_settings"}) {
		t.Fatalf("Names = %v", got)
	}
	db := openDB(t)
	if err := r.Run(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "users"); n != 2 {
		t.Errorf("users = %d, want 2", n)
	}
	if n := count(t, db, "settings"); n != 2 {
		t.Errorf("settings = %d, want 2", n)
	}
	var name string
	if err := db.QueryRow(`SELECT name FROM users WHERE id = 2`).Scan(&name); err != nil || name != "guest; read-only" {
		t.Errorf("user 2 = %q, %v", name, err)
	}
}

func TestSQLSeederIsAtomic(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	err := r.LoadFS(fstest.MapFS{
		"broken.sql": {Data: []byte(
			"CREATE TABLE extra (id INTEGER);\n" +
				"INSERT INTO users (name) VALUES ('first');\n" +
				"INSERT INTO no_such_table VALUES (1);\n" +
				"INSERT INTO users (name) VALUES ('never');\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	err = r.Run(context.Background(), db, "broken")
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("Run err = %v, want it to name the seeder and the cause", err)
	}
	if n := count(t, db, "users"); n != 0 {
		t.Errorf("users = %d after a failed seeder, want 0", n)
	}
	if tableExists(t, db, "extra") {
		t.Error("table created by a failed seeder survived")
	}
}

func TestSQLSeederEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sql   string
		users int
	}{
		{"empty", "", 0},
		{"blank", "\n  \n", 0},
		{"comment only", "-- nothing yet\n", 0},
		{"no trailing semicolon", "INSERT INTO users (name) VALUES ('a')", 1},
		{"trailing comment", "INSERT INTO users (name) VALUES ('a');\n-- end\n", 1},
		{"block comment between", "INSERT INTO users (name) VALUES ('a');\n/* x; y */\nINSERT INTO users (name) VALUES ('b');", 2},
		{"trigger body", "CREATE TRIGGER t AFTER INSERT ON users BEGIN UPDATE users SET name = upper(name) WHERE id = new.id; END;\n" +
			"INSERT INTO users (name) VALUES ('a');", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRegistry()
			if err := r.LoadFS(fstest.MapFS{"s.sql": {Data: []byte(tt.sql)}}); err != nil {
				t.Fatal(err)
			}
			db := openDB(t)
			if err := r.Run(context.Background(), db); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "users"); n != tt.users {
				t.Fatalf("users = %d, want %d", n, tt.users)
			}
		})
	}
}

func TestGoSeeder(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	err := r.Register("admin", func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, `INSERT INTO users (name) VALUES (?)`, "admin")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := r.Register("fails", func(context.Context, *sql.DB) error { return boom }); err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if err := r.Run(context.Background(), db, "admin"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "users"); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
	err = r.Run(context.Background(), db, "fails")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "seeder fails") {
		t.Fatalf("err = %v, want it to wrap boom and name the seeder", err)
	}
}

// recorder registers Go seeders that record the order they ran in.
func recorder(t *testing.T, names ...string) (*Registry, func() []string) {
	t.Helper()
	var (
		mu  sync.Mutex
		ran []string
	)
	r := NewRegistry()
	for _, name := range names {
		err := r.Register(name, func(context.Context, *sql.DB) error {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return r, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ran)
	}
}

func TestRunOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		run  []string
		want []string
	}{
		{nil, []string{"a", "b", "c"}},
		{[]string{"c", "a"}, []string{"c", "a"}},
		{[]string{"b"}, []string{"b"}},
		{[]string{"a", "a"}, []string{"a", "a"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.run), func(t *testing.T) {
			t.Parallel()
			r, ran := recorder(t, "c", "a", "b")
			if err := r.Run(context.Background(), openDB(t), tt.run...); err != nil {
				t.Fatal(err)
			}
			if got := ran(); !slices.Equal(got, tt.want) {
				t.Fatalf("ran %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunUnknown(t *testing.T) {
	t.Parallel()
	r, ran := recorder(t, "a", "b")
	err := r.Run(context.Background(), openDB(t), "a", "nope", "b", "other")
	if !errors.Is(err, ErrUnknownSeeder) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("err = %v, want ErrUnknownSeeder naming both", err)
	}
	if got := ran(); len(got) != 0 {
		t.Fatalf("ran %v despite an unknown name", got)
	}
	if r.Has("nope") || !r.Has("a") {
		t.Error("Has is wrong")
	}
}

func TestRunStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	r, ran := recorder(t, "a", "c")
	if err := r.Register("b", func(context.Context, *sql.DB) error { return errors.New("b failed") }); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), openDB(t)); err == nil {
		t.Fatal("Run succeeded")
	}
	if got := ran(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("ran %v, want [a]", got)
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	valid := []string{"a", "Z", "0", "01_users", "x.y-z", "a" + strings.Repeat("b", 99)}
	invalid := []string{"", "-a", "_a", ".a", "a b", "a/b", "a\\b", "é", "a" + strings.Repeat("b", 100), "a\n"}
	noop := func(context.Context, *sql.DB) error { return nil }
	for _, name := range valid {
		r := NewRegistry()
		if err := r.Register(name, noop); err != nil {
			t.Errorf("Register(%q): %v", name, err)
		}
		if err := NewRegistry().LoadFS(fstest.MapFS{name + ".sql": {}}); err != nil {
			t.Errorf("LoadFS(%q.sql): %v", name, err)
		}
	}
	for _, name := range invalid {
		if err := NewRegistry().Register(name, noop); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Register(%q) err = %v, want ErrInvalidName", name, err)
		}
		if !strings.Contains(name, "/") && name != "" {
			err := NewRegistry().LoadFS(fstest.MapFS{name + ".sql": {}})
			if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), name+".sql") {
				t.Errorf("LoadFS(%q.sql) err = %v, want ErrInvalidName naming the file", name, err)
			}
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	noop := func(context.Context, *sql.DB) error { return nil }
	if err := r.Register("users", noop); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("users", noop); !errors.Is(err, ErrDuplicateSeeder) {
		t.Errorf("duplicate Register err = %v", err)
	}
	if err := r.Register("other", nil); err == nil {
		t.Error("Register with a nil fn succeeded")
	}
	// A clash with a file rejects the whole directory.
	err := r.LoadFS(fstest.MapFS{
		"aaa.sql":   {Data: []byte("SELECT 1;")},
		"users.sql": {Data: []byte("SELECT 1;")},
	})
	if !errors.Is(err, ErrDuplicateSeeder) || !strings.Contains(err.Error(), "users.sql") {
		t.Fatalf("clash err = %v, want ErrDuplicateSeeder naming users.sql", err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"users"}) {
		t.Fatalf("Names = %v after a rejected load", got)
	}
	if err := r.Run(context.Background(), nil); err == nil {
		t.Error("Run with a nil db succeeded")
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		r := NewRegistry()
		if err := r.LoadDir(filepath.Join(t.TempDir(), "nope")); err != nil {
			t.Fatal(err)
		}
		if len(r.Names()) != 0 {
			t.Fatal("missing dir added seeders")
		}
		if err := r.Run(context.Background(), openDB(t)); err != nil {
			t.Fatalf("Run with no seeders: %v", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		f := filepath.Join(t.TempDir(), "x.sql")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := NewRegistry().LoadDir(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "users.sql"), []byte("INSERT INTO users (name) VALUES ('x');"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(d, "sub.sql"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "notes.txt"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := NewRegistry()
		if err := r.LoadDir(d); err != nil {
			t.Fatal(err)
		}
		// Read into memory at load time.
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if got := r.Names(); !slices.Equal(got, []string{"users"}) {
			t.Fatalf("Names = %v", got)
		}
		db := openDB(t)
		if err := r.Run(context.Background(), db, "users"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "users"); n != 1 {
			t.Fatalf("users = %d", n)
		}
	})
	t.Run("bad name names dir and file", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "-bad.sql"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		err := NewRegistry().LoadDir(d)
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), d) || !strings.Contains(err.Error(), "-bad.sql") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestConcurrentRun seeds many databases at once with one registry, while
// other goroutines read it, for the race detector.
func TestConcurrentRun(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if err := r.LoadFS(fstest.MapFS{"01_users.sql": {Data: []byte(
		"INSERT INTO users (name) VALUES ('a');\nINSERT INTO users (name) VALUES ('b');")}}); err != nil {
		t.Fatal(err)
	}
	var goRuns atomic.Int64
	if err := r.Register("02_go", func(ctx context.Context, db *sql.DB) error {
		goRuns.Add(1)
		_, err := db.ExecContext(ctx, `INSERT INTO users (name) VALUES ('c')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dbs := make([]*sql.DB, 16)
	for i := range dbs {
		dbs[i] = openDB(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = r.Run(context.Background(), db) })
		wg.Go(func() { _ = r.Names(); _ = r.Has("02_go") })
	}
	wg.Go(func() {
		_ = r.Register("zz_late", func(context.Context, *sql.DB) error { return nil })
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("db %d: %v", i, err)
		}
		if n := count(t, dbs[i], "users"); n != 3 {
			t.Fatalf("db %d: users = %d", i, n)
		}
	}
	if goRuns.Load() != int64(len(dbs)) {
		t.Fatalf("go seeder ran %d times", goRuns.Load())
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if err := r.LoadFS(fstest.MapFS{"s.sql": {Data: []byte("INSERT INTO users (name) VALUES ('a');")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db := openDB(t)
	if err := r.Run(ctx, db); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := count(t, db, "users"); n != 0 {
		t.Fatalf("users = %d", n)
	}
}
