package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/storage"
)

// fixture is an API over a Manager on a temporary data directory, with an
// admin, a write and a read key.
type fixture struct {
	tb      testing.TB
	api     *API
	mgr     *tenancy.Manager
	cp      *controlplane.ControlPlane
	cache   *cache.Memory
	metrics *tenancy.RequestMetrics
	dir     string
	clock   *testclock.Clock

	admin, write, read string
}

type fixtureOptions struct {
	// config adjusts the API's Config before New.
	config func(*Config)
	// noKeys creates no API keys.
	noKeys bool
	// resolver serves GET tenant from a resolve.Cache.
	resolver bool
}

func newManager(tb testing.TB, dir string) (*tenancy.Manager, *controlplane.ControlPlane) {
	tb.Helper()
	mgr, st := testenv.NewManager(tb, dir, &testenv.ManagerConfig{Demo: true, DemoGoSeeders: true, CentralDomains: []string{"localhost", "127.0.0.1"}})
	return mgr, testenv.ControlPlane(tb, st)
}

func newFixture(tb testing.TB, fo fixtureOptions) *fixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	mgr, cp := newManager(tb, dir)
	mem, err := cache.NewMemory(nil)
	if err != nil {
		tb.Fatal(err)
	}
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{tb: tb, mgr: mgr, cp: cp, cache: mem, metrics: tenancy.NewRequestMetrics(), dir: dir,
		clock: testclock.New(time.Date(2025, 8, 1, 14, 30, 0, 0, time.UTC))}
	cfg := &Config{
		Manager:      mgr,
		ControlPlane: cp,
		Cache:        mem,
		Metrics:      f.metrics,
		Storage:      files,
		DataDir:      dir,
		StartedAt:    f.clock.Now().Add(-time.Hour),
		Logger:       slog.New(slog.DiscardHandler),
	}
	if fo.resolver {
		res, err := resolve.NewCache(ctx, mgr, &resolve.CacheConfig{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { res.Close() })
		cfg.Resolver = res
	}
	if cfg.Backups, err = backups.New(backups.Config{
		Manager: mgr,
		Open: func(ctx context.Context, url string) (backups.Destination, error) {
			return destination.Open(ctx, url)
		},
		Destination: "file://" + filepath.Join(dir, "backups"),
		Files:       files.Path, Engine: "sqlite", Mode: "sqlite",
		ExportDir: filepath.Join(dir, "exports"),
	}); err != nil {
		tb.Fatal(err)
	}
	if fo.config != nil {
		fo.config(cfg)
	}
	if cfg.Now == nil {
		cfg.Now = f.clock.Now
	}
	f.api, err = New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.api.Close)
	if !fo.noKeys {
		f.admin = f.key("admin-key", controlplane.ScopeAdmin)
		f.write = f.key("write-key", controlplane.ScopeWrite)
		f.read = f.key("read-key", controlplane.ScopeRead)
	}
	return f
}

// key creates an API key and returns its secret.
func (f *fixture) key(name string, scopes ...controlplane.Scope) string {
	f.tb.Helper()
	_, secret, err := f.cp.CreateAPIKey(context.Background(), name, scopes)
	if err != nil {
		f.tb.Fatal(err)
	}
	return secret
}

// tenant creates a tenant through the Manager.
func (f *fixture) tenant(name, domain string, migrate bool) *tenancy.Tenant {
	f.tb.Helper()
	t, err := f.mgr.Create(context.Background(), tenancy.CreateRequest{Name: name, Domain: domain, Migrate: migrate})
	if err != nil {
		f.tb.Fatal(err)
	}
	return t
}

// get reads a tenant from the catalog; nil when it does not exist.
func (f *fixture) get(id string) *tenancy.Tenant {
	f.tb.Helper()
	t, err := f.mgr.Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return t
}

// catalog is every tenant as JSON, to compare before and after.
func (f *fixture) catalog() string { return catalogJSON(f.tb, f.mgr) }

// catalogJSON is every tenant of mgr as JSON.
func catalogJSON(tb testing.TB, mgr *tenancy.Manager) string {
	tb.Helper()
	var all []*tenancy.Tenant
	for page := 1; ; page++ {
		res, err := mgr.List(context.Background(), tenancy.ListOptions{Page: page, PerPage: tenancy.MaxPerPage, Sort: "created_at"})
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, res.Tenants...)
		if page >= res.LastPage() {
			break
		}
	}
	b, err := json.Marshal(all)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// req describes a request; zero fields take defaults (the admin key, JSON
