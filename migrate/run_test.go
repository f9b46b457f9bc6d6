package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

func up(t *testing.T, s *Set, db *sql.DB) Result {
	t.Helper()
	res, err := s.Up(context.Background(), "sqlite3", db)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	return res
}

func version(t *testing.T, s *Set, db *sql.DB) int64 {
	t.Helper()
	v, err := s.Version(context.Background(), "sqlite3", db)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

func TestUpDownVersionStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdataSet(t)
	db := openDB(t)

	if v := version(t, s, db); v != 0 {
		t.Fatalf("fresh Version = %d, want 0", v)
	}
	st, err := s.Status(ctx, "sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st[0].Applied || st[0].Name != "00001_create_notes.sql" || !st[2].AppliedAt.IsZero() {
		t.Fatalf("fresh Status = %+v", st)
	}
	if tableExistsT(t, db, goose.DefaultTablename) {
		t.Fatal("Version or Status created the version table")
	}

	if res := up(t, s, db); res != (Result{From: 0, To: 3, Applied: 3}) {
		t.Fatalf("Up = %+v", res)
	}
	if v := version(t, s, db); v != 3 {
		t.Fatalf("Version = %d, want 3", v)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO notes (body, title) VALUES ('b', 't')`); err != nil {
		t.Fatal(err)
	}
	st, err = s.Status(ctx, "sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range st {
		if m.Version != int64(i+1) || !m.Applied || m.AppliedAt.IsZero() {
			t.Errorf("Status[%d] = %+v, want applied version %d with a time", i, m, i+1)
		}
	}

	if res := up(t, s, db); res != (Result{From: 3, To: 3}) {
		t.Fatalf("second Up = %+v, want no-op", res)
	}

	res, err := s.Down(ctx, "sqlite3", db, 1)
	if err != nil || res != (Result{From: 3, To: 2, Applied: 1}) {
		t.Fatalf("Down 1 = %+v, %v", res, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO notes (body, title) VALUES ('b', 't')`); err == nil {
		t.Fatal("column title survived rolling back 00003")
	}
	st, err = s.Status(ctx, "sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	if !st[1].Applied || st[2].Applied || !st[2].AppliedAt.IsZero() {
		t.Fatalf("Status after Down = %+v", st)
	}
	if res := up(t, s, db); res != (Result{From: 2, To: 3, Applied: 1}) {
		t.Fatalf("Up after Down = %+v", res)
	}
}

func TestDownSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		steps int
		want  Result
	}{
		{1, Result{From: 3, To: 2, Applied: 1}},
		{2, Result{From: 3, To: 1, Applied: 2}},
		{3, Result{From: 3, To: 0, Applied: 3}},
		{10, Result{From: 3, To: 0, Applied: 3}},
	}
	s := testdataSet(t)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.steps), func(t *testing.T) {
			t.Parallel()
			db := openDB(t)
			up(t, s, db)
			res, err := s.Down(context.Background(), "sqlite3", db, tt.steps)
			if err != nil || res != tt.want {
				t.Fatalf("Down(%d) = %+v, %v, want %+v", tt.steps, res, err, tt.want)
			}
			if v := version(t, s, db); v != tt.want.To {
				t.Fatalf("Version = %d, want %d", v, tt.want.To)
			}
			if got := tableExistsT(t, db, "notes"); got != (tt.want.To >= 1) {
				t.Errorf("notes exists = %v at version %d", got, tt.want.To)
			}
		})
	}
}

func TestDownNeverMigrated(t *testing.T) {
	t.Parallel()
	s := testdataSet(t)
	db := openDB(t)
	res, err := s.Down(context.Background(), "sqlite3", db, 1)
	if err != nil || res != (Result{}) {
		t.Fatalf("Down = %+v, %v, want zero Result", res, err)
	}
	if tableExistsT(t, db, goose.DefaultTablename) {
		t.Error("Down created the version table")
	}
}

