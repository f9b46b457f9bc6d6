package destination

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	t.Parallel()
	exercise(t, store{
		open: func(t *testing.T) (*Destination, string) {
			d, err := Open(context.Background(), "file://"+filepath.Join(t.TempDir(), "backups"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d, "tenant/"
		},
		// Every file in the directory that List does not show.
		leftovers: func(t *testing.T, d *Destination, prefix string) []string {
			listed := keysOf(list(t, d, ""))
			var left []string
			err := filepath.WalkDir(d.dir, func(path string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(d.dir, path)
				if key := filepath.ToSlash(rel); !slices.Contains(listed, key) {
					left = append(left, key)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return left
		},
	})
}

func TestFileCreatesDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	d, err := Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		t.Fatalf("Open did not create %s: %v", dir, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("the directory's mode is %v, want it closed to others", perm)
	}
	if d.String() != "file://"+dir {
		t.Fatalf("String() = %q", d.String())
	}
}

func TestFileNotADirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), "file://"+file)
	var e *Error
	if !errors.As(err, &e) || e.Op != "open" || !strings.Contains(err.Error(), file) {
		t.Fatalf("Open of a file: %v, want an *Error naming it", err)
	}
}

// A temporary file of a write in progress (as fileblob names it) is not
// an object.
func TestFileHidesTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.WriteFile(filepath.Join(dir, "dump.18771c0d2e4f5a6b.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dump"), []byte("whole"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(list(t, d, "")); !slices.Equal(keys, []string{"dump"}) {
		t.Fatalf("List = %v, want only the finished object", keys)
	}
}
