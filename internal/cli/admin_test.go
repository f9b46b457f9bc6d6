package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// runStdin runs the command line on dataDir with stdin and returns stdout,
// stderr and the exit code.
func runStdin(t *testing.T, dataDir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"--data-dir", dataDir}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// adminEnv opens the data directory's catalog and Manager, closed when the
// test ends.
func adminEnv(t *testing.T, dataDir string) *env {
	t.Helper()
	e, err := openEnv(context.Background(), &options{dataDir: dataDir, tenantDB: modeSQLite, maxOpen: 4, connBudget: 4}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, code := runStdin(t, dir, "first password 1\r\nignored second line\n", "admin", "create", "--email", " Ops@Example.com", "--password-stdin")
	if code != 0 || !strings.Contains(out, "ops@example.com") {
		t.Fatalf("admin create: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "first password") {
		t.Fatalf("the password was echoed: %s%s", out, errOut)
	}
	created := decode[controlplane.AdminUser](t, func() string {
		out, errOut, code := runStdin(t, dir, "second password 2", "admin", "create", "--email", "dev@example.com", "--password-stdin", "-o", "json")
		if code != 0 {
			t.Fatalf("admin create -o json: exit %d: %s", code, errOut)
		}
		return out
	}())
	if created.ID == 0 || created.Email != "dev@example.com" {
		t.Fatalf("created %+v", created)
	}

	// Only the first line counts, without its line ending; a missing final
	// newline is fine.
	e := adminEnv(t, dir)
	ctx := context.Background()
	if _, err := e.cp.AuthenticateAdmin(ctx, "ops@example.com", "first password 1"); err != nil {
		t.Fatalf("signing in with the piped password: %v", err)
	}
	if _, err := e.cp.AuthenticateAdmin(ctx, "dev@example.com", "second password 2"); err != nil {
		t.Fatalf("signing in with the piped password (no newline): %v", err)
	}

	list := ok(t, dir, "admin", "list")
	if !regexp.MustCompile(`(?m)^ID\s+EMAIL\s+CREATED\s+LAST SIGN-IN$`).MatchString(list) ||
		!strings.Contains(list, "ops@example.com") || !strings.Contains(list, "dev@example.com") {
		t.Fatalf("admin list:\n%s", list)
	}
	users := decode[[]controlplane.AdminUser](t, ok(t, dir, "admin", "list", "-o", "json"))
	if len(users) != 2 || users[0].Email != "ops@example.com" || users[0].LastSignInAt == nil || users[1].Email != "dev@example.com" {
		t.Fatalf("admin list -o json: %+v", users)
	}

	if out := ok(t, dir, "admin", "delete", "--email", "OPS@example.com"); !strings.Contains(out, "Deleted admin user ops@example.com") {
		t.Fatalf("admin delete: %s", out)
	}
	if got := decode[map[string]any](t, ok(t, dir, "admin", "delete", "--email", "dev@example.com", "-o", "json")); got["email"] != "dev@example.com" {
		t.Fatalf("admin delete -o json: %v", got)
	}
	if users := decode[[]controlplane.AdminUser](t, ok(t, dir, "admin", "list", "-o", "json")); len(users) != 0 {
		t.Fatalf("after delete: %+v", users)
	}

	entries := decode[[]tenancy.AuditEntry](t, ok(t, dir, "audit", "-o", "json"))
	actions := map[string]int{}
	for _, en := range entries {
		if en.Actor != "cli" {
			t.Errorf("audit entry by %q", en.Actor)
		}
		actions[en.Action]++
	}
	if actions["admin.create"] != 2 || actions["admin.delete"] != 2 {
		t.Fatalf("audit actions: %v", actions)
	}
}

func TestAdminBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, errOut, code := runStdin(t, dir, "a good password\n", "admin", "create", "--email", "ops@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("admin create: %s", errOut)
	}
	before := ok(t, dir, "admin", "list", "-o", "json")
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no --password-stdin", "a good password\n", []string{"admin", "create", "--email", "x@example.com"}, "pass the password on stdin with --password-stdin"},
		{"empty stdin", "", []string{"admin", "create", "--email", "x@example.com", "--password-stdin"}, "no password on stdin"},
		{"empty first line", "\na good password\n", []string{"admin", "create", "--email", "x@example.com", "--password-stdin"}, "no password on stdin"},
		{"short password", "short\n", []string{"admin", "create", "--email", "x@example.com", "--password-stdin"}, "invalid password: must be at least 10 characters"},
		{"long password", strings.Repeat("p", 73) + "\n", []string{"admin", "create", "--email", "x@example.com", "--password-stdin"}, "invalid password: must be at most 72 bytes"},
		{"bad email", "a good password\n", []string{"admin", "create", "--email", "not-an-email", "--password-stdin"}, "invalid email"},
		{"display name", "a good password\n", []string{"admin", "create", "--email", "X <x@example.com>", "--password-stdin"}, "invalid email"},
		{"no email", "a good password\n", []string{"admin", "create", "--password-stdin"}, `required flag(s) "email" not set`},
		{"taken email", "another password\n", []string{"admin", "create", "--email", "OPS@example.com", "--password-stdin"}, "admin user already exists: ops@example.com"},
		{"delete unknown", "", []string{"admin", "delete", "--email", "nobody@example.com"}, `no admin user "nobody@example.com"`},
		{"delete without email", "", []string{"admin", "delete"}, `required flag(s) "email" not set`},
		{"stray argument", "", []string{"admin", "list", "extra"}, "unknown command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runStdin(t, dir, c.stdin, c.args...)
			msg := strings.TrimSpace(errOut)
			if code == 0 || out != "" || !strings.HasPrefix(msg, "Error: ") || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
				t.Fatalf("tenancy %q: exit %d, stdout %q, stderr %q; want a one-line error with %q", c.args, code, out, errOut, c.want)
			}
			if strings.Contains(errOut, "a good password") || strings.Contains(errOut, "another password") {
				t.Fatalf("the error shows the password: %s", errOut)
			}
		})
	}
	if after := ok(t, dir, "admin", "list", "-o", "json"); after != before {
		t.Fatalf("bad input changed the admin users:\n%s\n%s", before, after)
	}
}