func TestDownInvalidSteps(t *testing.T) {
	t.Parallel()
	s := testdataSet(t)
	db := openDB(t)
	for _, steps := range []int{0, -1} {
		if _, err := s.Down(context.Background(), "sqlite3", db, steps); err == nil {
			t.Errorf("Down(%d) succeeded", steps)
		}
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testdataSet(t)
	db := openDB(t)
	empty, _ := Load(nil)
	for _, set := range []*Set{s, empty} {
		_, err1 := set.Up(ctx, "oracle", db)
		_, err2 := set.Down(ctx, "oracle", db, 1)
		_, err3 := set.Version(ctx, "oracle", db)
		_, err4 := set.Status(ctx, "oracle", db)
		for i, err := range []error{err1, err2, err3, err4} {
			if !errors.Is(err, ErrUnknownDialect) || !strings.Contains(err.Error(), "oracle") {
				t.Errorf("call %d: err = %v, want ErrUnknownDialect", i, err)
			}
		}
	}
	for _, d := range []string{"sqlite", "sqlite3", "postgres", "postgresql", "pgx", "mysql"} {
		if _, err := dialectOf(d); err != nil {
			t.Errorf("dialectOf(%q): %v", d, err)
		}
	}
}

func TestBrokenMigration(t *testing.T) {
	t.Parallel()
	s, err := Load(fstest.MapFS{
		"00001_ok.sql": {Data: []byte(okSQL)},
		"00002_broken.sql": {Data: []byte("-- +goose Up\n" +
			"CREATE TABLE half (id INTEGER);\n" +
			"INSERT INTO no_such_table VALUES (1);\n" +
			"-- +goose Down\nDROP TABLE half;\n")},
		"00003_later.sql": {Data: []byte("-- +goose Up\nCREATE TABLE later (id INTEGER);\n-- +goose Down\nDROP TABLE later;\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	res, err := s.Up(context.Background(), "sqlite3", db)
	if err == nil || !strings.Contains(err.Error(), "00002_broken.sql") {
		t.Fatalf("Up err = %v, want it to name 00002_broken.sql", err)
	}
	if res != (Result{From: 0, To: 1, Applied: 1}) {
		t.Errorf("Up = %+v, want From 0 To 1 Applied 1", res)
	}
	if v := version(t, s, db); v != 1 {
		t.Errorf("Version = %d, want 1", v)
	}
	if tableExistsT(t, db, "half") || tableExistsT(t, db, "later") {
		t.Error("the broken migration was not rolled back, or a later one ran")
	}
	// The failure is repeatable and leaves the version alone.
	if _, err := s.Up(context.Background(), "sqlite3", db); err == nil {
		t.Error("second Up succeeded")
	}
	if v := version(t, s, db); v != 1 {
		t.Errorf("Version = %d, want 1", v)
	}
}

func TestUnparseableMigration(t *testing.T) {
	t.Parallel()
	s, err := Load(fstest.MapFS{
		"00001_ok.sql":        {Data: []byte(okSQL)},
		"00002_no_marker.sql": {Data: []byte("CREATE TABLE x (id INTEGER);\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if _, err := s.Up(context.Background(), "sqlite3", db); err == nil || !strings.Contains(err.Error(), "00002_no_marker.sql") {
		t.Fatalf("Up err = %v, want it to name 00002_no_marker.sql", err)
	}
}

func TestNewMigrationsApplyIncrementally(t *testing.T) {
	t.Parallel()
	full := testdataFS(t)
	older, err := Load(fstest.MapFS{
		"00001_create_notes.sql": mustFile(t, full, "00001_create_notes.sql"),
		"00002_create_tags.sql":  mustFile(t, full, "00002_create_tags.sql"),
	})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if res := up(t, older, db); res != (Result{To: 2, Applied: 2}) {
		t.Fatalf("older Up = %+v", res)
	}
	// A database ahead of an older set is left alone.
	newer := testdataSet(t)
	if res := up(t, newer, db); res != (Result{From: 2, To: 3, Applied: 1}) {
		t.Fatalf("newer Up = %+v", res)
	}
	if res := up(t, older, db); res != (Result{From: 3, To: 3}) {
		t.Fatalf("older Up on a newer database = %+v, want no-op", res)
	}
	// Rolling back a version the set does not know is an error naming it.
	_, err = older.Down(context.Background(), "sqlite3", db, 1)
	if err == nil || !strings.Contains(err.Error(), "3") {
		t.Fatalf("older Down err = %v", err)
	}
}

func mustFile(t *testing.T, fsys fs.FS, name string) *fstest.MapFile {
	t.Helper()
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return &fstest.MapFile{Data: data}
}

func TestGoMigration(t *testing.T) {
	t.Parallel()
	upFn := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (body, title) VALUES ('welcome', 'hello')`)
		return err
	}}
	downFn := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM notes WHERE title = 'hello'`)
		return err
	}}
	s, err := Load(testdataFS(t), goose.NewGoMigration(4, upFn, downFn))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 || s.Latest() != 4 {
		t.Fatalf("Len, Latest = %d, %d", s.Len(), s.Latest())
	}
	// Several databases share the set, and with it the Go migration.
	for range 3 {
		db := openDB(t)
		if res := up(t, s, db); res != (Result{To: 4, Applied: 4}) {
			t.Fatalf("Up = %+v", res)
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("notes = %d, %v, want 1", n, err)
		}
		st, err := s.Status(context.Background(), "sqlite3", db)
		if err != nil {
			t.Fatal(err)
		}
		if got := st[3]; got.Name != "go migration 4" || !got.Applied {
			t.Fatalf("Status[3] = %+v", got)
		}
		if _, err := s.Down(context.Background(), "sqlite3", db, 1); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("notes after Down = %d, %v, want 0", n, err)
		}
	}
}

func TestEmptySet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	empty, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if res := up(t, empty, db); res != (Result{}) {
		t.Fatalf("Up = %+v", res)
	}
	if res, err := empty.Down(ctx, "sqlite3", db, 1); err != nil || res != (Result{}) {
		t.Fatalf("Down = %+v, %v", res, err)
	}
	if st, err := empty.Status(ctx, "sqlite3", db); err != nil || len(st) != 0 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if tableExistsT(t, db, goose.DefaultTablename) {
		t.Fatal("empty set created the version table")
	}
	// Version reads the database even for an empty set.
	up(t, testdataSet(t), db)
	if v := version(t, empty, db); v != 3 {
		t.Fatalf("Version = %d, want 3", v)
	}
	if _, err := empty.Down(ctx, "sqlite3", db, 1); err == nil {
		t.Fatal("Down of a migrated database with an empty set succeeded")
	}
}

func TestNilDB(t *testing.T) {
	t.Parallel()
	if _, err := testdataSet(t).Up(context.Background(), "sqlite3", nil); err == nil {
		t.Fatal("Up with a nil db succeeded")
	}
}

// TestSharedSetConcurrently migrates many databases at once with one Set,
// for the race detector.
func TestSharedSetConcurrently(t *testing.T) {
	t.Parallel()
	s := testdataSet(t)
	dir := t.TempDir()
	paths := make([]string, 24)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("t%02d.db", i))
	}
	run := func(want Result) {
		out, err := RunFleet(context.Background(), paths, &FleetConfig{Concurrency: 8}, func(ctx context.Context, p string) error {
			db := openAt(t, p)
			defer db.Close()
			res, err := s.Up(ctx, "sqlite3", db)
			if err != nil {
				return err
			}
			if res != want {
				return fmt.Errorf("Up = %+v, want %+v", res, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil || o.Skipped {
				t.Fatalf("%s: %+v", o.Item, o)
			}
		}
	}
	run(Result{To: 3, Applied: 3})
	run(Result{From: 3, To: 3})
}
