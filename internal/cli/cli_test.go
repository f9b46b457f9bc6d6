package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
)

// run runs the command line on dataDir and returns stdout, stderr and the exit code.
func run(t *testing.T, dataDir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"--data-dir", dataDir}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// ok runs a command that must succeed.
func ok(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, dataDir, args...)
	if code != 0 {
		t.Fatalf("tenancy %v: exit %d: %s", args, code, errOut)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

// snapshot is what bad input must leave untouched: the tenant list and the database files.
func snapshot(t *testing.T, dataDir string) string {
	t.Helper()
	list := ok(t, dataDir, "list", "-o", "json", "--per-page", "100")
	files, _ := filepath.Glob(filepath.Join(dataDir, "tenants", "*.sqlite"))
	return list + strings.Join(files, ",")
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fresh", "data") // does not exist yet
	out := ok(t, dir, "install")
	if !strings.Contains(out, "Next steps") {
		t.Fatalf("install output: %s", out)
	}
	ok(t, dir, "install") // idempotent
	if _, err := os.Stat(filepath.Join(dir, "migrations", "tenant", "00001_create_notes.sql")); err != nil {
		t.Fatal(err)
	}

	created := decode[tenancy.Tenant](t, ok(t, dir, "create", "Acme Corp", "Acme.localhost", "--migrate", "--seed", "--notes", "first", "-o", "json"))
	if created.Name != "Acme Corp" || created.Notes != "first" || len(created.Domains) != 1 ||
		created.Domains[0].Domain != "acme.localhost" || !created.Domains[0].IsPrimary || created.UUID == "" {
		t.Fatalf("create json: %+v", created)
	}
	rows := decode[[]map[string]any](t, ok(t, dir, "run", "acme.localhost", "--sql", "SELECT count(*) AS n FROM notes", "-o", "json"))
	if len(rows) != 1 || rows[0]["n"] != float64(3) {
		t.Fatalf("seeded rows: %v", rows)
	}
	if out := ok(t, dir, "run", created.UUID, "--sql", "SELECT value FROM settings WHERE key = 'tenant_name'"); !strings.Contains(out, "Acme Corp") {
		t.Fatalf("Go seeder did not see the tenant: %s", out)
	}

	out = ok(t, dir, "create-test-tenants", "--count", "3", "--with-data")
	if strings.Count(out, "created test") != 3 {
		t.Fatalf("create-test-tenants: %s", out)
	}
	if out := ok(t, dir, "create-test-tenants", "--count", "3"); !strings.Contains(out, "3 exist already") {
		t.Fatalf("second create-test-tenants: %s", out)
	}
	list := decode[[]tenancy.Tenant](t, ok(t, dir, "list", "-o", "json", "--sort", "name", "--order", "desc"))
	if len(list) != 4 || list[0].Name != "Test Tenant 3" || list[3].Name != "Acme Corp" {
		t.Fatalf("list: %+v", list)
	}
	if got := decode[[]tenancy.Tenant](t, ok(t, dir, "list", "-o", "json", "--search", "TEST2")); len(got) != 1 {
		t.Fatalf("search: %+v", got)
	}

	ok(t, dir, "suspend", "test2.localhost", "--reason", "unpaid")
	if got := decode[[]tenancy.Tenant](t, ok(t, dir, "list", "-o", "json", "--status", "suspended")); len(got) != 1 || got[0].StatusReason != "unpaid" {
		t.Fatalf("status filter: %+v", got)
	}
	for _, c := range []string{"block", "deactivate", "activate"} {
		got := decode[tenancy.Tenant](t, ok(t, dir, c, "test2.localhost", "--visitor-message", " Back soon ("+c+") ", "-o", "json"))
		if got.VisitorMessage != "Back soon ("+c+")" {
			t.Fatalf("%s --visitor-message: %+v", c, got)
		}
	}
	if got := decode[tenancy.Tenant](t, ok(t, dir, "update", "test2.localhost", "--visitor-message", "Moved", "-o", "json")); got.VisitorMessage != "Moved" {
		t.Fatalf("update --visitor-message: %+v", got)
	}
	upd := decode[tenancy.Tenant](t, ok(t, dir, "update", "test2.localhost", "--name", "Second", "--notes", "n2", "-o", "json"))
	if upd.Name != "Second" || upd.Notes != "n2" || upd.Status != tenancy.StatusActive {
		t.Fatalf("update: %+v", upd)
	}
	shown := decode[tenancy.Tenant](t, ok(t, dir, "show", "test2.localhost", "-o", "json"))
	if shown.UUID != upd.UUID {
		t.Fatalf("show: %+v", shown)
	}

	ok(t, dir, "domains", "add", "test2.localhost", "second.localhost", "--primary")
	doms := decode[[]tenancy.Domain](t, ok(t, dir, "domains", "list", "second.localhost", "-o", "json"))
	if len(doms) != 2 || doms[0].Domain != "second.localhost" || !doms[0].IsPrimary {
		t.Fatalf("domains: %+v", doms)
	}
	ok(t, dir, "domains", "remove", "second.localhost", "test2.localhost")

	m := decode[tenancy.Tenant](t, ok(t, dir, "maintenance", "second.localhost", "--enable", "--message", "upgrading", "-o", "json"))
	if !m.Maintenance || m.MaintenanceMessage != "upgrading" {
		t.Fatalf("maintenance: %+v", m)
	}
	ok(t, dir, "maintenance", "second.localhost", "--disable")

	// Add a migration and roll it out to the fleet.
	mig := filepath.Join(dir, "migrations", "tenant", "00003_add_pinned.sql")
	os.WriteFile(mig, []byte("-- +goose Up\nALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;\n-- +goose Down\nALTER TABLE notes DROP COLUMN pinned;\n"), 0o644)
	report := decode[tenancy.FleetReport](t, ok(t, dir, "migrate", "--all", "-o", "json", "--concurrency", "2"))
	if report.Succeeded != 4 || report.Failed != 0 {
		t.Fatalf("migrate --all: %+v", report)
	}
	status := decode[[]map[string]any](t, ok(t, dir, "migrate", "status", "-o", "json"))
	if len(status) != 4 || status[0]["version"] != float64(3) || status[0]["state"] != "succeeded" {
		t.Fatalf("migrate status: %v", status)
	}
	ok(t, dir, "migrate", "rollback", "acme.localhost", "--steps", "2")
	tstatus := decode[[]map[string]any](t, ok(t, dir, "migrate", "status", "acme.localhost", "-o", "json"))
	if len(tstatus) != 3 || tstatus[0]["applied"] != true || tstatus[1]["applied"] != false {
		t.Fatalf("tenant status: %v", tstatus)
	}
	ok(t, dir, "migrate", "acme.localhost", "--fresh", "--seed", "--seeder", "sample_notes")

	// A failing tenant: the run goes on, exits non-zero, and --retry-failed picks it up.
	ok(t, dir, "run", "test1.localhost", "--sql", "CREATE TABLE extra (x INTEGER)")
	os.WriteFile(filepath.Join(dir, "migrations", "tenant", "00004_extra.sql"), []byte("-- +goose Up\nCREATE TABLE extra (y INTEGER);\n-- +goose Down\nDROP TABLE extra;\n"), 0o644)
	out, errOut, code := run(t, dir, "migrate", "--all")
	if code == 0 || !strings.Contains(errOut, "failed for 1 of 4") || !strings.Contains(out, "3 succeeded, 1 failed") {
		t.Fatalf("failing fleet run: exit %d\n%s\n%s", code, out, errOut)
	}
	ok(t, dir, "run", "test1.localhost", "--sql", "DROP TABLE extra")
	retry := decode[tenancy.FleetReport](t, ok(t, dir, "migrate", "--all", "--retry-failed", "-o", "json"))
	if len(retry.Outcomes) != 1 || retry.Outcomes[0].Domain != "test1.localhost" || retry.Succeeded != 1 {
		t.Fatalf("retry: %+v", retry)
	}

	seeded := decode[tenancy.FleetReport](t, ok(t, dir, "seed", "--all", "--seeder", "sample_notes", "-o", "json"))
	if seeded.Succeeded != 4 {
		t.Fatalf("seed --all: %+v", seeded)
	}
	ok(t, dir, "seed", "test3.localhost")

	// API keys: the secret is shown once, only its hash is kept.
	created2 := decode[map[string]any](t, ok(t, dir, "api-key", "create", "--name", "deploy", "--scopes", "read,write", "-o", "json"))
	secret, _ := created2["secret"].(string)
	if !strings.HasPrefix(secret, "tnk_") {
		t.Fatalf("api-key create: %v", created2)
	}
	if list := ok(t, dir, "api-key", "list"); !strings.Contains(list, "deploy") || strings.Contains(list, secret) {
		t.Fatalf("api-key list: %s", list)
	}
	ok(t, dir, "api-key", "revoke", "deploy")
	if _, _, code := run(t, dir, "api-key", "revoke", "deploy"); code == 0 {
		t.Fatal("revoking twice succeeded")
	}

	// Every change above is in the audit log, with the CLI as actor.
	entries := decode[[]tenancy.AuditEntry](t, ok(t, dir, "audit", "--tenant", "second.localhost", "-o", "json", "--limit", "100"))
	actions := map[string]bool{}
	for _, en := range entries {
		if en.Actor != "cli" || en.TenantUUID != upd.UUID {
			t.Fatalf("audit entry %+v", en)
		}
		actions[en.Action] = true
	}
	for _, a := range []string{"tenant.create", "tenant.status", "tenant.update", "domain.add", "domain.remove", "tenant.maintenance"} {
		if !actions[a] {
			t.Errorf("audit log lacks %s: %v", a, actions)
		}
	}
	if out := ok(t, dir, "audit", "--since", "1h", "--action", "api_key.create"); !strings.Contains(out, "api_key.create") {
		t.Fatalf("audit --action: %s", out)
	}

	ok(t, dir, "delete", "acme.localhost", "--force")
	if _, _, code := run(t, dir, "show", "acme.localhost"); code == 0 {
		t.Fatal("deleted tenant still shown")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tenants", created.DatabaseName+"*"))
	if len(files) != 0 {
		t.Fatalf("database files left: %v", files)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "create-test-tenants", "--count", "2")
	before := snapshot(t, dir)
	cases := [][]string{
		{"create", "", "x.localhost"},
		{"create", "A", "not a domain"},
		{"create", "A", "https://a.localhost/"},
		{"create", "A", "TEST1.localhost"},
		{"create", "A", "localhost"},
		{"create", "A", "127.0.0.1"},
		{"--central-domains", "admin.example.test", "create", "A", "admin.example.test"},
		{"create", "A", "a.localhost", "--status", "maintenance"},
		{"create", "A", "a.localhost", "--database", "Bad-Name"},
		{"create", "A", "a.localhost", "--database", "x; DROP TABLE tenants"},
		{"create", "A", "a.localhost", "--migrate", "--migrations", "/does/not/exist"},
		{"create", "A", "a.localhost", "--seed", "--seeder", "missing"},
		{"create", "A"},
		{"show", "nobody.localhost"},
		{"show", "01a2185c-8068-7cbf-ba4e-a68e05dd8e16"},
		{"update", "test1.localhost", "--status", "paused"},
		{"update", "test1.localhost", "--name", ""},
		{"update", "test1.localhost"},
		{"suspend", "nobody.localhost"},
		{"suspend", "test1.localhost", "--visitor-message", strings.Repeat("x", 16<<10+1)},
		{"update", "test1.localhost", "--visitor-message", strings.Repeat("x", 16<<10+1)},
		{"delete", "test1.localhost"},
		{"delete", "nobody.localhost", "--force"},
		{"domains", "add", "test1.localhost", "test2.localhost"},
		{"domains", "add", "test1.localhost", "bad domain"},
		{"domains", "add", "test1.localhost", "localhost"},
		{"domains", "remove", "test1.localhost", "test1.localhost"},
		{"domains", "remove", "test1.localhost", "test2.localhost"},
		{"list", "--per-page", "101"},
		{"list", "--per-page", "0"},
		{"list", "--page", "0"},
		{"list", "--sort", "uuid"},
		{"list", "--order", "up"},
		{"list", "--status", "gone"},
		{"migrate"},
		{"migrate", "--all", "test1.localhost"},
		{"migrate", "test1.localhost", "--fail-fast"},
		{"migrate", "--all", "--concurrency", "-1"},
		{"migrate", "nobody.localhost"},
		{"migrate", "rollback", "test1.localhost", "--steps", "0"},
		{"seed", "test1.localhost", "--seeder", "missing"},
		{"run", "test1.localhost"},
		{"run", "test1.localhost", "--sql", "SELECT * FROM missing_table"},
		{"maintenance", "test1.localhost"},
		{"maintenance", "test1.localhost", "--enable", "--disable"},
		{"create-test-tenants", "--count", "0"},
		{"-o", "xml", "list"},
		{"no-such-command"},
		{"api-key", "create"},
		{"api-key", "create", "--name", "bad name"},
		{"api-key", "create", "--name", "k", "--scopes", "root"},
		{"api-key", "revoke", "nobody"},
		{"audit", "--since", "yesterday"},
		{"audit", "--limit", "5000"},
		{"audit", "--tenant", "nobody.localhost"},
	}
	for _, args := range cases {
		out, errOut, code := run(t, dir, args...)
		if code == 0 {
			t.Errorf("tenancy %q succeeded: %s", args, out)
			continue
		}
		msg := strings.TrimSpace(errOut)
		if !strings.HasPrefix(msg, "Error: ") || strings.Count(msg, "\n") != 0 {
			t.Errorf("tenancy %q: want a one-line error, got %q", args, errOut)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("bad input changed the catalog or files:\nbefore %s\nafter  %s", before, after)
	}
}

func TestUnreadableMigrationsOnlyStopMigratingCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "create-test-tenants", "--count", "1")
	os.WriteFile(filepath.Join(dir, "migrations", "tenant", "not_a_version.sql"), []byte("x"), 0o644)
	ok(t, dir, "list")
	_, errOut, code := run(t, dir, "migrate", "--all")
	if code == 0 || !strings.Contains(errOut, "not_a_version.sql") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestHelpHidesSecretsFromTheEnvironment is not parallel: it sets the
// environment.
func TestHelpHidesSecretsFromTheEnvironment(t *testing.T) {
	t.Setenv("TENANCY_DATABASE_URL", "postgres://u:db-secret@db/x")
	t.Setenv("TENANCY_SHARDS", "a=postgres://u:shard-secret@db/x")
	t.Setenv("TENANCY_REDIS_URL", "redis://:redis-secret@cache:6379/0")
	for _, args := range [][]string{{"--help"}, {"list", "--help"}, {"serve", "--help"}} {
		out, errOut, code := run(t, t.TempDir(), args...)
		if code != 0 || strings.Contains(out+errOut, "secret@") {
			t.Fatalf("%v: exit %d, a secret from the environment shows:\n%s%s", args, code, out, errOut)
		}
	}
	// The environment still configures the commands: this Redis URL is
	// refused by the flag check, which proves it was read.
	t.Setenv("TENANCY_REDIS_URL", "http://not-redis")
	if _, errOut, code := run(t, t.TempDir(), "list"); code == 0 || !strings.Contains(errOut, "--redis-url") {
		t.Fatalf("TENANCY_REDIS_URL was not read: exit %d: %s", code, errOut)
	}
}

// TestCentralDomainsFlag is not parallel: it sets the environment.
func TestCentralDomainsFlag(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := run(t, dir, "create", "A", "localhost")
	if code != 1 || !strings.Contains(errOut, "central domain") {
		t.Fatalf("create on the default central domain: exit %d: %s", code, errOut)
	}
	t.Setenv("TENANCY_CENTRAL_DOMAINS", "ops.example.test, admin.example.test")
	if _, errOut, code := run(t, dir, "create", "A", "admin.example.test"); code != 1 || !strings.Contains(errOut, "central domain") {
		t.Fatalf("create on a central domain from the environment: exit %d: %s", code, errOut)
	}
	// The flag wins over the environment, and localhost is no longer central.
	ok(t, dir, "--central-domains", "ops.example.test", "create", "Admin", "admin.example.test")
	ok(t, dir, "create", "Local", "localhost")
}

// TestTrustedProxiesFlag is not parallel: it sets the environment.
func TestTrustedProxiesFlag(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/33"},
		{"serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,proxy.example.test"},
	} {
		_, errOut, code := run(t, t.TempDir(), args...)
		if code != 1 || !strings.Contains(errOut, "invalid --trusted-proxies") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Fatalf("%v: exit %d: %q", args, code, errOut)
		}
	}
	t.Setenv("TENANCY_TRUSTED_PROXIES", "not-a-network")
	if _, errOut, code := run(t, t.TempDir(), "serve", "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(errOut, `"not-a-network"`) {
		t.Fatalf("TENANCY_TRUSTED_PROXIES was not read: exit %d: %s", code, errOut)
	}
}
