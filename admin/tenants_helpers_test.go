package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// The admin user the dashboard fixtures sign in as.
const (
	dashEmail    = "ops@example.com"
	dashPassword = "correct horse battery staple"
)

// dashFixture is the dashboard over a Manager on a temporary data
// directory (a SQLite catalog and SQLite tenant databases with the demo
// migrations and seeders), served by a real HTTP server, and a browser-like
// client that is signed in and keeps its cookies. Its backup service keeps
// archives under dir/backups, on its own clock (backupClock).
type dashFixture struct {
	t           testing.TB
	mgr         *tenancy.Manager
	metrics     *tenancy.RequestMetrics
	backups     *backups.Service
	backupClock *testclock.Clock
	admin       *Admin
	srv         *httptest.Server
	client      *http.Client
	dir         string
}

// dashManager builds a Manager on dir; extra Go migrations are added to
// the demo ones.
func dashManager(tb testing.TB, dir string, extra ...*goose.Migration) *tenancy.Manager {
	tb.Helper()
	mgr, st := testenv.NewManager(tb, dir, &testenv.ManagerConfig{Demo: true, DemoGoSeeders: true, ExtraMigrations: extra})
	controlPlanes.Store(mgr, testenv.ControlPlane(tb, st))
	return mgr
}

// controlPlanes maps each test Manager to the control plane over its
// catalog.
var controlPlanes sync.Map

// cpOf returns the control plane over mgr's catalog.
func cpOf(mgr *tenancy.Manager) *controlplane.ControlPlane {
	cp, _ := controlPlanes.Load(mgr)
	return cp.(*controlplane.ControlPlane)
}

// newDashFixture starts the dashboard and signs in.
func newDashFixture(tb testing.TB, extra ...*goose.Migration) *dashFixture {
	tb.Helper()
	return newDashFixtureWith(tb, nil, extra...)
}

// newDashFixtureWith is newDashFixture with the dashboard's Config
// changed by adjust (which may replace or remove the backup service).
func newDashFixtureWith(tb testing.TB, adjust func(f *dashFixture, c *Config), extra ...*goose.Migration) *dashFixture {
	tb.Helper()
	dir := tb.TempDir()
	mgr := dashManager(tb, dir, extra...)
	f := &dashFixture{t: tb, mgr: mgr, metrics: tenancy.NewRequestMetrics(), dir: dir,
		backupClock: testclock.New(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))}
	f.backups = f.backupService(backups.Config{})
	cfg := &Config{Manager: mgr, ControlPlane: cpOf(mgr), Metrics: f.metrics, Backups: f.backups, Logger: slog.New(slog.DiscardHandler)}
	if adjust != nil {
		adjust(f, cfg)
	}
	var err error
	f.admin, err = New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	f.srv = httptest.NewServer(f.admin)
	tb.Cleanup(f.srv.Close)
	f.client = newBrowser(tb, f.srv)
	if _, err := cpOf(mgr).CreateAdminUser(context.Background(), dashEmail, dashPassword); err != nil {
		tb.Fatal(err)
	}
	f.signIn(f.client)
	return f
}

// backupService is a backup service over the fixture's Manager: c with
// the defaults filled in (SQLite tenants, archives under dir/backups, the
// fixture's backup clock).
func (f *dashFixture) backupService(c backups.Config) *backups.Service {
	f.t.Helper()
	c.Manager = f.mgr
	if c.Open == nil {
		c.Open = func(ctx context.Context, url string) (backups.Destination, error) { return destination.Open(ctx, url) }
	}
	if c.Destination == "" {
		c.Destination = "file://" + filepath.Join(f.dir, "backups")
	}
	c.Engine, c.Mode, c.TempDir = "sqlite", "sqlite", f.dir
	if c.Now == nil {
		c.Now = f.backupClock.Now
	}
	svc, err := backups.New(c)
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

// newBrowser returns a client that keeps cookies and does not follow
// redirects, so tests see each answer. Each has its own cookies: it is a
// copy of the server's client (which srv.Client returns shared).
func newBrowser(tb testing.TB, srv *httptest.Server) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := new(http.Client)
	*c = *srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// signIn signs c in through the sign-in form.
func (f *dashFixture) signIn(c *http.Client) {
	f.t.Helper()
	res := f.do(c, http.MethodPost, "/admin/login", url.Values{"email": {dashEmail}, "password": {dashPassword}}, nil)
	if res.code != http.StatusSeeOther {
		f.t.Fatalf("sign-in: %d %s", res.code, res.body)
	}
	u, _ := url.Parse(f.srv.URL + "/admin/")
	found := false
	for _, ck := range c.Jar.Cookies(u) {
		found = found || ck.Name == SessionCookie
	}
	if !found {
		f.t.Fatal("sign-in set no session cookie")
	}
}

// answer is one response, read.
type answer struct {
	code     int
	body     string
	header   http.Header
	location string
}

// do sends a request through c; a non-nil form is sent as the body,
// url-encoded; header adds headers.
func (f *dashFixture) do(c *http.Client, method, path string, form url.Values, header http.Header) answer {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return answer{code: res.StatusCode, body: string(b), header: res.Header, location: res.Header.Get("Location")}
}

// get fetches a page as the signed-in admin.
func (f *dashFixture) get(path string) answer {
	f.t.Helper()
	return f.do(f.client, http.MethodGet, path, nil, nil)
}

// post submits a form as the signed-in admin.
func (f *dashFixture) post(path string, form url.Values) answer {
	f.t.Helper()
	return f.do(f.client, http.MethodPost, path, form, nil)
}

// postFollow submits a form, expects 303 to want and returns the page it
// leads to (which shows the flash message).
func (f *dashFixture) postFollow(path string, form url.Values, want string) answer {
	f.t.Helper()
	res := f.post(path, form)
	if res.code != http.StatusSeeOther || res.location != want {
		f.t.Fatalf("POST %s: got %d to %q, want 303 to %q\n%s", path, res.code, res.location, want, res.body)
	}
	return f.get(res.location)
}

// create makes a tenant through the Manager.
func (f *dashFixture) create(name, domain string, mod ...func(*tenancy.CreateRequest)) *tenancy.Tenant {
	f.t.Helper()
	req := tenancy.CreateRequest{Name: name, Domain: domain, Migrate: true}
	for _, m := range mod {
		m(&req)
	}
	t, err := f.mgr.Create(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

// mustContain fails unless body contains each of want.
func mustContain(tb testing.TB, body string, want ...string) {
	tb.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			tb.Errorf("page lacks %q:\n%s", w, clip(body))
		}
	}
}

// mustNotContain fails if body contains any of bad.
func mustNotContain(tb testing.TB, body string, bad ...string) {
	tb.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			tb.Errorf("page has %q:\n%s", b, clip(body))
		}
	}
}

// clip keeps failure output readable: the page's main part, at most 4 KB.
func clip(body string) string {
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 4000 {
		body = body[:4000] + "…"
	}
	return body
}

// rowUUIDs lists the data-uuid of the tenants table's rows, in order.
func rowUUIDs(body string) []string {
	var out []string
	rest := body
	for {
		i := strings.Index(rest, `<tr data-uuid="`)
		if i < 0 {
			return out
		}
		rest = rest[i+len(`<tr data-uuid="`):]
		j := strings.IndexByte(rest, '"')
		out = append(out, rest[:j])
		rest = rest[j:]
	}
}
