package backups_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/storage"
)

type fixture struct {
	mgr   *tenancy.Manager
	svc   *backups.Service
	files *storage.Storage
	dest  string
	clock *testclock.Clock
	dir   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	mgr, _ := testenv.NewManager(t, dir, &testenv.ManagerConfig{Demo: true})
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{mgr: mgr, files: files, dest: "file://" + filepath.Join(dir, "backups"), clock: testclock.New(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)), dir: dir}
	f.svc, err = backups.New(backups.Config{
		Manager: mgr,
		Open: func(ctx context.Context, url string) (backups.Destination, error) {
			return destination.Open(ctx, url)
		},
		Destination: f.dest, Files: files.Path, Engine: "sqlite", Mode: "sqlite", TempDir: dir, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) tenant(t *testing.T, domain string) *tenancy.Tenant {
	t.Helper()
	tn, err := f.mgr.Create(context.Background(), tenancy.CreateRequest{Name: domain, Domain: domain, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// exec runs statements in the tenant's database.
func (f *fixture) exec(t *testing.T, tn *tenancy.Tenant, stmts ...string) {
	t.Helper()
	err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// notes counts the tenant's notes.
func (f *fixture) notes(t *testing.T, ref string) int {
	t.Helper()
	tn, err := f.mgr.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		return db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) writeFile(t *testing.T, tn *tenancy.Tenant, name, body string) {
	t.Helper()
	dir, err := f.files.Path(tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn := f.tenant(t, "acme.test")
	f.exec(t, tn, `INSERT INTO notes (body) VALUES ('one'), ('two'), ('three')`)
	f.writeFile(t, tn, "docs/contract.txt", "signed")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}

	b, err := f.svc.Backup(ctx, tn, backups.Options{Compress: true, Recipients: []string{id.Recipient().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if b.State != "complete" || b.Size == 0 || len(b.SHA256) != 64 || b.MigrationVersion != 2 || !b.Compressed || !b.Encrypted {
		t.Fatalf("backup record %+v", b)
	}
	if list, err := f.svc.List(ctx, tn); err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("List = %v, %v", list, err)
	}

	// Change everything, then restore.
	f.exec(t, tn, `DELETE FROM notes WHERE body = 'one'`, `INSERT INTO notes (body) VALUES ('four'), ('five')`)
	f.writeFile(t, tn, "docs/contract.txt", "torn up")
	f.writeFile(t, tn, "later.txt", "added after the backup")
	before, _ := f.mgr.Get(ctx, tn.UUID)

	// Bad input changes nothing.
	other := f.tenant(t, "other.test")
	wrong, _ := age.GenerateX25519Identity()
	truncated := filepath.Join(f.dir, "truncated.tar")
	if err := os.WriteFile(truncated, []byte("not an archive at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tenant *tenancy.Tenant
		ref    string
		ids    []age.Identity
		want   any
	}{
		"unknown id":     {tn, "20261201T020000Z-nosuchbackup", nil, backups.ErrUnknownBackup},
		"wrong identity": {tn, b.ID, []age.Identity{wrong}, backup.ErrIdentity},
		"no identity":    {tn, b.ID, nil, backup.ErrIdentity},
		"not an archive": {tn, truncated, nil, backup.ErrCorrupt},
		"another tenant": {other, b.ID, []age.Identity{id}, new(*backups.ValidationError)},
		"traversal id":   {tn, "../../etc/passwd", nil, backups.ErrUnknownBackup},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Restore(ctx, c.tenant, c.ref, backups.RestoreOptions{Identities: c.ids})
			switch want := c.want.(type) {
			case error:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			case **backups.ValidationError:
				if !errors.As(err, want) {
					t.Fatalf("err = %v, want a ValidationError", err)
				}
			}
			after, _ := f.mgr.Get(ctx, tn.UUID)
			if after.Generation != before.Generation || after.DatabaseName != before.DatabaseName || after.Maintenance {
				t.Errorf("the tenant changed: %+v", after)
			}
			if n := f.notes(t, tn.UUID); n != 4 {
				t.Errorf("%d notes after a refused restore, want 4", n)
			}
		})
	}

	after, err := f.svc.Restore(ctx, tn, b.ID, backups.RestoreOptions{Identities: []age.Identity{id}})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation+1 || after.DatabaseName == before.DatabaseName || after.Maintenance {
		t.Errorf("after restore: generation %d, database %s, maintenance %v", after.Generation, after.DatabaseName, after.Maintenance)
	}
	if n := f.notes(t, tn.UUID); n != 3 {
		t.Errorf("%d notes after restore, want 3", n)
	}
	dir, _ := f.files.Path(tn.UUID)
	if got, err := os.ReadFile(filepath.Join(dir, "docs", "contract.txt")); err != nil || string(got) != "signed" {
		t.Errorf("restored file: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "later.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file added after the backup survived the restore: %v", err)
	}
	if ok, err := f.mgr.DataOps().Provisioner().Exists(ctx, before.DatabaseName); err != nil || ok {
		t.Errorf("the replaced database %s still exists (%v)", before.DatabaseName, err)
	}
	// The other tenant was never touched.
	if n := f.notes(t, other.UUID); n != 0 {
		t.Errorf("other tenant has %d notes", n)
	}
}

func TestRestoreFromFileAndPrune(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn := f.tenant(t, "files.test")
	f.exec(t, tn, `INSERT INTO notes (body) VALUES ('kept')`)
	b, err := f.svc.Backup(ctx, tn, backups.Options{})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(f.dir, "backups", filepath.FromSlash(b.Key))
	f.exec(t, tn, `DELETE FROM notes`)
	if _, err := f.svc.Restore(ctx, tn, archive, backups.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.notes(t, tn.UUID); n != 1 {
		t.Errorf("%d notes after restoring from the file, want 1", n)
	}

	if _, err := f.svc.Prune(ctx, 0); err == nil {
		t.Error("prune with retention 0 succeeded")
	}
	if pruned, err := f.svc.Prune(ctx, 7*24*time.Hour); err != nil || len(pruned) != 0 {
		t.Fatalf("prune of a fresh backup: %v, %v", pruned, err)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	pruned, err := f.svc.Prune(ctx, 7*24*time.Hour)
	if err != nil || len(pruned) != 1 {
		t.Fatalf("prune: %v, %v", pruned, err)
	}
	if _, err := os.Stat(archive); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned archive still at the destination: %v", err)
	}
	if list, _ := f.svc.List(ctx, tn); len(list) != 0 {
		t.Errorf("pruned backup still listed: %v", list)
	}
}
