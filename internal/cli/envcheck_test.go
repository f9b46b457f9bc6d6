package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gotenancy/tenancy"
)

// Not parallel: it sets the process environment.
func TestReferenceVariables(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ok(t, dir, "install")

	t.Setenv("TENANT_AUTO_MIGRATE", "true")
	t.Setenv("TENANT_DB_PREFIX", "acme")
	tn := decode[tenancy.Tenant](t, ok(t, dir, "create", "Auto", "auto.test", "-o", "json"))
	if !strings.HasPrefix(tn.DatabaseName, "acme_auto_") {
		t.Errorf("TENANT_DB_PREFIX=acme: database %s", tn.DatabaseName)
	}
	if got := ok(t, dir, "run", "auto.test", "--sql", "SELECT count(*) FROM notes"); !strings.Contains(got, "0") {
		t.Errorf("TENANT_AUTO_MIGRATE=true left the tenant unmigrated: %s", got)
	}
	t.Setenv("TENANT_AUTO_MIGRATE", "false")
	t.Setenv("TENANT_AUTO_SEED", "true")
	ok(t, dir, "create", "Seeded", "seeded.test")
	if got := ok(t, dir, "run", "seeded.test", "--sql", "SELECT count(*) FROM notes"); strings.Contains(got, "\n0\n") {
		t.Errorf("TENANT_AUTO_SEED=true ran no seeder: %s", got)
	}

	before := snapshot(t, dir)
	t.Setenv("TENANT_DB_PREFIX", "Bad-Prefix")
	if _, errOut, code := run(t, dir, "create", "Bad", "bad.test"); code != 1 || !strings.Contains(errOut, "TENANT_DB_PREFIX") {
		t.Errorf("a bad TENANT_DB_PREFIX: exit %d, %q", code, errOut)
	}
	t.Setenv("TENANT_DB_PREFIX", "")
	if after := snapshot(t, dir); after != before {
		t.Error("a refused create changed the tenants")
	}

	// Unknown variables are warned about once.
	t.Setenv("TENANCY_MONITORING_ENABLEDD", "true")
	warnUnknownOnce = sync.Once{}
	var out, errOut bytes.Buffer
	for range 2 {
		Main(context.Background(), []string{"--data-dir", dir, "list"}, strings.NewReader(""), &out, &errOut)
	}
	if n := strings.Count(errOut.String(), "TENANCY_MONITORING_ENABLEDD"); n != 1 {
		t.Errorf("the unknown variable was warned about %d times: %q", n, errOut.String())
	}
}
