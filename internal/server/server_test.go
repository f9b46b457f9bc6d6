package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/storage"
)

// fixture is an assembled server over a temporary data directory.
type fixture struct {
	srv     *Server
	mgr     *tenancy.Manager
	cp      *controlplane.ControlPlane
	tenants []*tenancy.Tenant
}

func newFixture(t testing.TB, tenants int, adjust ...func(*Config)) *fixture {
	t.Helper()
	return newFixtureOn(t, tenants, &testenv.ManagerConfig{Demo: true}, adjust...)
}

// newFixtureOn is newFixture with the Manager of mc.
func newFixtureOn(t testing.TB, tenants int, mc *testenv.ManagerConfig, adjust ...func(*Config)) *fixture {
	t.Helper()
	f := newUnstartedFixtureOn(t, tenants, mc, adjust...)
	if err := f.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.srv.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return f
}

// newUnstartedFixture is newFixture without starting the server's
// background work (for tests of Serve, which starts it).
func newUnstartedFixture(t testing.TB, tenants int, adjust ...func(*Config)) *fixture {
	t.Helper()
	return newUnstartedFixtureOn(t, tenants, &testenv.ManagerConfig{Demo: true}, adjust...)
}

func newUnstartedFixtureOn(t testing.TB, tenants int, mc *testenv.ManagerConfig, adjust ...func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mgr, st := testenv.NewManager(t, dir, mc)
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{mgr: mgr, cp: testenv.ControlPlane(t, st)}
	for i := range tenants {
		tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.example.test", i), Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		f.tenants = append(f.tenants, tn)
	}
	cfg := &Config{Manager: mgr, ControlPlane: f.cp, Storage: files, DataDir: dir, Watcher: st, AccessFlushInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	for _, fn := range adjust {
		fn(cfg)
	}
	f.srv, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// do serves one request through the whole handler.
func (f *fixture) do(method, host, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://"+host+path, body)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func decodeData[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var env struct {
		Data T `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("decoding %q: %v", w.Body.String(), err)
	}
	return env.Data
}

func multipartFile(name, content string) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte(content))
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func TestDemoApplication(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	a, b := f.tenants[0], f.tenants[1]
	host := a.PrimaryDomain() + ":8080"

	w := f.do("GET", host, "/api/whoami", nil)
	var who map[string]string
	json.Unmarshal(w.Body.Bytes(), &who)
	if w.Code != 200 || who["uuid"] != a.UUID || who["name"] != a.Name || who["status"] != "active" {
		t.Fatalf("whoami: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", host, "/api/notes", jsonBody(map[string]string{"body": "hello"}), "Content-Type", "application/json"); w.Code != 201 {
		t.Fatalf("add note: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{`{"body": ""}`, `{"body": 1}`, `{"body": "x", "extra": 1}`, `not json`, `{"body":"x"} {}`} {
		if w := f.do("POST", host, "/api/notes", strings.NewReader(bad)); w.Code < 400 || w.Code >= 500 {
			t.Errorf("bad note %q: %d", bad, w.Code)
		}
	}
	if w := f.do("POST", host, "/api/notes", strings.NewReader(`{"body":"x"}`), "Content-Type", "text/plain"); w.Code != 415 {
		t.Errorf("wrong content type: %d", w.Code)
	}
	if got := decodeData[[]demo.Note](t, f.do("GET", host, "/api/notes", nil)); len(got) != 1 || got[0].Body != "hello" {
		t.Fatalf("notes: %+v", got)
	}
	var count map[string]int
	json.Unmarshal(f.do("GET", b.PrimaryDomain(), "/api/notes/count", nil).Body.Bytes(), &count)
	if count["count"] != 0 {
		t.Fatalf("tenant b sees a's notes: %v", count)
	}
	if w := f.do("GET", host, "/", nil); w.Code != 200 || !strings.Contains(w.Body.String(), a.Name) || !strings.Contains(w.Body.String(), "hello") {
		t.Fatalf("home: %d %s", w.Code, w.Body)
	}

	body, ct := multipartFile("../../etc/report.txt", "a's report")
	if w := f.do("POST", host, "/api/files", body, "Content-Type", ct); w.Code != 201 {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", host, "/api/files/report.txt", nil); w.Code != 200 || w.Body.String() != "a's report" {
		t.Fatalf("download: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", b.PrimaryDomain(), "/api/files/report.txt", nil); w.Code != 404 {
		t.Fatalf("tenant b reads a's file: %d", w.Code)
	}
	for _, p := range []string{"/api/files/..", "/api/files/%2e%2e%2fcatalog.sqlite", "/api/files/.hidden"} {
		if w := f.do("GET", host, p, nil); w.Code == 200 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}

	if w := f.do("PUT", host, "/api/cache/k", jsonBody(map[string]string{"value": "va"})); w.Code != 200 {
		t.Fatalf("cache put: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", b.PrimaryDomain(), "/api/cache/k", nil); w.Code != 404 {
		t.Fatalf("tenant b reads a's cache: %d %s", w.Code, w.Body)
	}

	if w := f.do("POST", host, "/api/jobs/echo", jsonBody(map[string]string{"message": "from a job"})); w.Code != 202 {
		t.Fatalf("enqueue: %d %s", w.Code, w.Body)
	}
	var notes []demo.Note
	if !testwait.Poll(testwait.DefaultTimeout, func() bool {
		notes = decodeData[[]demo.Note](t, f.do("GET", host, "/api/notes", nil))
		return len(notes) == 2 && notes[0].Body == "echo: from a job"
	}) {
		t.Fatalf("echo job did not write its note: %+v", notes)
	}
}

func TestGateAndCentral(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 1)
	tn := f.tenants[0]
	host := tn.PrimaryDomain()

	if w := f.do("GET", "nobody.example.test", "/api/whoami", nil); w.Code != 404 {
		t.Fatalf("unknown host: %d", w.Code)
	}
	// The central page is public: it names no tenant.
	if w := f.do("GET", "localhost:8080", "/", nil); w.Code != 200 || strings.Contains(w.Body.String(), host) ||
		strings.Contains(w.Body.String(), tn.Name) || !strings.Contains(w.Body.String(), `href="/admin/"`) ||
		!strings.Contains(w.Body.String(), `href="/tenancy/openapi.json"`) {
		t.Fatalf("central page: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "127.0.0.1", "/healthz", nil); w.Code != 200 {
		t.Fatalf("healthz: %d", w.Code)
	}
	if w := f.do("GET", "localhost", "/readyz", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"catalog"`) {
		t.Fatalf("readyz: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "localhost", "/metrics", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "tenancy_tenants{status=\"active\"} 1") {
		t.Fatalf("metrics: %d %s", w.Code, w.Body)
	}
	// The REST API is mounted on central hosts, only there, and needs a key.
	if w := f.do("GET", "localhost", "/tenancy/tenants", nil); w.Code != 401 {
		t.Fatalf("API without a key: %d %s", w.Code, w.Body)
	}
	_, key, err := f.cp.CreateAPIKey(ctx, "test", []controlplane.Scope{controlplane.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", "localhost", "/tenancy/tenants/"+tn.UUID, nil, "X-API-Key", key); w.Code != 200 || !strings.Contains(w.Body.String(), tn.UUID) {
		t.Fatalf("API with a key: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", host, "/tenancy/tenants", nil, "X-API-Key", key); w.Code != 404 {
		t.Fatalf("API on a tenant host: %d", w.Code)
	}
	if w := f.do("GET", "localhost", "/t/"+host+"/api/whoami", nil); w.Code != 200 || !strings.Contains(w.Body.String(), tn.UUID) {
		t.Fatalf("path resolver: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "localhost", "/api/whoami", nil, "X-Tenant", tn.UUID); w.Code != 404 {
		t.Fatalf("header resolver must be off by default: %d %s", w.Code, w.Body)
	}

	for _, c := range []struct {
		status tenancy.Status
		word   string
	}{{tenancy.StatusBlocked, "Blocked"}, {tenancy.StatusSuspended, "Suspended"}, {tenancy.StatusInactive, "Inactive"}} {
		if _, err := f.mgr.ChangeStatus(ctx, host, tenancy.StatusChange{Status: c.status, Reason: "reason " + string(c.status)}); err != nil {
			t.Fatal(err)
		}
		w := f.do("GET", host, "/api/whoami", nil, "Accept", "text/html")
		// The reason is the operator's: visitors never see it.
		if w.Code != 403 || !strings.Contains(w.Body.String(), c.word) || strings.Contains(w.Body.String(), "reason "+string(c.status)) {
			t.Fatalf("%s page: %d %s", c.status, w.Code, w.Body)
		}
		w = f.do("GET", host, "/api/whoami", nil, "Accept", "application/json")
		var env map[string]any
		json.Unmarshal(w.Body.Bytes(), &env)
		if w.Code != 403 || env["success"] != false || env["code"] != float64(403) || env["status"] != string(c.status) || env["timestamp"] == nil ||
			strings.Contains(w.Body.String(), "reason "+string(c.status)) {
			t.Fatalf("%s json: %d %s", c.status, w.Code, w.Body)
		}
	}
	if _, err := f.mgr.ChangeStatus(ctx, host, tenancy.StatusChange{Status: tenancy.StatusActive, Reason: ""}); err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", host, "/api/whoami", nil); w.Code != 200 {
		t.Fatalf("reactivated: %d", w.Code)
	}

	mt, err := f.mgr.SetMaintenance(ctx, host, true, "Upgrading the database")
	if err != nil {
		t.Fatal(err)
	}
	w := f.do("GET", host, "/api/whoami", nil)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "Upgrading the database") {
		t.Fatalf("maintenance: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := f.do("GET", host, tenancy.MaintenanceBypassPrefix+"wrong", nil); w.Code != 503 {
		t.Fatalf("wrong secret: %d", w.Code)
	}
	w = f.do("GET", host, tenancy.MaintenanceBypassPrefix+mt.MaintenanceSecret, nil)
	cookies := w.Result().Cookies()
	if w.Code != 303 || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("bypass: %d %v", w.Code, cookies)
	}
	if w := f.do("GET", host, "/api/whoami", nil, "Cookie", cookies[0].Name+"="+cookies[0].Value); w.Code != 200 {
		t.Fatalf("with bypass cookie: %d", w.Code)
	}
	if _, err := f.mgr.SetMaintenance(ctx, host, false, ""); err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", host, "/api/whoami", nil); w.Code != 200 {
		t.Fatalf("after maintenance: %d", w.Code)
	}
	if w := f.do("POST", host, "/api/notes", strings.NewReader(`{"body":"`+strings.Repeat("x", 11<<20)+`"}`)); w.Code != 413 {
		t.Fatalf("huge body: %d", w.Code)
	}

	// Last access reaches the catalog in a batch, not per request.
	// The flush runs every AccessFlushInterval on the server's own goroutine.
	testwait.Eventually(t, "last access to be recorded", func() bool {
		got, err := f.mgr.Get(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastAccessedAt != nil
	})
	if st, ok := f.srv.Metrics().Tenant(tn.ID); !ok || st.Requests == 0 || st.Errors4xx == 0 {
		t.Fatalf("metrics: %+v", st)
	}
}

// TestLeakSuite runs randomized concurrent traffic over many tenants and
// checks that every response and every stored item belongs to the tenant
// that asked, and that status changes apply to the next request.
func TestLeakSuite(t *testing.T) {
	t.Parallel()
	leakSuite(t, newFixture(t, leakTenants), 100_000)
}

// leakTenants is how many tenants the leak suite's fixture must have.
const leakTenants = 50

// leakSuite runs the leak suite's traffic, requests in all, on f.
func leakSuite(t *testing.T, f *fixture, requests int64) {
	const (
		tenants = leakTenants
		workers = 8
	)
	ctx := context.Background()
	var (
		// Counted before the request is made, so a count read by a
		// concurrent request can never exceed them.
		notesIssued [tenants]atomic.Int64
		jobsIssued  [tenants]atomic.Int64
		done        atomic.Int64
		failures    atomic.Int64
		blockMu     sync.RWMutex // held for writing while a tenant is blocked for the status check
	)
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 20 {
			t.Errorf(format, args...)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for done.Add(1) <= requests {
				blockMu.RLock()
				i := rng.IntN(tenants)
				tn := f.tenants[i]
				host := tn.PrimaryDomain()
				marker := tn.UUID
				switch p := rng.IntN(100); {
				case p < 35:
					res := f.do("GET", host, "/api/whoami", nil)
					if res.Code != 200 || !strings.Contains(res.Body.String(), `"uuid":"`+marker+`"`) {
						fail("whoami for %s: %d %s", host, res.Code, res.Body)
					}
				case p < 55:
					res := f.do("GET", host, "/api/notes/count", nil)
					var c map[string]int64
					json.Unmarshal(res.Body.Bytes(), &c)
					if res.Code != 200 || c["count"] > notesIssued[i].Load()+jobsIssued[i].Load() {
						fail("count for %s: %d %s (issued %d)", host, res.Code, res.Body, notesIssued[i].Load())
					}
				case p < 70:
					notesIssued[i].Add(1)
					res := f.do("POST", host, "/api/notes", jsonBody(map[string]string{"body": marker + " note"}))
					if res.Code != 201 {
						fail("note for %s: %d %s", host, res.Code, res.Body)
					}
				case p < 85:
					key := fmt.Sprint("k", rng.IntN(20))
					if rng.IntN(2) == 0 {
						if res := f.do("PUT", host, "/api/cache/"+key, jsonBody(map[string]string{"value": marker})); res.Code != 200 {
							fail("cache put %s: %d", host, res.Code)
						}
					} else if res := f.do("GET", host, "/api/cache/"+key, nil); res.Code == 200 && !strings.Contains(res.Body.String(), marker) {
						fail("cache of %s returned %s", host, res.Body)
					} else if res.Code != 200 && res.Code != 404 {
						fail("cache get %s: %d", host, res.Code)
					}
				case p < 93:
					name := fmt.Sprintf("f%d.txt", rng.IntN(5))
					if rng.IntN(2) == 0 {
						body, ct := multipartFile(name, marker)
						if res := f.do("POST", host, "/api/files", body, "Content-Type", ct); res.Code != 201 {
							fail("upload %s: %d %s", host, res.Code, res.Body)
						}
					} else if res := f.do("GET", host, "/api/files/"+name, nil); res.Code == 200 && res.Body.String() != marker {
						fail("file of %s returned %q", host, res.Body)
					}
				case p < 98:
					res := f.do("GET", host, "/api/notes", nil)
					if res.Code != 200 {
						fail("notes %s: %d", host, res.Code)
					}
					for _, n := range decodeData[[]demo.Note](t, res) {
						if !strings.Contains(n.Body, marker) {
							fail("tenant %s sees note %q", host, n.Body)
						}
					}
				default:
					jobsIssued[i].Add(1)
					res := f.do("POST", host, "/api/jobs/echo", jsonBody(map[string]string{"message": marker}))
					if res.Code != 202 {
						fail("echo %s: %d %s", host, res.Code, res.Body)
					}
				}
				blockMu.RUnlock()
			}
		})
	}
	// Status changes take effect on the next request, while traffic runs:
	// the k-th change waits until the workers have issued k+1 elevenths of
	// the requests, so all ten land in the middle of the traffic.
	wg.Go(func() {
		for k := range 10 {
			progress := (int64(k) + 1) * requests / 11
			if !testwait.Poll(testwait.DefaultTimeout, func() bool { return done.Load() >= progress }) {
				fail("traffic did not reach %d requests before status change %d", progress, k)
			}
			tn := f.tenants[k]
			blockMu.Lock()
			if _, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusBlocked, Reason: "leak suite"}); err != nil {
				fail("block: %v", err)
			}
			if res := f.do("GET", tn.PrimaryDomain(), "/api/whoami", nil); res.Code != 403 {
				fail("blocked tenant %s answered %d", tn.PrimaryDomain(), res.Code)
			}
			if _, err := f.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusActive, Reason: ""}); err != nil {
				fail("unblock: %v", err)
			}
			if res := f.do("GET", tn.PrimaryDomain(), "/api/whoami", nil); res.Code != 200 {
				fail("reactivated tenant %s answered %d", tn.PrimaryDomain(), res.Code)
			}
			blockMu.Unlock()
		}
	})
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d failures", failures.Load())
	}

	// Every stored item belongs to its tenant: wait for the jobs, then read each database.
	deadline := time.Now().Add(3 * time.Minute) // the jobs drain at their own pace on a loaded machine
	for i, tn := range f.tenants {
		want := notesIssued[i].Load() + jobsIssued[i].Load()
		var total int64
		if !testwait.Poll(time.Until(deadline), func() bool {
			var foreign int64
			err := f.mgr.Run(ctx, tn, func(ctx context.Context) error {
				db, err := tenancy.DB(ctx)
				if err != nil {
					return err
				}
				q := `SELECT count(*), count(*) FILTER (WHERE body NOT LIKE '%' || ? || '%') FROM notes`
				if tenancy.Dialect(ctx) == "postgres" {
					q = strings.Replace(q, "?", "$1", 1)
				}
				return db.QueryRowContext(ctx, q, tn.UUID).Scan(&total, &foreign)
			})
			if err != nil {
				t.Fatal(err)
			}
			if foreign != 0 {
				t.Fatalf("tenant %s holds %d notes of other tenants", tn.PrimaryDomain(), foreign)
			}
			if total > want {
				t.Fatalf("tenant %s holds %d notes, want %d", tn.PrimaryDomain(), total, want)
			}
			return total == want
		}) {
			t.Fatalf("tenant %s holds %d notes, want %d", tn.PrimaryDomain(), total, want)
		}
	}
	t.Logf("%d requests over %d tenants; connection manager %+v", requests, tenants, f.mgr.Databases().Stats())
}
