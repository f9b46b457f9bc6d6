package backup_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/gotenancy/tenancy/backup"
)

var header = backup.Header{ID: "b1", TenantUUID: "0b6d4bd8-0d3c-4a4d-9a43-4f1f7ad3e0a1", Engine: "sqlite", Mode: "sqlite",
	MigrationVersion: 3, CreatedAt: time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)}

// write makes an archive of a database part and a files directory.
func write(t *testing.T, opts backup.WriterOptions) []byte {
	t.Helper()
	files := t.TempDir()
	if err := os.MkdirAll(filepath.Join(files, "avatars"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "avatars", "a.png"), []byte("png bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, header, opts)
	if err != nil {
		t.Fatal(err)
	}
	db := bytes.Repeat([]byte("database page "), 1000)
	if err := w.Add("database/tenant.sqlite", bytes.NewReader(db), int64(len(db))); err != nil {
		t.Fatal(err)
	}
	if err := w.AddDir("files/", files); err != nil {
		t.Fatal(err)
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parts) != 2 || m.Size() != int64(len(db))+9 {
		t.Fatalf("manifest parts %+v", m.Parts)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]backup.WriterOptions{
		"plain":              {},
		"zstd":               {Compress: true},
		"zstd and encrypted": {Compress: true, Recipients: []age.Recipient{id.Recipient()}},
	} {
		t.Run(name, func(t *testing.T) {
			data := write(t, opts)
			dir := t.TempDir()
			m, err := backup.Extract(bytes.NewReader(data), dir, backup.ReadOptions{Identities: []age.Identity{id}})
			if err != nil {
				t.Fatal(err)
			}
			if m.Header != func() backup.Header { h := header; h.Format = backup.FormatVersion; return h }() {
				t.Errorf("header %+v", m.Header)
			}
			got, err := os.ReadFile(filepath.Join(dir, "files", "avatars", "a.png"))
			if err != nil || string(got) != "png bytes" {
				t.Errorf("file: %q, %v", got, err)
			}
		})
	}
	t.Run("compression shrinks", func(t *testing.T) {
		if plain, z := len(write(t, backup.WriterOptions{})), len(write(t, backup.WriterOptions{Compress: true})); z >= plain/2 {
			t.Errorf("zstd %d bytes, plain %d", z, plain)
		}
	})
}

func TestRefused(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	encrypted := write(t, backup.WriterOptions{Recipients: []age.Recipient{id.Recipient()}})
	plain := write(t, backup.WriterOptions{})
	flipped := bytes.Clone(plain)
	i := bytes.Index(flipped, []byte("database page"))
	flipped[i] ^= 1

	cases := map[string]struct {
		data []byte
		opts backup.ReadOptions
		want error
	}{
		"wrong identity":   {encrypted, backup.ReadOptions{Identities: []age.Identity{other}}, backup.ErrIdentity},
		"no identity":      {encrypted, backup.ReadOptions{}, backup.ErrIdentity},
		"altered part":     {flipped, backup.ReadOptions{}, backup.ErrCorrupt},
		"truncated":        {plain[:len(plain)/2], backup.ReadOptions{}, backup.ErrCorrupt},
		"empty":            {nil, backup.ReadOptions{}, backup.ErrCorrupt},
		"not an archive":   {[]byte("SQLite format 3\x00 and more bytes than a header"), backup.ReadOptions{}, backup.ErrCorrupt},
		"traversal":        {rawTar(t, "../../etc/passwd"), backup.ReadOptions{}, backup.ErrCorrupt},
		"absolute":         {rawTar(t, "/etc/passwd"), backup.ReadOptions{}, backup.ErrCorrupt},
		"outside the dirs": {rawTar(t, "other/x"), backup.ReadOptions{}, backup.ErrCorrupt},
		"dot segments":     {rawTar(t, "files/a/../../x"), backup.ReadOptions{}, backup.ErrCorrupt},
		"newer version": {plain, backup.ReadOptions{Check: func(h backup.Header) error {
			if h.MigrationVersion > 2 {
				return errVersion
			}
			return nil
		}}, errVersion},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := backup.Extract(bytes.NewReader(c.data), dir, c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, serr := os.Stat(filepath.Join(dir, "..", "..", "etc", "passwd")); serr == nil && name == "traversal" {
				t.Error("traversal entry written outside the directory")
			}
		})
	}
}

var errVersion = errors.New("newer migration version")

// rawTar is an archive with a valid header followed by an entry named
// name.
func rawTar(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	head := []byte(`{"format":1,"id":"b1","tenant_uuid":"x","engine":"sqlite","mode":"sqlite","migration_version":1,"created_at":"2026-12-04T02:00:00Z"}`)
	for _, e := range []struct {
		name string
		body []byte
	}{{backup.HeaderName, head}, {name, []byte("evil")}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
