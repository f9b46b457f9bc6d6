package migrate

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

const okSQL = "-- +goose Up\nCREATE TABLE t (id INTEGER);\n-- +goose Down\nDROP TABLE t;\n"

func TestLoadEmbedded(t *testing.T) {
	t.Parallel()
	s := testdataSet(t)
	if s.Len() != 3 || s.Latest() != 3 {
		t.Fatalf("Len, Latest = %d, %d, want 3, 3", s.Len(), s.Latest())
	}
	if got := s.name(2); got != "00002_create_tags.sql" {
		t.Errorf("name(2) = %q", got)
	}
}

func TestLoadNilAndEmpty(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fs.FS{
		"nil":       nil,
		"empty":     fstest.MapFS{},
		"no sql":    fstest.MapFS{"README.md": {Data: []byte("hi")}},
		"go source": fstest.MapFS{"00001_a.go": {Data: []byte("package x")}},
	} {
		s, err := Load(fsys)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Len() != 0 || s.Latest() != 0 {
			t.Errorf("%s: Len, Latest = %d, %d, want 0, 0", name, s.Len(), s.Latest())
		}
	}
}

// TestLoadRootWithOnlyDirectories covers the `//go:embed migrations/*.sql`
// mistake: the embedded FS's root holds the directory, not the files, and
// Load must say so instead of loading nothing.
func TestLoadRootWithOnlyDirectories(t *testing.T) {
	t.Parallel()
	_, err := Load(fstest.MapFS{"migrations/00001_a.sql": {Data: []byte(okSQL)}})
	if err == nil || !strings.Contains(err.Error(), "migrations") {
		t.Fatalf("Load = %v, want an error naming the directory", err)
	}
}

// failFS is an fs.FS whose named file cannot be opened.
type failFS struct {
	m   fstest.MapFS
	bad string
}

func (f failFS) Open(name string) (fs.File, error) {
	if name == f.bad {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f.m.Open(name)
}

func (f failFS) ReadDir(name string) ([]fs.DirEntry, error) { return f.m.ReadDir(name) }

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	ok := &fstest.MapFile{Data: []byte(okSQL)}
	noop := &goose.GoFunc{Mode: goose.TransactionEnabled}
	tests := []struct {
		name  string
		fsys  fs.FS
		goMig []*goose.Migration
		want  string // substring of the error
	}{
		{"no version", fstest.MapFS{"create_notes.sql": ok}, nil, "create_notes.sql"},
		{"not a number", fstest.MapFS{"abc_notes.sql": ok}, nil, "abc_notes.sql"},
		{"version zero", fstest.MapFS{"0_notes.sql": ok}, nil, "0_notes.sql"},
		{"duplicate version", fstest.MapFS{"00001_a.sql": ok, "1_b.sql": ok}, nil, "version 1 already used"},
		{"unreadable", failFS{fstest.MapFS{"00001_a.sql": ok, "00002_b.sql": ok}, "00002_b.sql"}, nil, "00002_b.sql"},
		{"go clashes with sql", fstest.MapFS{"00001_a.sql": ok}, []*goose.Migration{goose.NewGoMigration(1, noop, noop)}, "go migration 1: version 1 already used by 00001_a.sql"},
		{"go clashes with go", nil, []*goose.Migration{goose.NewGoMigration(2, noop, noop), goose.NewGoMigration(2, noop, noop)}, "version 2 already used"},
		{"nil go", nil, []*goose.Migration{nil}, "is nil"},
		{"go not constructed", nil, []*goose.Migration{{Type: goose.TypeGo, Version: 3}}, "NewGoMigration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.fsys, tt.goMig...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	file := filepath.Join(dir, "file.sql")
	if err := os.WriteFile(file, []byte(okSQL), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("missing optional", func(t *testing.T) {
		t.Parallel()
		s, err := LoadDir(missing, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 0 {
			t.Fatalf("Len = %d, want 0", s.Len())
		}
		db := openDB(t)
		res, err := s.Up(context.Background(), "sqlite3", db)
		if err != nil || res != (Result{}) {
			t.Fatalf("Up = %+v, %v, want zero Result, nil", res, err)
		}
		if tableExistsT(t, db, goose.DefaultTablename) {
			t.Error("Up with an empty set created the version table")
		}
	})
	t.Run("missing required", func(t *testing.T) {
		t.Parallel()
		_, err := LoadDir(missing, true)
		if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v, want ErrNoSource naming %s", err, missing)
		}
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		for _, required := range []bool{false, true} {
			_, err := LoadDir(file, required)
			if err == nil || errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "not a directory") {
				t.Fatalf("required=%v: err = %v, want not a directory", required, err)
			}
		}
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		s, err := LoadDir(filepath.Join("testdata", "migrations"), true)
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 3 || s.Latest() != 3 {
			t.Fatalf("Len, Latest = %d, %d, want 3, 3", s.Len(), s.Latest())
		}
	})
	t.Run("bad file names the file and dir", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "notes.sql"), []byte(okSQL), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadDir(d, true)
		if err == nil || !strings.Contains(err.Error(), "notes.sql") || !strings.Contains(err.Error(), d) {
			t.Fatalf("err = %v, want it to name the file and directory", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() == 0 {
			t.Skip("root reads anything")
		}
		d := filepath.Join(t.TempDir(), "locked")
		if err := os.Mkdir(d, 0o000); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o700) })
		if _, err := LoadDir(d, false); err == nil {
			t.Fatal("LoadDir of an unreadable directory succeeded")
		}
	})
}

// TestLoadCopiesIntoMemory checks that a Set does not read the disk after Load.
func TestLoadCopiesIntoMemory(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "00001_t.sql"), []byte(okSQL), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadDir(d, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(d); err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if _, err := s.Up(context.Background(), "sqlite3", db); err != nil {
		t.Fatal(err)
	}
	if !tableExistsT(t, db, "t") {
		t.Fatal("migration did not run")
	}
}
