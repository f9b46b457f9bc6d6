package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzTarget is a route a fuzz test sends requests to; {uuid} and
// {domainId} are replaced with a real tenant's.
type fuzzTarget struct{ method, path string }

var bodyTargets = []fuzzTarget{
	{"POST", "/tenancy/tenants/create"},
	{"POST", "/tenancy/tenants"},
	{"PUT", "/tenancy/tenants/{uuid}"},
	{"PUT", "/tenancy/tenants/{uuid}/status"},
	{"POST", "/tenancy/tenants/{uuid}/block"},
	{"POST", "/tenancy/tenants/{uuid}/domains/create"},
	{"PUT", "/tenancy/tenants/{uuid}/domains/{domainId}"},
	{"POST", "/tenancy/tenants/{uuid}/migrate"},
	{"POST", "/tenancy/tenants/{uuid}/seed"},
	{"POST", "/tenancy/tenants/{uuid}/reset"},
	{"PUT", "/tenancy/bulk-status-update"},
	{"POST", "/tenancy/migrate-all"},
	{"POST", "/tenancy/seed-all-tenants"},
	{"POST", "/tenancy/clear-cache"},
	{"POST", "/tenancy/maintenance/on"},
	{"POST", "/tenancy/optimize-connections"},
}

var queryTargets = []fuzzTarget{
	{"GET", "/tenancy/tenants"},
	{"GET", "/tenancy/tenants/{uuid}"},
	{"GET", "/tenancy/audit"},
	{"GET", "/tenancy/performance"},
	{"DELETE", "/tenancy/tenants/{uuid}"},
}

// fuzzFixture is a fixture with one migrated tenant for fuzz targets.
type fuzzFixture struct {
	*fixture
	uuid     string
	domainID string
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	fx := newFixture(f, fixtureOptions{resolver: true})
	tn := fx.tenant("Fuzz", "fuzz.example.test", true)
	fx.tenant("Other", "other.example.test", false)
	return &fuzzFixture{fixture: fx, uuid: tn.UUID, domainID: fmt.Sprint(tn.Domains[0].ID)}
}

func (fx *fuzzFixture) path(t fuzzTarget) string {
	return strings.NewReplacer("{uuid}", fx.uuid, "{domainId}", fx.domainID).Replace(t.path)
}

// serve sends a raw request and checks the no-5xx, envelope and
// no-change-on-failure rules.
func (fx *fuzzFixture) serve(t *testing.T, r *http.Request) {
	t.Helper()
	r.RemoteAddr = "192.0.2.1:1234"
	if _, ok := r.Header["X-Api-Key"]; !ok {
		r.Header.Set("X-API-Key", fx.admin)
	}
	before := catalogJSON(t, fx.mgr)
	w := httptest.NewRecorder()
	fx.api.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("%s %s: %d %s", r.Method, r.URL.String(), w.Code, w.Body.String())
	}
	if w.Code >= 300 && w.Code < 400 {
		// The mux redirects unclean paths; nothing ran.
		if catalogJSON(t, fx.mgr) != before {
			t.Fatalf("%s %q: a redirect changed the catalog", r.Method, r.URL.Path)
		}
		return
	}
	res := &response{code: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if err := jsonUnmarshal(res.body, &res.env); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %q", r.Method, r.URL.String(), w.Code, w.Body.String())
	}
	checkEnvelope(t, res)
	if w.Code >= 400 && catalogJSON(t, fx.mgr) != before {
		t.Fatalf("%s %s: failed with %d but changed the catalog: %s", r.Method, r.URL.String(), w.Code, w.Body.String())
	}
}

