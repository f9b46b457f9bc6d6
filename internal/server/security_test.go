package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/api"
	"github.com/gotenancy/tenancy/controlplane"
)

// syncBuffer is a bytes.Buffer for a logger that several goroutines use.
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

// requestLines are the access log's lines, decoded.
func (b *syncBuffer) requestLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestCentralPageLinksOnlyTheDemoTenants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, func(c *Config) { c.DemoHosts = []string{"test1.localhost", "test2.localhost"} })
	w := f.do("GET", "localhost:8080", "/", nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `href="http://test1.localhost:8080/"`) || !strings.Contains(body, `href="http://test2.localhost:8080/"`) ||
		strings.Contains(body, f.tenants[0].PrimaryDomain()) {
		t.Fatalf("central page with demo tenants: %d %s", w.Code, body)
	}
}

// TestAccessLogRedactsTheMaintenanceSecret checks both ways of reaching a
// tenant, and a secret that does not match.
func TestAccessLogRedactsTheMaintenanceSecret(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	f := newFixture(t, 1, func(c *Config) {
		c.AccessLog = true
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	host := f.tenants[0].PrimaryDomain()
	tn, err := f.mgr.SetMaintenance(context.Background(), host, true, "")
	if err != nil {
		t.Fatal(err)
	}
	secret := tn.MaintenanceSecret
	for _, c := range []struct{ host, path string }{
		{host, tenancy.MaintenanceBypassPrefix + secret},
		{"localhost", "/t/" + host + tenancy.MaintenanceBypassPrefix + secret},
		{host, tenancy.MaintenanceBypassPrefix + "not-the-secret"},
	} {
		f.do("GET", c.host, c.path, nil)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "not-the-secret") {
		t.Fatalf("the access log shows a maintenance secret:\n%s", logs.String())
	}
	lines := logs.requestLines(t)
	if len(lines) != 3 || lines[1]["path"] != "/t/"+host+tenancy.MaintenanceBypassPrefix+"REDACTED" {
		t.Fatalf("access log lines: %v", lines)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := ParseTrustedProxies([]string{" 10.0.0.0/8", "", "192.0.2.10", "fd00::/8", "::ffff:172.16.0.0/108", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "fd00::/8", "172.16.0.0/12", "10.0.0.0/8"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.test", "10.0.0.0/8,10.0.0.1", "fe80::1%eth0", "::ffff:10.0.0.0/90"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil || !strings.Contains(err.Error(), "invalid trusted proxy") {
			t.Errorf("ParseTrustedProxies(%q): %v", bad, err)
		}
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:f::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		trust        bool
		want         string
	}{
		{"no proxies trusted", "10.0.0.1:5000", []string{"203.0.113.7"}, false, "10.0.0.1"},
		{"untrusted peer", "198.51.100.1:5000", []string{"203.0.113.7"}, true, "198.51.100.1"},
		{"trusted peer", "10.0.0.1:5000", []string{"203.0.113.7"}, true, "203.0.113.7"},
		{"trusted peer, no header", "10.0.0.1:5000", nil, true, "10.0.0.1"},
		{"client's own entries are not believed", "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.7"}, true, "203.0.113.7"},
		{"chain of trusted proxies", "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.7, 10.9.9.9", "10.0.0.2"}, true, "203.0.113.7"},
		{"every hop trusted", "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, true, "10.0.0.3"},
		{"garbage ends the walk", "10.0.0.1:5000", []string{"203.0.113.7, not-an-address, 10.0.0.2"}, true, "10.0.0.2"},
		{"entries with ports and brackets", "[2001:db8:f::1]:443", []string{"[2001:db8:1::7]:1234"}, true, "2001:db8:1::7"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:5000", []string{"203.0.113.7:80"}, true, "203.0.113.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		tp := trustedProxies(nil)
		if c.trust {
			tp = trustedProxies(trusted)
		}
		got, _, ok := tp.clientAddr(r)
		if !ok || got != netip.MustParseAddr(c.want) {
			t.Errorf("%s: client %v (ok %v), want %s", c.name, got, ok, c.want)
		}
	}
}

// proxiedSignIn posts a failing sign-in for email from client through the proxy
// at 10.0.0.1 (which sets X-Forwarded-For) and returns the status.
func proxiedSignIn(f *fixture, client, email string) int {
	form := url.Values{"email": {email}, "password": {"wrong password"}}
	r := httptest.NewRequest("POST", "http://localhost/admin/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Forwarded-For", client)
	r.RemoteAddr = "10.0.0.1:40000"
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w.Code
}

// TestTrustedProxies checks that behind a trusted proxy each client is
// limited, audited and logged under its own address. (Without the
// setting the header is ignored: TestClientAddr.)
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs syncBuffer
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	rate := api.RateLimitConfig{Enabled: true, Attempts: 2, Decay: time.Hour}
	behind := newFixture(t, 0, func(c *Config) {
		c.TrustedProxies, c.RateLimit, c.AccessLog = proxies, rate, true
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})

	// One attacker's failed sign-ins lock out only the attacker.
	for i := range 5 {
		if code := proxiedSignIn(behind, "203.0.113.7", fmt.Sprintf("guess%d@example.test", i)); code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: %d", i, code)
		}
	}
	if code := proxiedSignIn(behind, "203.0.113.7", "guess5@example.test"); code != http.StatusTooManyRequests {
		t.Fatalf("sixth failure from the same client: %d, want 429", code)
	}
	if code := proxiedSignIn(behind, "203.0.113.8", "admin@example.test"); code != http.StatusUnauthorized {
		t.Fatalf("another client behind the same proxy: %d, want 401", code)
	}
	entries, err := behind.cp.Audit(ctx, controlplane.AuditFilter{Action: "admin.sign_in"})
	if err != nil || len(entries) == 0 {
		t.Fatalf("audit: %v %v", entries, err)
	}
	for _, e := range entries {
		if e.ClientIP != "203.0.113.7" && e.ClientIP != "203.0.113.8" {
			t.Errorf("audit entry with client address %q", e.ClientIP)
		}
	}
	lines := logs.requestLines(t)
	if len(lines) == 0 || !strings.HasPrefix(lines[0]["remote"].(string), "203.0.113.7:") || lines[0]["peer"] != "10.0.0.1:40000" {
		t.Fatalf("access log: %v", lines)
	}

	// The API's per-address limit too.
	apiCall := func(client string) int {
		r := httptest.NewRequest("GET", "http://localhost/tenancy/tenants", nil)
		r.Header.Set("X-Forwarded-For", client)
		r.RemoteAddr = "10.0.0.1:40000"
		w := httptest.NewRecorder()
		behind.srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for range 2 {
		if code := apiCall("203.0.113.7"); code != http.StatusUnauthorized {
			t.Fatalf("API call: %d", code)
		}
	}
	if code := apiCall("203.0.113.7"); code != http.StatusTooManyRequests {
		t.Fatalf("third API call from the same client: %d, want 429", code)
	}
	if code := apiCall("203.0.113.8"); code != http.StatusUnauthorized {
		t.Fatalf("API call from another client behind the proxy: %d, want 401", code)
	}
}
