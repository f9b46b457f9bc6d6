package sqlitedriver_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/gotenancy/tenancy/tenantdb/tenantdbtest"
)

func newSQLite(t *testing.T) *sqlitedriver.Provisioner {
	t.Helper()
	p, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("NewSQLite: %v", err)
	}
	return p
}

// sqliteCountObjects counts the user schema objects of a SQLite database.
func sqliteCountObjects(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&n)
	return n, err
}

// sqliteInventory lists the provisioner's directory.
func sqliteInventory(_ context.Context, p tenantdb.Provisioner) ([]string, error) {
	entries, err := os.ReadDir(p.(*sqlitedriver.Provisioner).Dir())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner { return newSQLite(t) },
		&tenantdbtest.Options{CountObjects: sqliteCountObjects, Inventory: sqliteInventory})
}

// A directory needing URI escaping still works, and nothing lands elsewhere.
func TestSQLiteConformanceOddDir(t *testing.T) {
	t.Parallel()
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
		dir := filepath.Join(t.TempDir(), "we ird?#%25&dir;=x", "sub")
		p, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: dir})
		if err != nil {
			t.Fatalf("NewSQLite: %v", err)
		}
		t.Cleanup(func() {
			// Only the odd directory chain may exist in the temp dir.
			entries, _ := os.ReadDir(filepath.Dir(filepath.Dir(dir)))
			if len(entries) != 1 {
				t.Errorf("temp dir holds %d entries, want 1", len(entries))
			}
		})
		return p
	}, &tenantdbtest.Options{CountObjects: sqliteCountObjects, Inventory: sqliteInventory})
}

func TestNewSQLiteConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  *sqlitedriver.ProvisionerConfig
		want string // error substring; "" for success
	}{
		{"nil", nil, "Dir is required"},
		{"no dir", &sqlitedriver.ProvisionerConfig{}, "Dir is required"},
		{"negative busy", &sqlitedriver.ProvisionerConfig{Dir: dir, BusyTimeout: -time.Second}, "BusyTimeout"},
		{"negative open", &sqlitedriver.ProvisionerConfig{Dir: dir, MaxOpenConns: -1}, "MaxOpenConns"},
		{"negative idle", &sqlitedriver.ProvisionerConfig{Dir: dir, MaxIdleConns: -1}, "MaxIdleConns"},
		{"idle > open", &sqlitedriver.ProvisionerConfig{Dir: dir, MaxOpenConns: 2, MaxIdleConns: 3}, "exceeds"},
		{"dir is a file", &sqlitedriver.ProvisionerConfig{Dir: file}, "Dir"},
		{"defaults", &sqlitedriver.ProvisionerConfig{Dir: dir}, ""},
		{"creates dir", &sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "a", "b")}, ""},
		{"custom", &sqlitedriver.ProvisionerConfig{Dir: dir, BusyTimeout: 1500 * time.Microsecond, MaxOpenConns: 1, MaxIdleConns: 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := sqlitedriver.NewProvisioner(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewSQLite: %v", err)
				}
				if fi, err := os.Stat(p.Dir()); err != nil || !fi.IsDir() {
					t.Fatalf("Dir %q not created: %v", p.Dir(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSQLite: err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: t.TempDir(), BusyTimeout: 1234 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Path("x"), filepath.Join(p.Dir(), "x.sqlite"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if p.Dialect() != "sqlite3" {
		t.Errorf("Dialect = %q", p.Dialect())
	}
	if err := p.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := p.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "1234",
		"foreign_keys": "1",
		"synchronous":  "1",
	} {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	// A fresh file is a valid database of its own: another driver
	// connection reading the header sees WAL mode.
	head := make([]byte, 20)
	f, err := os.Open(p.Path("acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Read(head); err != nil {
		t.Fatal(err)
	}
	if string(head[:16]) != "SQLite format 3\x00" || head[18] != 2 || head[19] != 2 {
		t.Errorf("file header = %q, want a WAL-mode SQLite header", head)
	}
}

func TestSQLiteCreateClearsStaleSidecars(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newSQLite(t)
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.WriteFile(p.Path("acme")+suffix, []byte("garbage from an old database"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	db, err := p.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatalf("database unusable: %v", err)
	}
	if _, err := os.Stat(p.Path("acme") + "-journal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale -journal still there: %v", err)
	}
}

func TestSQLiteCreateFailureRemovesFile(t *testing.T) {
	t.Parallel()
	p := newSQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Create(ctx, "acme"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a canceled context: err = %v, want context.Canceled", err)
	}
	if ok, err := p.Exists(t.Context(), "acme"); err != nil || ok {
		t.Fatalf("Exists after failed Create = %v, %v; want false", ok, err)
	}

	// A failure after the file was made: a directory in the -wal file's
	// place cannot be removed by Create's stale-sidecar cleanup.
	if err := os.MkdirAll(filepath.Join(p.Path("beta")+"-wal", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(t.Context(), "beta"); err == nil {
		t.Fatal("Create succeeded despite an unremovable -wal")
	}
	if _, err := os.Stat(p.Path("beta")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create left the database file after failing: %v", err)
	}
}

func TestSQLiteWipeEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := newSQLite(t)
	if err := p.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := p.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT UNIQUE)",
		"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id))",
		"CREATE TABLE \"odd \"\"name\" (x)",
		"CREATE INDEX child_parent ON child (parent_id)",
		"CREATE VIEW v AS SELECT * FROM parent JOIN child ON child.parent_id = parent.id",
		"CREATE TRIGGER trg AFTER INSERT ON parent BEGIN INSERT INTO child (parent_id) VALUES (new.id); END",
		"CREATE VIRTUAL TABLE docs USING fts5(body)",
		"INSERT INTO parent (v) VALUES ('a'), ('b')",
		"INSERT INTO docs (body) VALUES ('hello world')",
		"ANALYZE",
		"PRAGMA user_version = 7",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := p.Wipe(ctx, db); err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	if n, err := sqliteCountObjects(ctx, db); err != nil || n != 0 {
		t.Errorf("objects after Wipe = %d, %v; want 0", n, err)
	}
	var uv int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil || uv != 0 {
		t.Errorf("user_version after Wipe = %d, %v; want 0", uv, err)
	}
	// Foreign keys are back on for every pooled connection.
	for range 3 {
		var fk int
		if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys after Wipe = %d, %v; want 1", fk, err)
		}
	}
	if err := p.Wipe(ctx, nil); err == nil {
		t.Error("Wipe(nil) succeeded")
	}
}