func FuzzBody(f *testing.F) {
	seeds := []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"name":"A","domain":"a.example.test"}`,
		`{"name":"Acme Corp","domain":"acme.example.com","status":"active","run_migrations":true}`,
		`{"name":"","domain":""}`, `{"name":"x","domain":"fuzz.example.test"}`, `{"name":"x","domain":"y.example.test","database_name":"Bad"}`,
		`{"status":"suspended","reason":"Payment overdue","notify":true}`, `{"status":"nope"}`, `{"status":null}`,
		`{"domain":"subdomain.example.com","is_primary":false,"ssl_enabled":true}`, `{"domain":"other.example.test"}`, `{"is_primary":false}`,
		`{"fresh":false,"seed":false,"force":true,"path":"database/migrations/tenant"}`, `{"timeout":-1}`, `{"timeout":1e30}`,
		`{"class":"DatabaseSeeder","force":true}`, `{"class":"../../etc"}`, `{"confirm":false}`, `{"confirm":"true"}`,
		`{"tenant_uuids":["550e8400-e29b-41d4-a716-446655440000"],"status":"suspended"}`, `{"tenant_uuids":"x"}`,
		`{"fresh":false,"seed":false,"filter":{"status":"active","created_after":"2024-01-01"}}`, `{"filter":{"status":[1]}}`, `{"filter":7}`,
		`{"tenant_uuid":"550e8400-e29b-41d4-a716-446655440000","keys":["user_preferences"],"tags":["t"]}`,
		`{"message":"` + strings.Repeat("m", 70_000) + `"}`, `{"settings":{"a":{"b":[1,2,{"c":null}]}}}`, `{"settings":` + strings.Repeat("[", 20000) + `}`,
		`{"name":"\u0000\u0007"}`, `{"name":"` + "\xff\xfe" + `"}`, `{"a":1}{"b":2}`, `{"name":"x"`, `{"notes":` + strings.Repeat("1", 400) + `}`,
	}
	for _, s := range seeds {
		for i := range bodyTargets {
			f.Add(uint8(i), s, "application/json")
		}
	}
	f.Add(uint8(0), `{"name":"x","domain":"y.example.test"}`, "text/plain")
	f.Add(uint8(1), `x`, "")
	f.Add(uint8(2), `{}`, "application/merge-patch+json")
	f.Add(uint8(3), `{}`, "application/json; charset=\"")
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, target uint8, body, contentType string) {
		tg := bodyTargets[int(target)%len(bodyTargets)]
		r := httptest.NewRequest(tg.method, "http://central.test"+fx.path(tg), strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		fx.serve(t, r)
	})
}

func FuzzQuery(f *testing.F) {
	seeds := []string{
		"", "page=1&per_page=20&status=active&sort=name&order=asc", "per_page=0", "per_page=100000000000000000000", "page=-1",
		"page=1000000000&per_page=100", "search=%25", "search=_", "search=%00", "search=" + strings.Repeat("a", 300), "sort=name;DROP TABLE tenants",
		"with_stats=true", "with_stats=2", "include=domains,stats,health,recent_activity", "include=,,", "include=x",
		"tenant_uuid=550e8400-e29b-41d4-a716-446655440000", "tenant_uuid=x", "since=2024-01-01", "since=2024-13-45", "limit=1001", "actor=%ff",
		"period=week", "period=%", "force=true", "force=false&backup=true", "status=ACTIVE", "a=1&a=2&;", "%zz",
	}
	for _, s := range seeds {
		for i := range queryTargets {
			f.Add(uint8(i), s)
		}
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, target uint8, rawQuery string) {
		tg := queryTargets[int(target)%len(queryTargets)]
		r := httptest.NewRequest(tg.method, "http://central.test/", http.NoBody)
		r.URL.Path = fx.path(tg)
		r.URL.RawQuery = rawQuery
		fx.serve(t, r)
	})
}

func FuzzPath(f *testing.F) {
	seeds := []string{
		"tenants/{uuid}", "tenants/{uuid}/domains/{domainId}", "tenants/not-a-uuid", "tenants/{uuid}/domains/-1",
		"tenants/{uuid}/domains/99999999999999999999", "tenants/550E8400-E29B-41D4-A716-446655440000", "tenants/{550e8400-e29b-41d4-a716-446655440000}",
		"tenants/urn:uuid:550e8400-e29b-41d4-a716-446655440000", "tenants/fuzz.example.test", "jobs/job_x", "jobs/../../etc/passwd",
		"tenants//block", "tenants/{uuid}/status/", "tenants/%00", "tenants/\x00", "", "/", "cache/clear-all/x", "tenants/{uuid}/resources",
		"openapi.json", "tenants/{uuid}/domains/{domainId}/x", "tenants/{uuid}/reset", strings.Repeat("a/", 500),
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	for _, s := range seeds {
		for i := range methods {
			f.Add(uint8(i), s)
		}
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, method uint8, path string) {
		m := methods[int(method)%len(methods)]
		r := httptest.NewRequest(m, "http://central.test/", http.NoBody)
		r.URL.Path = "/tenancy/" + strings.NewReplacer("{uuid}", fx.uuid, "{domainId}", fx.domainID).Replace(path)
		if m == "HEAD" {
			// HEAD answers have no body to check.
			w := httptest.NewRecorder()
			r.RemoteAddr = "192.0.2.1:1"
			r.Header.Set("X-API-Key", fx.admin)
			fx.api.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("HEAD %q: %d", r.URL.Path, w.Code)
			}
			return
		}
		fx.serve(t, r)
	})
}

// FuzzHeaders covers the credential and request id headers.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"", "x", "tnk_", "tnk_abcdefgh_", "tnk_abcdefgh_x", "Bearer ", "Bearer tnk_abcdefgh_x", strings.Repeat("k", 5000), "\x00"} {
		f.Add(s, s, s)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, key, authorization, requestID string) {
		r := httptest.NewRequest("PUT", "http://central.test"+"/tenancy/tenants/"+fx.uuid, strings.NewReader(`{"notes":"fuzzed"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header["X-Api-Key"] = []string{key}
		r.Header["Authorization"] = []string{authorization}
		r.Header["X-Request-Id"] = []string{requestID}
		fx.serve(t, r)
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
