package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gotenancy/tenancy/model"
)

func TestBackupRestoreCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ok(t, dir, "install")
	ok(t, dir, "create", "Acme", "acme.test", "--migrate")
	ok(t, dir, "run", "acme.test", "--sql", "INSERT INTO notes (body) VALUES ('a'), ('b')")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := decode[model.Backup](t, ok(t, dir, "backup", "acme.test", "--compress", "--encrypt-to", id.Recipient().String(), "-o", "json"))
	if b.State != model.BackupComplete || !b.Compressed || !b.Encrypted || b.Size == 0 {
		t.Fatalf("backup: %+v", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "backups", filepath.FromSlash(b.Key))); err != nil {
		t.Fatalf("archive not at the default destination: %v", err)
	}
	list := decode[struct{ Backups []model.Backup }](t, ok(t, dir, "backup-list", "acme.test", "-o", "json"))
	if len(list.Backups) != 1 || list.Backups[0].ID != b.ID {
		t.Fatalf("backup-list: %+v", list)
	}
	ok(t, dir, "run", "acme.test", "--sql", "DELETE FROM notes")

	// Bad input: one line, exit 1, nothing changed.
	before := snapshot(t, dir)
	for _, args := range [][]string{
		{"restore", "acme.test", b.ID},                                          // no confirmation
		{"restore", "acme.test", b.ID, "--force"},                               // encrypted, no identity
		{"restore", "acme.test", "nosuch", "--force"},                           // unknown backup
		{"restore", "acme.test", b.ID, "--force", "--identity", "/nonexistent"}, // no identity file
		{"restore", "nosuch.test", b.ID, "--force"},                             // unknown tenant
		{"backup", "acme.test", "--encrypt-to", "garbage"},
		{"backup", "acme.test", "--disk", "ftp://host/dir"},
		{"backup", "acme.test", "--disk", "file://relative/dir"},
		{"backup", "prune", "--retention-days", "0"},
	} {
		_, errOut, code := run(t, dir, args...)
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("tenancy %v: exit %d, stderr %q; want exit 1 and one line", args, code, errOut)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("bad input changed the tenants:\n%s\n%s", before, after)
	}

	out := ok(t, dir, "restore", "acme.test", b.ID, "--force", "--identity", keyFile)
	if !strings.Contains(out, "generation 2") {
		t.Errorf("restore output: %s", out)
	}
	if out := ok(t, dir, "run", "acme.test", "--sql", "SELECT count(*) AS n FROM notes"); !strings.Contains(out, "2") {
		t.Errorf("notes after restore: %s", out)
	}
	if out := ok(t, dir, "backup", "prune", "-o", "json"); !strings.Contains(out, `"pruned": []`) {
		t.Errorf("prune of fresh backups: %s", out)
	}
}