// content type for a body, 192.0.2.1 as the client).
type req struct {
	method, path, body string
	key                string // X-API-Key; "-" for none
	bearer             string
	contentType        string
	remote             string
	header             map[string]string
}

// response is a recorded answer with its decoded envelope.
type response struct {
	code   int
	header http.Header
	body   []byte
	env    map[string]any
}

func (f *fixture) do(rq req) *response {
	f.tb.Helper()
	var body io.Reader = http.NoBody
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, "http://central.test"+rq.path, body)
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	} else {
		r.RemoteAddr = "192.0.2.1:1234"
	}
	switch rq.key {
	case "":
		if rq.bearer == "" {
			r.Header.Set("X-API-Key", f.admin)
		}
	case "-":
	default:
		r.Header.Set("X-API-Key", rq.key)
	}
	if rq.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.contentType != "" {
		r.Header.Set("Content-Type", rq.contentType)
	} else if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, r)
	res := &response{code: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if err := json.Unmarshal(res.body, &res.env); err != nil {
		f.tb.Fatalf("%s %s: answer is not JSON (%d): %q", rq.method, rq.path, w.Code, w.Body.String())
	}
	return res
}

// expect checks the status and the envelope's shape.
func (res *response) expect(tb testing.TB, code int) *response {
	tb.Helper()
	if res.code != code {
		tb.Fatalf("status %d, want %d: %s", res.code, code, res.body)
	}
	checkEnvelope(tb, res)
	return res
}

// checkEnvelope checks the success or error envelope.
func checkEnvelope(tb testing.TB, res *response) {
	tb.Helper()
	if _, ok := res.env["success"]; !ok {
		if _, isDoc := res.env["openapi"]; isDoc {
			return
		}
		tb.Fatalf("no success field: %s", res.body)
	}
	ts, _ := res.env["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		tb.Fatalf("timestamp %q is not RFC 3339: %s", ts, res.body)
	}
	if res.code < 400 {
		if res.env["success"] != true {
			tb.Fatalf("success answer without success: true: %s", res.body)
		}
		if _, ok := res.env["data"]; !ok {
			tb.Fatalf("success answer without data: %s", res.body)
		}
		return
	}
	if res.env["success"] != false {
		tb.Fatalf("error answer without success: false: %s", res.body)
	}
	if code, _ := res.env["code"].(float64); int(code) != res.code {
		tb.Fatalf("code %v, want %d: %s", res.env["code"], res.code, res.body)
	}
	if e, _ := res.env["error"].(string); e != http.StatusText(res.code) {
		tb.Fatalf("error %q, want %q", e, http.StatusText(res.code))
	}
	if m, _ := res.env["message"].(string); m == "" {
		tb.Fatalf("error answer without message: %s", res.body)
	}
}

// data returns the envelope's data as an object.
func (res *response) data(tb testing.TB) map[string]any {
	tb.Helper()
	d, ok := res.env["data"].(map[string]any)
	if !ok {
		tb.Fatalf("data is not an object: %s", res.body)
	}
	return d
}

// list returns the envelope's data as an array.
func (res *response) list(tb testing.TB) []any {
	tb.Helper()
	d, ok := res.env["data"].([]any)
	if !ok {
		tb.Fatalf("data is not an array: %s", res.body)
	}
	return d
}

// fieldErrors returns the reasons given for a field of a 422.
func (res *response) fieldErrors(field string) []any {
	errs, _ := res.env["errors"].(map[string]any)
	reasons, _ := errs[field].([]any)
	return reasons
}

// expectField checks a 422 names field.
func (res *response) expectField(tb testing.TB, field string) {
	tb.Helper()
	res.expect(tb, http.StatusUnprocessableEntity)
	if len(res.fieldErrors(field)) == 0 {
		tb.Fatalf("422 does not name %q: %s", field, res.body)
	}
}

// jsonBody encodes v.
func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// waitJob polls a job until it is no longer running.
func (f *fixture) waitJob(statusURL string) map[string]any {
	f.tb.Helper()
	var d map[string]any
	testwait.Eventually(f.tb, "job "+statusURL+" to finish", func() bool {
		d = f.do(req{method: "GET", path: statusURL}).expect(f.tb, http.StatusOK).data(f.tb)
		return d["state"] != jobRunning
	})
	return d
}

// big returns a body of n bytes of JSON.
func big(n int) string {
	var b bytes.Buffer
	b.WriteString(`{"name":"`)
	for b.Len() < n {
		b.WriteString("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	}
	b.WriteString(`","domain":"big.example.test"}`)
	return b.String()
}

func str(v any) string { return fmt.Sprint(v) }
