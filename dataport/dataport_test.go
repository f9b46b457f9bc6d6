package dataport_test

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/gotenancy/tenancy/dataport"
)

const schema = `
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL, done BOOLEAN, data BLOB, at DATETIME);
CREATE TABLE tags (name TEXT PRIMARY KEY);
CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id INTEGER);`

func openSQLite(t *testing.T, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	return db
}

// tricky are values that a naive encoding would lose.
var tricky = []string{"plain", "", `\N`, `\back`, "quote ' and \"double\"", "line\nbreak, comma", "ünïcødé ✓", "-- not a comment", "X'00'"}

func fill(t *testing.T, db *sql.DB) {
	t.Helper()
	at := time.Date(2026, 12, 4, 10, 30, 0, 123000000, time.UTC)
	for i, s := range tricky {
		var data any = []byte{0, byte(i), 0xff, '\''}
		var score any = float64(i) + 0.25
		if i == 1 {
			data, score = nil, nil
		}
		if _, err := db.Exec(`INSERT INTO notes (id, body, score, done, data, at) VALUES (?, ?, ?, ?, ?, ?)`,
			i+1, s, score, i%2 == 0, data, at.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO tags VALUES ('a'), ('b'); INSERT INTO goose_db_version VALUES (1, 7)`); err != nil {
		t.Fatal(err)
	}
}

func rows(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	r, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out [][]any
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	return out
}

func export(t *testing.T, db *sql.DB, opts dataport.ExportOptions) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.zip")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataport.Export(context.Background(), db, "sqlite3", f, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

func importInto(t *testing.T, file string, db *sql.DB) error {
	t.Helper()
	a, err := dataport.Open(file)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Verify(); err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, tb := range a.Tables {
		if _, err := a.LoadTable(context.Background(), tx, "sqlite3", tb, true); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func TestRoundTripEveryFormat(t *testing.T) {
	src := openSQLite(t, "src.db")
	fill(t, src)
	files := t.TempDir()
	os.MkdirAll(filepath.Join(files, "img"), 0o755)
	os.WriteFile(filepath.Join(files, "img", "logo.png"), []byte("png"), 0o644)
	want := rows(t, src, `SELECT id, body, score, done, data, at FROM notes ORDER BY id`)
	for _, format := range dataport.Formats {
		t.Run(format, func(t *testing.T) {
			file := export(t, src, dataport.ExportOptions{Format: format, FilesDir: files,
				Manifest: dataport.Manifest{Engine: "sqlite", Mode: "sqlite", MigrationVersion: 7}})
			a, err := dataport.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Tables) != 2 || a.Tables[0].Name != "notes" || a.Tables[0].Rows != int64(len(tricky)) || a.Tables[1].Name != "tags" {
				t.Fatalf("tables %+v", a.Tables)
			}
			if len(a.Files) != 1 || a.Files[0].Path != "files/img/logo.png" {
				t.Fatalf("files %+v", a.Files)
			}
			out := t.TempDir()
			if err := a.ExtractFiles(out); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(out, "img", "logo.png")); string(b) != "png" {
				t.Fatalf("file %q", b)
			}
			a.Close()
			dst := openSQLite(t, "dst.db")
			if err := importInto(t, file, dst); err != nil {
				t.Fatal(err)
			}
			got := rows(t, dst, `SELECT id, body, score, done, data, at FROM notes ORDER BY id`)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("rows differ:\n got %v\nwant %v", got, want)
			}
			if n := rows(t, dst, `SELECT count(*) FROM goose_db_version`)[0][0]; n != int64(0) {
				t.Fatalf("the version table was exported: %v rows", n)
			}
		})
	}
}

func TestExportTablesAndBadInput(t *testing.T) {
	src := openSQLite(t, "src.db")
	fill(t, src)
	ctx := context.Background()
	file := export(t, src, dataport.ExportOptions{Format: "csv", Tables: []string{"tags"}})
	a, err := dataport.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tables) != 1 || a.Tables[0].Name != "tags" {
		t.Fatalf("tables %+v", a.Tables)
	}
	a.Close()

	var derr *dataport.Error
	if _, err := dataport.Export(ctx, src, "sqlite3", &bytes.Buffer{}, dataport.ExportOptions{Format: "csv", Tables: []string{"nope"}}); !errors.As(err, &derr) || !strings.Contains(err.Error(), "unknown table") {
		t.Fatalf("unknown table: %v", err)
	}
	if _, err := dataport.Export(ctx, src, "sqlite3", &bytes.Buffer{}, dataport.ExportOptions{Format: "xml"}); !errors.As(err, &derr) {
		t.Fatalf("unknown format: %v", err)
	}

	good := export(t, src, dataport.ExportOptions{Format: "json"})
	dir := t.TempDir()
	write := func(name string, entries map[string]string) string {
		p := filepath.Join(dir, name)
		f, _ := os.Create(p)
		zw := zip.NewWriter(f)
		for n, body := range entries {
			w, _ := zw.Create(n)
			w.Write([]byte(body))
		}
		zw.Close()
		f.Close()
		return p
	}
	entries := func() map[string]string {
		zr, err := zip.OpenReader(good)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out := map[string]string{}
		for _, f := range zr.File {
			r, _ := f.Open()
			var b bytes.Buffer
			b.ReadFrom(r)
			r.Close()
			out[f.Name] = b.String()
		}
		return out
	}
	tampered := entries()
	tampered["tables/notes.json"] = strings.Replace(tampered["tables/notes.json"], "plain", "plaim", 1)
	traversal := entries()
	traversal["../evil"] = "x"
	extra := entries()
	extra["tables/more.json"] = "{}"
	noManifest := entries()
	delete(noManifest, dataport.ManifestName)
	truncated := filepath.Join(dir, "truncated.zip")
	b, _ := os.ReadFile(good)
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	notZip := filepath.Join(dir, "not.zip")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	for name, file := range map[string]string{
		"tampered":    write("tampered.zip", tampered),
		"traversal":   write("traversal.zip", traversal),
		"extra":       write("extra.zip", extra),
		"no manifest": write("nomanifest.zip", noManifest),
		"truncated":   truncated,
		"not a zip":   notZip,
	} {
		dst := openSQLite(t, "dst.db")
		err := importInto(t, file, dst)
		if !errors.Is(err, dataport.ErrNotExport) {
			t.Errorf("%s: %v, want ErrNotExport", name, err)
		}
		if n := rows(t, dst, `SELECT count(*) FROM notes`)[0][0]; n != int64(0) {
			t.Errorf("%s: %v rows loaded", name, n)
		}
	}
}

func TestLoadIntoMismatchedTable(t *testing.T) {
	src := openSQLite(t, "src.db")
	fill(t, src)
	file := export(t, src, dataport.ExportOptions{Format: "json"})
	dst, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	dst.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE tags (name TEXT)`)
	var derr *dataport.Error
	if err := importInto(t, file, dst); !errors.As(err, &derr) || !strings.Contains(err.Error(), `no column "score"`) {
		t.Fatalf("got %v", err)
	}
}

// TestCopyInBatches copies more rows than one statement carries (full
// batches and a remainder), streaming.
func TestCopyInBatches(t *testing.T) {
	src := openSQLite(t, "src.db")
	if _, err := src.Exec(`WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1234)
		INSERT INTO notes (id, body, score) SELECT i, 'note ' || i, i * 0.5 FROM g`); err != nil {
		t.Fatal(err)
	}
	dst := openSQLite(t, "dst.db")
	n, err := dataport.Copy(context.Background(), src, dst, "sqlite3", "notes", nil)
	if err != nil || n != 1234 {
		t.Fatalf("copied %d: %v", n, err)
	}
	q := `SELECT count(*), sum(id), group_concat(body, ','), sum(score) FROM notes`
	if got, want := rows(t, dst, q), rows(t, src, q); !reflect.DeepEqual(got, want) {
		t.Fatalf("copy differs: %v, want %v", got, want)
	}
}
