package sqlitedriver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotenancy/tenancy/tenantdb"
)

func TestSnapshotAndCreateFrom(t *testing.T) {
	ctx := context.Background()
	s := newSQLite(t)
	if err := s.Create(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('a'), ('b')`); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap.sqlite")
	if err := s.Snapshot(ctx, "live", snap); err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot are not in it.
	if _, err := db.ExecContext(ctx, `INSERT INTO notes VALUES ('c')`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFrom(ctx, "copy", snap); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Open(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var n int
	var mode string
	if err := cp.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 2 {
		t.Errorf("copy has %d notes (%v), want 2", n, err)
	}
	if err := cp.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("copy journal_mode %q (%v), want wal", mode, err)
	}

	if err := s.CreateFrom(ctx, "live", snap); !errors.Is(err, tenantdb.ErrExists) {
		t.Errorf("CreateFrom over an existing database: %v, want ErrExists", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.sqlite")
	if err := os.WriteFile(garbage, []byte("this is not a database file, not at all, not even close to one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFrom(ctx, "broken", garbage); err == nil {
		t.Error("CreateFrom accepted a file that is not a database")
	}
	if ok, _ := s.Exists(ctx, "broken"); ok {
		t.Error("a refused CreateFrom left a database")
	}
	entries, _ := os.ReadDir(s.Dir())
	for _, e := range entries {
		if name := e.Name(); name != "live.sqlite" && name != "copy.sqlite" && filepath.Ext(name) == ".sqlite" {
			t.Errorf("left over: %s", name)
		}
	}
	if err := s.Snapshot(ctx, "missing", filepath.Join(t.TempDir(), "x")); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("Snapshot of a missing database: %v, want ErrNotExist", err)
	}
}
