package storage_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/storage"
)

const (
	tenantA = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"
	tenantB = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819202"
)

func newStorage(t *testing.T) *storage.Storage {
	t.Helper()
	s, err := storage.New(&storage.Config{Dir: filepath.Join(t.TempDir(), "files")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openRoot(t *testing.T, s *storage.Storage, tenant string) *os.Root {
	t.Helper()
	root, err := s.Root(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func writeFile(t *testing.T, root *os.Root, name, content string) {
	t.Helper()
	if err := root.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := storage.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := storage.New(&storage.Config{}); err == nil {
		t.Error("New without Dir succeeded")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := storage.New(&storage.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		t.Fatalf("New did not create %s: %v", dir, err)
	}
	if s.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", s.Dir(), dir)
	}
}

func TestRootCreatesTenantDirectory(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	root := openRoot(t, s, tenantA)
	writeFile(t, root, "hello.txt", "hi")
	got, err := os.ReadFile(filepath.Join(s.Dir(), tenantA, "hello.txt"))
	if err != nil || string(got) != "hi" {
		t.Fatalf("file on disk = %q, %v", got, err)
	}
	// Opening again finds the same directory.
	again := openRoot(t, s, tenantA)
	if b, err := again.ReadFile("hello.txt"); err != nil || string(b) != "hi" {
		t.Fatalf("second root reads %q, %v", b, err)
	}
}

func TestEscapesFail(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	root := openRoot(t, s, tenantA)

	// A secret next to the tenant directory and one outside the base.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "sibling"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	tenantDir := filepath.Join(s.Dir(), tenantA)
	if err := os.Symlink(outside, filepath.Join(tenantDir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(tenantDir, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sibling", filepath.Join(tenantDir, "rellink")); err != nil {
		t.Fatal(err)
	}
	if err := root.Mkdir("a", 0o755); err != nil {
		t.Fatal(err)
	}

	paths := []string{
		"../sibling",
		"../" + tenantB + "/x",
		"../x",
		"/etc/passwd",
		filepath.Join(outside, "secret"),
		"a/../../sibling",
		"a/../../b",
		"link/secret",
		"link",
		"filelink",
		"rellink",
	}
	for _, p := range paths {
		if f, err := root.Open(p); err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
		if f, err := root.OpenFile(p, os.O_RDWR, 0); err == nil {
			f.Close()
			t.Errorf("OpenFile(%q, O_RDWR) succeeded", p)
		}
		if f, err := root.Create(p); err == nil {
			f.Close()
			t.Errorf("Create(%q) succeeded", p)
		}
		if _, err := root.ReadFile(p); err == nil {
			t.Errorf("ReadFile(%q) succeeded", p)
		}
	}
	// Nothing was written outside the tenant directory.
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Fatalf("the outside secret was changed to %q", b)
	}
	for _, name := range []string{"x", "b", tenantB} {
		if _, err := os.Lstat(filepath.Join(s.Dir(), name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s appeared next to the tenant directory: %v", name, err)
		}
	}
	// Paths that stay inside work.
	writeFile(t, root, "a/../inside", "ok")
	if b, err := root.ReadFile("inside"); err != nil || string(b) != "ok" {
		t.Fatalf("ReadFile(inside) = %q, %v", b, err)
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	a, b := openRoot(t, s, tenantA), openRoot(t, s, tenantB)
	writeFile(t, a, "only-a.txt", "a")
	writeFile(t, a, "same.txt", "a")
	writeFile(t, b, "same.txt", "b")
	if _, err := b.Open("only-a.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tenant B opens A's file: %v", err)
	}
	for root, want := range map[*os.Root]string{a: "a", b: "b"} {
		if got, err := root.ReadFile("same.txt"); err != nil || string(got) != want {
			t.Fatalf("same.txt = %q, %v; want %q", got, err, want)
		}
	}
}

func TestInvalidTenants(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	invalid := []string{
		"",
		".",
		"..",
		"a/b",
		"/etc",
		"0190A6F2-7C1E-7A3B-8C4D-5E6F70819201",  // upper case
		"0190a6f2-7c1e-7a3b-8c4d-5e6f708192011", // too long
		"0190a6f2-7c1e-7a3b-8c4d-5e6f7081920",   // too short
		"0190a6f27c1e7a3b8c4d5e6f70819201",      // no hyphens
		"{0190a6f2-7c1e-7a3b-8c4d-5e6f70819201}",
		"------------------------------------",
		"0190a6f2-7c1e-7a3b-8c4d-5e6f7081920/",
		"../../../../../../../../../../../etc",
		"0190a6f2-7c1e-7a3b-8c4d-5e6f7081920\x00",
		"0190a6f2-7c1e-7a3b-8c4d-5e6f708192g1",
		"0190a6f2_7c1e-7a3b-8c4d-5e6f70819201",
		strings.Repeat("a", 36),
	}
	for _, id := range invalid {
		if root, err := s.Root(id); !errors.Is(err, storage.ErrInvalidTenant) {
			if root != nil {
				root.Close()
			}
			t.Errorf("Root(%q) error = %v, want ErrInvalidTenant", id, err)
		}
		if err := s.Remove(id); !errors.Is(err, storage.ErrInvalidTenant) {
			t.Errorf("Remove(%q) error = %v, want ErrInvalidTenant", id, err)
		}
		if _, err := s.Usage(id); !errors.Is(err, storage.ErrInvalidTenant) {
			t.Errorf("Usage(%q) error = %v, want ErrInvalidTenant", id, err)
		}
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("invalid ids created %d entries in the base directory", len(entries))
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	a, b := openRoot(t, s, tenantA), openRoot(t, s, tenantB)
	if err := a.MkdirAll("deep/er/est", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "deep/er/est/f", "x")
	writeFile(t, a, "top", "x")
	writeFile(t, b, "keep", "x")
	// A symlink pointing out is removed, not followed.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "precious"), []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), tenantA, "link")); err != nil {
		t.Fatal(err)
	}

	if err := s.Remove(tenantA); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir(), tenantA)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tenant directory still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "precious")); err != nil {
		t.Fatalf("Remove followed a symlink out: %v", err)
	}
	if _, err := b.Stat("keep"); err != nil {
		t.Fatalf("Remove touched another tenant: %v", err)
	}
	// Removing again, or a tenant that never had files, succeeds.
	if err := s.Remove(tenantA); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	// The tenant starts afresh afterwards.
	again := openRoot(t, s, tenantA)
	if _, err := again.Stat("top"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file survived Remove: %v", err)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	if n, err := s.Usage(tenantA); err != nil || n != 0 {
		t.Fatalf("Usage of a tenant without a directory = %d, %v; want 0", n, err)
	}
	a, b := openRoot(t, s, tenantA), openRoot(t, s, tenantB)
	writeFile(t, a, "one", strings.Repeat("x", 100))
	if err := a.MkdirAll("d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "d/e/two", strings.Repeat("y", 4096))
	writeFile(t, a, "empty", "")
	writeFile(t, b, "other", strings.Repeat("z", 1<<20))
	// A symlink to a large file outside is not counted.
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(big, filepath.Join(s.Dir(), tenantA, "link")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Usage(tenantA); err != nil || n != 100+4096 {
		t.Fatalf("Usage(A) = %d, %v; want %d", n, err, 100+4096)
	}
	if n, err := s.Usage(tenantB); err != nil || n != 1<<20 {
		t.Fatalf("Usage(B) = %d, %v; want %d", n, err, 1<<20)
	}
	// Appending grows it.
	f, err := a.OpenFile("one", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "more"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, _ := s.Usage(tenantA); n != 104+4096 {
		t.Fatalf("Usage(A) after append = %d, want %d", n, 104+4096)
	}
}
