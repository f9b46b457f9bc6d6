package tenancy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/resolve"
)

// fixedResolver resolves every request to one tenant as it is in memory,
// so pages can be tested with fields the catalog may not keep.
type fixedResolver struct{ t *tenancy.Tenant }

func (f fixedResolver) ResolveRequest(r *http.Request) (*tenancy.Tenant, *http.Request, error) {
	if f.t == nil {
		return nil, nil, tenancy.ErrNotFound
	}
	return f.t, r, nil
}

// served is the application behind the gate in these tests.
var served = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })

// gate answers one request for tenant t (nil: an unknown host).
func gate(tb testing.TB, mgr *tenancy.Manager, t *tenancy.Tenant, accept string) *httptest.ResponseRecorder {
	tb.Helper()
	h := tenancy.Middleware(served, &tenancy.MiddlewareConfig{Manager: mgr, Resolver: fixedResolver{t}})
	r := httptest.NewRequest("GET", "http://acme.example.test/notes", nil)
	r.Header.Set("Accept", accept)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// withoutTimestamp decodes a JSON refusal and drops its timestamp.
func withoutTimestamp(tb testing.TB, w *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	var env map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		tb.Fatalf("not JSON: %q", w.Body)
	}
	delete(env, "timestamp")
	return env
}

// TestStatusPagesShowTheVisitorMessage checks that status pages show the
// visitor message and never the operator's status reason, in HTML and
// JSON, and that the maintenance page keeps its message.
func TestStatusPagesShowTheVisitorMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	const reason = "card declined, see ticket 4711"
	for _, st := range []tenancy.Status{tenancy.StatusSuspended, tenancy.StatusBlocked, tenancy.StatusInactive} {
		for _, visitor := range []string{"We are back on Monday.", ""} {
			tn := &tenancy.Tenant{UUID: "0198a0c0-0000-7000-8000-000000000001", Name: "Acme", Status: st, StatusReason: reason, VisitorMessage: visitor}
			html := gate(t, f.mgr, tn, "text/html")
			if html.Code != http.StatusForbidden || strings.Contains(html.Body.String(), "card declined") ||
				!strings.Contains(html.Body.String(), visitor) {
				t.Errorf("%s, visitor message %q: HTML %d %s", st, visitor, html.Code, html.Body)
			}
			js := gate(t, f.mgr, tn, "application/json")
			env := withoutTimestamp(t, js)
			if js.Code != http.StatusForbidden || strings.Contains(js.Body.String(), "card declined") || env["status"] != string(st) {
				t.Errorf("%s: JSON %d %s", st, js.Code, js.Body)
			}
			if got, _ := env["visitor_message"].(string); got != visitor {
				t.Errorf("%s: JSON visitor_message %q, want %q", st, got, visitor)
			}
		}
	}
	tn := &tenancy.Tenant{UUID: "0198a0c0-0000-7000-8000-000000000002", Name: "Acme", Status: tenancy.StatusActive,
		StatusReason: reason, VisitorMessage: "not for maintenance", Maintenance: true, MaintenanceMessage: "Upgrading until 10:00"}
	w := gate(t, f.mgr, tn, "text/html")
	if body := w.Body.String(); w.Code != http.StatusServiceUnavailable || !strings.Contains(body, "Upgrading until 10:00") ||
		strings.Contains(body, "card declined") || strings.Contains(body, "not for maintenance") {
		t.Fatalf("maintenance page: %d %s", w.Code, body)
	}
}

// TestLifecycleTenantsAreUnknown checks that a tenant being created or
// deleted gets exactly the answer of an unknown host.
func TestLifecycleTenantsAreUnknown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	unknownHTML := gate(t, f.mgr, nil, "text/html")
	unknownJSON := withoutTimestamp(t, gate(t, f.mgr, nil, "application/json"))
	if unknownHTML.Code != http.StatusNotFound {
		t.Fatalf("unknown host: %d", unknownHTML.Code)
	}
	for _, st := range tenancy.LifecycleStatuses {
		if st.Valid() || !st.Lifecycle() {
			t.Fatalf("%s: Valid %v, Lifecycle %v", st, st.Valid(), st.Lifecycle())
		}
		if _, err := tenancy.ParseStatus(string(st)); err == nil {
			t.Fatalf("%s parses as a status a caller may set", st)
		}
		tn := &tenancy.Tenant{UUID: "0198a0c0-0000-7000-8000-000000000003", Name: "Acme", Status: st, DatabaseName: "acme"}
		html := gate(t, f.mgr, tn, "text/html")
		if html.Code != http.StatusNotFound || html.Body.String() != unknownHTML.Body.String() {
			t.Errorf("%s HTML: %d %s", st, html.Code, html.Body)
		}
		js := gate(t, f.mgr, tn, "application/json")
		got := withoutTimestamp(t, js)
		if b1, _ := json.Marshal(got); js.Code != http.StatusNotFound || string(b1) != mustJSON(t, unknownJSON) {
			t.Errorf("%s JSON: %d %s, want %s", st, js.Code, js.Body, mustJSON(t, unknownJSON))
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestMaintenanceBypassInPathMode checks that the bypass cookie and its
// redirect stay under /t/{tenant}/ when the tenant is reached by path on a
// central host, and under / on the tenant's own host.
func TestMaintenanceBypassInPathMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	if _, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example.test"}); err != nil {
		t.Fatal(err)
	}
	tn, err := f.mgr.SetMaintenance(ctx, "acme.example.test", true, "")
	if err != nil {
		t.Fatal(err)
	}
	cache, err := resolve.NewCache(ctx, f.mgr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	chain, err := resolve.NewChain(&resolve.ChainConfig{Cache: cache, CentralDomains: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	h := tenancy.Middleware(served, &tenancy.MiddlewareConfig{Manager: f.mgr, Resolver: chain})
	do := func(url string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", url, nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, c := range []struct{ base, home string }{
		{"http://localhost/t/acme.example.test", "/t/acme.example.test/"},
		{"http://acme.example.test", "/"},
	} {
		w := do(c.base + tenancy.MaintenanceBypassPrefix + tn.MaintenanceSecret)
		cookies := w.Result().Cookies()
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != c.home || len(cookies) != 1 || cookies[0].Path != c.home {
			t.Fatalf("%s: %d Location %q cookies %v, want a cookie for and a redirect to %s", c.base, w.Code, w.Header().Get("Location"), cookies, c.home)
		}
		if w := do(c.base+"/notes", cookies[0]); w.Code != http.StatusOK {
			t.Fatalf("%s with the bypass cookie: %d", c.base, w.Code)
		}
		// A browser in path mode also sends other tenants' cookies of the
		// same name; t's own still lets it through.
		other := &http.Cookie{Name: cookies[0].Name, Value: "another-tenants-secret"}
		if w := do(c.base+"/notes", other, cookies[0]); w.Code != http.StatusOK {
			t.Fatalf("%s with two bypass cookies: %d", c.base, w.Code)
		}
	}
}

func TestRedactMaintenancePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/__maintenance/S3CRET":                     "/__maintenance/REDACTED",
		"/t/acme.example.test/__maintenance/S3CRET": "/t/acme.example.test/__maintenance/REDACTED",
		"/__maintenance/S3CRET/more":                "/__maintenance/REDACTED",
		"/api/notes":                                "/api/notes",
		"/__maintenance":                            "/__maintenance",
	} {
		if got := tenancy.RedactMaintenancePath(in); got != want {
			t.Errorf("RedactMaintenancePath(%q) = %q, want %q", in, got, want)
		}
	}
}
