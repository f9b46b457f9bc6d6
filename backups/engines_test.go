package backups_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/driver/mysqldriver"
	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/storage"
)

// engine is a tenant database engine and mode under test.
type engine struct {
	mode, engine, dialect string
	driver                func(t *testing.T) tenancy.Driver
}

var engines = []engine{
	{"sqlite", "sqlite", "sqlite3", func(t *testing.T) tenancy.Driver { return sqlitedriver.Open(t.TempDir()) }},
	{"postgres-database", "postgres", "postgres", func(t *testing.T) tenancy.Driver {
		return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{Mode: pgdriver.ModeDatabase})
	}},
	{"postgres-schema", "postgres", "postgres", func(t *testing.T) tenancy.Driver {
		return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{Mode: pgdriver.ModeSchema})
	}},
	{"postgres-rls", "postgres", "postgres", func(t *testing.T) tenancy.Driver {
		return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{
			Mode: pgdriver.ModeRLS, AppRole: testenv.Name("app"), AppPassword: "app-secret"})
	}},
	{"mysql-database", "mysql", "mysql", func(t *testing.T) tenancy.Driver { return mysqldriver.Open(testenv.NewMySQLDatabase(t), nil) }},
}

func engineNamed(t *testing.T, mode string) engine {
	for _, e := range engines {
		if e.mode == mode {
			return e
		}
	}
	t.Fatalf("no engine %s", mode)
	return engine{}
}