func TestEnsureDemoAdmin(t *testing.T) {
	t.Parallel()
	e := adminEnv(t, t.TempDir())
	ctx := context.Background()
	email, password, err := ensureDemoAdmin(ctx, e)
	if err != nil || email != "admin@example.com" || !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(password) {
		t.Fatalf("ensureDemoAdmin = %q, %q, %v", email, password, err)
	}
	if _, err := e.cp.AuthenticateAdmin(ctx, email, password); err != nil {
		t.Fatalf("signing in as the demo admin: %v", err)
	}
	// With an admin user there, nothing is created.
	if email, password, err := ensureDemoAdmin(ctx, e); err != nil || email != "" || password != "" {
		t.Fatalf("second ensureDemoAdmin = %q, %q, %v", email, password, err)
	}
	if users, err := e.cp.AdminUsers(ctx); err != nil || len(users) != 1 {
		t.Fatalf("admin users: %+v %v", users, err)
	}
}

// syncBuffer is a bytes.Buffer that a running command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveDemo runs `serve --demo` on dataDir until it says it is serving,
// stops it and returns what it printed.
func serveDemo(t *testing.T, dataDir, addr string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--data-dir", dataDir, "serve", "--demo", "--addr", addr, "--access-log=false"},
			strings.NewReader(""), &out, &errOut)
	}()
	exited, exitCode := false, 0
	serving := testwait.Poll(60*time.Second, func() bool {
		if strings.Contains(out.String(), "Serving on") {
			return true
		}
		select {
		case exitCode = <-done:
			exited = true
			return true
		default:
			return false
		}
	})
	switch {
	case exited:
		t.Fatalf("serve --demo exited with %d:\n%s%s", exitCode, out.String(), errOut.String())
	case !serving:
		t.Fatalf("serve --demo did not start:\n%s%s", out.String(), errOut.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve --demo exited with %d:\n%s", code, errOut.String())
	}
	return out.String()
}

func TestServeDemoPrintsDashboardSignIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	out := serveDemo(t, dir, addr)
	m := regexp.MustCompile(`(?m)^dashboard: http://` + regexp.QuoteMeta(addr) + `/admin/  email (admin@example\.com)  password ([A-Za-z0-9_-]{16})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("serve --demo output lacks the dashboard sign-in:\n%s", out)
	}
	e, err := openEnv(context.Background(), &options{dataDir: dir, tenantDB: modeSQLite, maxOpen: 4, connBudget: 4}, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cp.AuthenticateAdmin(context.Background(), m[1], m[2])
	e.Close()
	if err != nil {
		t.Fatalf("signing in with the printed password: %v", err)
	}

	// The next start keeps the user and prints no password.
	out = serveDemo(t, dir, addr)
	if !strings.Contains(out, "dashboard: http://"+addr+"/admin/ (sign in with an existing admin user; `tenancy admin create` adds one)") ||
		strings.Contains(out, m[2]) {
		t.Fatalf("second serve --demo:\n%s", out)
	}
}

func TestDashboardURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ addr, want string }{
		{":8080", "http://localhost:8080/admin/"},
		{"0.0.0.0:8080", "http://localhost:8080/admin/"},
		{"[::]:8080", "http://localhost:8080/admin/"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000/admin/"},
		{"example.com:80", "http://example.com:80/admin/"},
		{"[::1]:8080", "http://[::1]:8080/admin/"},
	} {
		if got := dashboardURL(c.addr); got != c.want {
			t.Errorf("dashboardURL(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}
