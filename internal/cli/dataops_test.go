package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/dataport"
	"github.com/gotenancy/tenancy/model"
)

func TestExportImportCloneEraseCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	out := t.TempDir()
	ok(t, dir, "install")
	acme := decode[tenancy.Tenant](t, ok(t, dir, "create", "Acme", "acme.test", "--migrate", "-o", "json"))
	ok(t, dir, "run", "acme.test", "--sql", "INSERT INTO notes (body) VALUES ('a'), ('it''s b')")
	files := filepath.Join(dir, "storage", acme.UUID)
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(files, "logo.txt"), []byte("logo"), 0o644)

	// export in each format, then import each as a new tenant.
	for _, format := range []string{"json", "csv", "sql"} {
		file := filepath.Join(out, format+".zip")
		res := decode[struct {
			File     string
			Manifest dataport.Manifest
		}](t, ok(t, dir, "export", "acme.test", "--format", format, "--output", file, "-o", "json"))
		if res.File != file || len(res.Manifest.Tables) != 2 || len(res.Manifest.Files) != 1 {
			t.Fatalf("export %s: %+v", format, res)
		}
		ok(t, dir, "import", file, "--domain", format+".test", "--name", "From "+format)
		if got := ok(t, dir, "run", format+".test", "--sql", "SELECT body FROM notes ORDER BY id"); !strings.Contains(got, "it's b") {
			t.Fatalf("imported %s: %s", format, got)
		}
	}
	only := decode[struct{ Manifest dataport.Manifest }](t, ok(t, dir, "export", "acme.test", "--tables", "notes", "--output", filepath.Join(out, "notes.zip"), "-o", "json"))
	if len(only.Manifest.Tables) != 1 || only.Manifest.Tables[0].Name != "notes" {
		t.Fatalf("--tables notes: %+v", only.Manifest.Tables)
	}

	// backup-all, clone, restore --into.
	all := decode[struct{ Total, Failed int }](t, ok(t, dir, "backup-all", "--concurrency", "2", "-o", "json"))
	if all.Total != 4 || all.Failed != 0 {
		t.Fatalf("backup-all: %+v", all)
	}
	ok(t, dir, "clone", "acme.test", "staging.test")
	if got := ok(t, dir, "run", "staging.test", "--sql", "SELECT count(*) FROM notes"); !strings.Contains(got, "2") {
		t.Fatalf("clone: %s", got)
	}
	list := decode[struct{ Backups []model.Backup }](t, ok(t, dir, "backup-list", "acme.test", "-o", "json"))
	ok(t, dir, "restore", "acme.test", list.Backups[0].ID, "--into", "restored.test")
	if got := ok(t, dir, "run", "restored.test", "--sql", "SELECT count(*) FROM notes"); !strings.Contains(got, "2") {
		t.Fatalf("restore --into: %s", got)
	}

	// Bad input: one line, exit 1, nothing changed.
	ok(t, dir, "create", "Fresh", "fresh.test")
	notExport := filepath.Join(out, "plain.zip")
	os.WriteFile(notExport, []byte("PK not really"), 0o644)
	before := snapshot(t, dir)
	for _, args := range [][]string{
		{"export", "acme.test", "--format", "xml", "--output", filepath.Join(out, "x.zip")},
		{"export", "acme.test", "--tables", "nope", "--output", filepath.Join(out, "y.zip")},
		{"export", "acme.test", "--output", filepath.Join(out, "json.zip")}, // exists
		{"export", "nosuch.test"},
		{"import", notExport, "--domain", "n.test"},
		{"import", filepath.Join(out, "missing.zip"), "--domain", "n.test"},
		{"import", filepath.Join(out, "json.zip"), "--domain", "acme.test"}, // taken
		{"import", filepath.Join(out, "json.zip"), "--domain", "bad domain"},
		{"clone", "acme.test", "acme.test"},
		{"clone", "fresh.test", "c.test"}, // no backup
		{"restore", "acme.test", "nosuch", "--into", "n.test"},
		{"erase", "acme.test"}, // no --confirm
		{"erase", "nosuch.test", "--confirm"},
		{"backup-all", "--concurrency", "0"},
	} {
		_, errOut, code := run(t, dir, args...)
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("tenancy %v: exit %d, stderr %q; want exit 1 and one line", args, code, errOut)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("bad input changed the tenants:\n%s\n%s", before, after)
	}
	for _, f := range []string{"x.zip", "y.zip"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("a failed export left %s", f)
		}
	}

	// erase: the tenant, its backups and files go; the audit log says so.
	er := decode[struct {
		TenantUUID string `json:"tenant_uuid"`
		Backups    []struct{ Key string }
		Files      int
	}](t, ok(t, dir, "erase", "acme.test", "--confirm", "-o", "json"))
	if er.TenantUUID != acme.UUID || len(er.Backups) != 1 || er.Files != 1 {
		t.Fatalf("erase: %+v", er)
	}
	if _, err := os.Stat(filepath.Join(dir, "backups", filepath.FromSlash(er.Backups[0].Key))); !os.IsNotExist(err) {
		t.Fatalf("the backup survived the erase: %v", err)
	}
	if _, err := os.Stat(files); !os.IsNotExist(err) {
		t.Fatalf("the files survived the erase: %v", err)
	}
	if _, _, code := run(t, dir, "show", "acme.test"); code != 1 {
		t.Fatal("the tenant survived the erase")
	}
	audit := ok(t, dir, "audit", "--action", "tenant.erase", "-o", "json")
	if !strings.Contains(audit, acme.UUID) || strings.Contains(audit, "acme.test") || strings.Contains(audit, "Acme") {
		t.Fatalf("the audit log has no erasure entry free of personal data: %s", audit)
	}
}