// newEngineFixture is a Manager on e with the demo migrations and a
// backups service writing to a directory.
func newEngineFixture(t *testing.T, e engine) *fixture {
	t.Helper()
	ctx := context.Background()
	set, err := migrate.Load(demo.Migrations(e.dialect))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := tenancy.New(ctx, e.driver(t), &tenancy.Config{Migrations: set})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		all, _ := mgr.AllTenants(context.Background())
		for _, tn := range all {
			mgr.Delete(context.Background(), tn.UUID)
		}
		mgr.Close()
	})
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{mgr: mgr, files: files, dest: "file://" + filepath.Join(dir, "backups"), dir: dir}
	f.svc, err = backups.New(backups.Config{
		Manager: mgr,
		Open: func(ctx context.Context, url string) (backups.Destination, error) {
			return destination.Open(ctx, url)
		},
		Destination: f.dest, Files: files.Path, Engine: e.engine, Mode: e.mode, TempDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// settingsInsert adds a row to the demo's settings table (whose key
// column is a reserved word in MySQL).
func settingsInsert(e engine, key, value string) string {
	col := "key"
	if e.dialect == "mysql" {
		col = "`key`"
	}
	return "INSERT INTO settings (" + col + ", value) VALUES ('" + key + "', '" + value + "')"
}

// domain is a domain unique to this test run.
func domain(name string) string {
	return strings.ReplaceAll(testenv.Name(name), "_", "-") + ".test"
}

// query returns the rows of q in the tenant's database as strings.
func (f *fixture) query(t *testing.T, tn *tenancy.Tenant, q string) []string {
	t.Helper()
	var out []string
	err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const notesQuery = `SELECT body FROM notes ORDER BY id`

// TestBackupRestoreEveryEngine backs a tenant up on every engine and mode,
// changes it, restores it, and checks that its rows and files are back,
// that a row added afterwards gets a fresh key, and that its neighbour
// was not touched.
func TestBackupRestoreEveryEngine(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newEngineFixture(t, e)
			a, b := f.tenant(t, domain("bka")), f.tenant(t, domain("bkb"))
			f.exec(t, a, `INSERT INTO notes (body) VALUES ('one'), ('it''s two'), ('three')`, settingsInsert(e, "k", "v"))
			f.exec(t, b, `INSERT INTO notes (body) VALUES ('b''s')`)
			root, _ := f.files.Path(a.UUID)
			os.MkdirAll(root, 0o755)
			os.WriteFile(filepath.Join(root, "kept.txt"), []byte("kept"), 0o644)
			want := f.query(t, a, notesQuery)

			rec, err := f.svc.Backup(ctx, a, backups.Options{Compress: true})
			if err != nil {
				t.Fatal(err)
			}
			f.exec(t, a, `DELETE FROM notes WHERE body = 'one'`, `INSERT INTO notes (body) VALUES ('after')`, `DELETE FROM settings`)
			os.WriteFile(filepath.Join(root, "added.txt"), []byte("added"), 0o644)

			after, err := f.svc.Restore(ctx, a, rec.ID, backups.RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.query(t, after, notesQuery); !reflect.DeepEqual(got, want) {
				t.Fatalf("notes after restore %q, want %q", got, want)
			}
			if got := f.query(t, after, `SELECT value FROM settings`); !reflect.DeepEqual(got, []string{"v"}) {
				t.Fatalf("settings after restore %q", got)
			}
			if _, err := os.Stat(filepath.Join(root, "added.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file added after the backup survived the restore: %v", err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, "kept.txt")); string(got) != "kept" {
				t.Fatalf("kept.txt = %q", got)
			}
			f.exec(t, after, `INSERT INTO notes (body) VALUES ('new')`)
			if got := f.query(t, after, notesQuery); len(got) != 4 || got[3] != "new" {
				t.Fatalf("notes after an insert %q", got)
			}
			if got := f.query(t, b, notesQuery); !reflect.DeepEqual(got, []string{"b's"}) {
				t.Fatalf("the other tenant's notes %q", got)
			}
			if after.Maintenance {
				t.Fatal("the tenant stayed in maintenance")
			}
		})
	}
}

// TestExportImportEveryEngine exports a tenant in each format and imports
// it as a new tenant on the same engine.
func TestExportImportEveryEngine(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newEngineFixture(t, e)
			src := f.tenant(t, domain("exa"))
			f.exec(t, src, `INSERT INTO notes (body) VALUES ('one'), ('two, with a comma'), ('it''s "three"')`, settingsInsert(e, "theme", "dark"))
			root, _ := f.files.Path(src.UUID)
			os.MkdirAll(root, 0o755)
			os.WriteFile(filepath.Join(root, "doc.txt"), []byte("doc"), 0o644)
			want := f.query(t, src, notesQuery)
			for _, format := range []string{"json", "csv", "sql"} {
				file := filepath.Join(f.dir, "export."+format+".zip")
				out, _ := os.Create(file)
				if _, err := f.svc.Export(ctx, src, out, backups.ExportOptions{Format: format}); err != nil {
					t.Fatal(err)
				}
				out.Close()
				if e.mode == "postgres-rls" {
					// Shared tables keep keys unique across tenants: an
					// import of rows whose keys another tenant holds fails
					// whole.
					f.exec(t, src, `DELETE FROM notes`, `DELETE FROM settings`)
				}
				got, err := f.svc.Import(ctx, file, backups.ImportOptions{Name: "Imported " + format, Domain: domain("imp-" + format)})
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				if got.Status != tenancy.StatusActive {
					t.Fatalf("imported tenant is %s", got.Status)
				}
				if rows := f.query(t, got, notesQuery); !reflect.DeepEqual(rows, want) {
					t.Fatalf("%s: imported notes %q, want %q", format, rows, want)
				}
				groot, _ := f.files.Path(got.UUID)
				if b, _ := os.ReadFile(filepath.Join(groot, "doc.txt")); string(b) != "doc" {
					t.Fatalf("%s: imported file %q", format, b)
				}
				if e.mode == "postgres-rls" {
					f.mgr.Delete(ctx, got.UUID)
					f.exec(t, src, `INSERT INTO notes (body) VALUES ('one'), ('two, with a comma'), ('it''s "three"')`)
					want = f.query(t, src, notesQuery)
				}
			}
		})
	}
}

// TestImportSQLiteIntoPostgresSchema moves a tenant between engines: an
// export of an SQLite tenant of the demo imports into postgres-schema.
func TestImportSQLiteIntoPostgresSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lite := newEngineFixture(t, engineNamed(t, "sqlite"))
	src := lite.tenant(t, domain("lite"))
	lite.exec(t, src, `INSERT INTO notes (body, created_at) VALUES ('from sqlite', '2026-01-02T03:04:05.000Z')`, `INSERT INTO notes (body) VALUES ('ünïcødé')`, `INSERT INTO settings (key, value) VALUES ('plan', 'pro')`)
	file := filepath.Join(lite.dir, "lite.zip")
	out, _ := os.Create(file)
	if _, err := lite.svc.Export(ctx, src, out, backups.ExportOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	out.Close()

	pg := newEngineFixture(t, engineNamed(t, "postgres-schema"))
	got, err := pg.svc.Import(ctx, file, backups.ImportOptions{Domain: domain("pg")})
	if err != nil {
		t.Fatal(err)
	}
	if rows := pg.query(t, got, `SELECT body || ' @ ' || created_at FROM notes ORDER BY id`); !reflect.DeepEqual(rows, []string{"from sqlite @ 2026-01-02T03:04:05.000Z", "ünïcødé @ " + lite.query(t, src, `SELECT created_at FROM notes WHERE id = 2`)[0]}) {
		t.Fatalf("notes in postgres %q", rows)
	}
	if rows := pg.query(t, got, `SELECT key || '=' || value FROM settings`); !reflect.DeepEqual(rows, []string{"plan=pro"}) {
		t.Fatalf("settings in postgres %q", rows)
	}
	pg.exec(t, got, `INSERT INTO notes (body) VALUES ('next')`)
	if rows := pg.query(t, got, `SELECT id::text FROM notes WHERE body = 'next'`); !reflect.DeepEqual(rows, []string{"3"}) {
		t.Fatalf("the sequence did not move past the imported keys: id %q", rows)
	}
	if got.Name != src.Name {
		t.Fatalf("name %q, want the export's %q", got.Name, src.Name)
	}
}

// TestImportBadInput: nothing is created from files that are not exports,
// from exports of tables the migrations do not make, or onto a domain
// that is taken.
func TestImportBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newEngineFixture(t, engineNamed(t, "sqlite"))
	src := f.tenant(t, domain("bad"))
	f.exec(t, src, `INSERT INTO notes (body) VALUES ('x')`, `CREATE TABLE extra (id INTEGER PRIMARY KEY)`)
	good := filepath.Join(f.dir, "good.zip")
	out, _ := os.Create(good)
	if _, err := f.svc.Export(ctx, src, out, backups.ExportOptions{Format: "csv", Tables: []string{"notes"}}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	withExtra := filepath.Join(f.dir, "extra.zip")
	out, _ = os.Create(withExtra)
	if _, err := f.svc.Export(ctx, src, out, backups.ExportOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	notExport := filepath.Join(f.dir, "plain.txt")
	os.WriteFile(notExport, []byte("hello"), 0o644)

	var verr *backups.ValidationError
	if _, err := f.svc.Export(ctx, src, &strings.Builder{}, backups.ExportOptions{Format: "csv", Tables: []string{"nope"}}); !errors.As(err, &verr) || verr.Field != "tables" {
		t.Fatalf("export of an unknown table: %v", err)
	}
	if _, err := f.svc.Export(ctx, src, &strings.Builder{}, backups.ExportOptions{Format: "xml"}); !errors.As(err, &verr) || verr.Field != "format" {
		t.Fatalf("export as xml: %v", err)
	}
	before, _ := f.mgr.AllTenants(ctx)
	for name, c := range map[string]struct{ file, domain string }{
		"not an export":   {notExport, domain("n1")},
		"missing file":    {filepath.Join(f.dir, "missing.zip"), domain("n2")},
		"unknown table":   {withExtra, domain("n3")},
		"taken domain":    {good, src.PrimaryDomain()},
		"invalid domain":  {good, "not a domain"},
		"truncated":       {truncate(t, good), domain("n4")},
		"traversal entry": {good, "../../etc"},
	} {
		if _, err := f.svc.Import(ctx, c.file, backups.ImportOptions{Domain: c.domain}); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
	after, _ := f.mgr.AllTenants(ctx)
	if len(after) != len(before) {
		t.Fatalf("%d tenants before the bad imports, %d after", len(before), len(after))
	}
}

func truncate(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := file + ".truncated"
	os.WriteFile(out, b[:len(b)*2/3], 0o644)
	return out
}
