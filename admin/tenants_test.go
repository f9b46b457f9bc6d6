package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

func TestTenantRoutesNeedSignIn(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	anon := newBrowser(t, f.srv)
	base := "/admin/tenants/" + ten.UUID
	gets := []string{"/admin/tenants", "/admin/tenants?q=a", "/admin/tenants/new", base, base + "/edit", base + "/delete",
		"/admin/migrations", "/admin/migrations/runs/1", "/admin/migrations/runs/1/events"}
	for _, p := range gets {
		res := f.do(anon, http.MethodGet, p, nil, nil)
		if res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/admin/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the sign-in page", p, res.code, res.location)
		}
		if next, _ := url.Parse(res.location); next != nil && next.Query().Get("next") != p {
			t.Errorf("GET %s: next = %q", p, next.Query().Get("next"))
		}
	}
	posts := map[string]url.Values{
		"/admin/tenants":          {"name": {"X"}, "domain": {"x.test"}},
		base + "/edit":            {"name": {"Renamed"}},
		base + "/status":          {"status": {"blocked"}},
		base + "/maintenance":     {"on": {"1"}},
		base + "/domains":         {"domain": {"y.test"}},
		base + "/domains/remove":  {"domain": {"acme.test"}},
		base + "/domains/primary": {"domain": {"acme.test"}},
		base + "/delete":          {"confirm": {"Acme"}},
		"/admin/migrations":       {},
	}
	for p, form := range posts {
		res := f.do(anon, http.MethodPost, p, form, nil)
		if res.code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, res.code)
		}
	}
	got, err := f.mgr.Get(context.Background(), ten.UUID)
	if err != nil || got.Name != "Acme" || got.Status != tenancy.StatusActive || got.Maintenance || len(got.Domains) != 1 {
		t.Fatalf("tenant changed without a session: %+v, %v", got, err)
	}
	if res, _ := f.mgr.List(context.Background(), tenancy.ListOptions{}); res.Total != 1 {
		t.Fatalf("%d tenants, want 1", res.Total)
	}
	if runs, _ := f.admin.fleet.list(); len(runs) != 0 {
		t.Fatal("a fleet run started without a session")
	}
}

func TestTenantFormsRefuseCrossOriginPosts(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	base := "/admin/tenants/" + ten.UUID
	headers := []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	}
	posts := map[string]url.Values{
		"/admin/tenants":          {"name": {"X"}, "domain": {"x.test"}},
		base + "/status":          {"status": {"blocked"}},
		base + "/maintenance":     {"on": {"1"}},
		base + "/domains":         {"domain": {"y.test"}},
		base + "/delete":          {"confirm": {"Acme"}},
		base + "/edit":            {"name": {"Renamed"}},
		"/admin/migrations":       {},
		base + "/domains/primary": {"domain": {"acme.test"}},
	}
	for _, h := range headers {
		for p, form := range posts {
			if res := f.do(f.client, http.MethodPost, p, form, h); res.code != http.StatusForbidden {
				t.Errorf("cross-origin POST %s (%v): %d, want 403", p, h, res.code)
			}
		}
	}
	// The same form from the dashboard's own pages is accepted.
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}}
	if res := f.do(f.client, http.MethodPost, base+"/status", url.Values{"status": {"suspended"}}, same); res.code != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", res.code)
	}
	got, err := f.mgr.Get(context.Background(), ten.UUID)
	if err != nil || got.Status != tenancy.StatusSuspended || got.Name != "Acme" || got.Maintenance {
		t.Fatalf("after the posts: %+v, %v", got, err)
	}
}

// listFixture has 30 tenants: "Tenant 01" … "Tenant 30" (every third
// suspended), created in order, the even ones accessed (later numbers
// later), and "Acme Corp" on acme.test.
func listFixture(t *testing.T) (*dashFixture, []*tenancy.Tenant) {
	f := newDashFixture(t)
	ctx := context.Background()
	var all []*tenancy.Tenant
	now := time.Now().Add(-time.Hour)
	for i := 1; i <= 30; i++ {
		st := tenancy.StatusActive
		if i%3 == 0 {
			st = tenancy.StatusSuspended
		}
		ten := f.create(fmt.Sprintf("Tenant %02d", i), fmt.Sprintf("t%02d.example.test", i), func(r *tenancy.CreateRequest) {
			r.Migrate, r.Status = false, st
		})
		if i%2 == 0 {
			f.metrics.Observe(ten.ID, 200, time.Millisecond, now.Add(time.Duration(i)*time.Second))
		}
		all = append(all, ten)
	}
	if err := f.metrics.FlushAccess(ctx, f.mgr); err != nil {
		t.Fatal(err)
	}
	all = append(all, f.create("Acme Corp", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false }))
	return f, all
}

func TestTenantsList(t *testing.T) {
	t.Parallel()
	f, all := listFixture(t)
	uuids := func(ts []*tenancy.Tenant) []string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = t.UUID
		}
		return out
	}
	newestFirst := slices.Clone(all)
	slices.Reverse(newestFirst)

	res := f.get("/admin/tenants")
	if res.code != http.StatusOK {
		t.Fatalf("list: %d\n%s", res.code, clip(res.body))
	}
	mustContain(t, res.body, `id="tenants"`, `name="q"`, `href="/admin/tenants/new"`, "1–25 of 31 tenants", "page 1 of 2",
		`href="http://acme.test"`, `status-suspended`, `rel="next"`)
	if got := rowUUIDs(res.body); !slices.Equal(got, uuids(newestFirst[:25])) {
		t.Errorf("first page (newest first) = %v", got)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
	}

	cases := []struct {
		name, query string
		want        []*tenancy.Tenant
		text        []string
	}{
		{"second page", "page=2", newestFirst[25:], []string{"26–31 of 31", `rel="prev"`}},
		{"per page", "per_page=10&page=3", newestFirst[20:30], []string{"21–30 of 31", "page 3 of 4"}},
		{"search by name", "q=corp", all[30:], []string{"1–1 of 1 tenant "}},
		{"search by domain", "q=T07.EXAMPLE", all[6:7], nil},
		{"search without match", "q=nothing-like-this", nil, []string{"No tenant matches"}},
		{"status filter", "status=suspended&sort=name", filter(all, func(t *tenancy.Tenant) bool { return t.Status == tenancy.StatusSuspended }), []string{"1–10 of 10"}},
		{"search and status", "q=tenant+1&status=active&sort=name", []*tenancy.Tenant{all[9], all[10], all[12], all[13], all[15], all[16], all[18]}, nil},
		{"sort by name descending", "sort=name&order=desc&per_page=3", []*tenancy.Tenant{all[29], all[28], all[27]}, []string{`aria-sort="descending"`}},
		{"sort by last access", "sort=last_accessed_at&per_page=3", []*tenancy.Tenant{all[29], all[27], all[25]}, nil},
		{"sort by created ascending", "sort=created_at&order=asc&per_page=2", all[:2], nil},
		{"page after the last", "page=9", nil, []string{"past the last page"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := f.get("/admin/tenants?" + c.query)
			if res.code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", c.query, res.code, clip(res.body))
			}
			if got := rowUUIDs(res.body); !slices.Equal(got, uuids(c.want)) {
				t.Errorf("%s: rows %v, want %v", c.query, got, uuids(c.want))
			}
			mustContain(t, res.body, c.text...)
		})
	}

	// The filters stay in the form and in the pager's links.
	res = f.get("/admin/tenants?q=tenant&status=active&per_page=5&sort=name")
	mustContain(t, res.body, `value="tenant"`, `<option value="active" selected>`, `href="/admin/tenants?page=2&amp;per_page=5&amp;q=tenant&amp;sort=name&amp;status=active"`)
}

func filter(ts []*tenancy.Tenant, keep func(*tenancy.Tenant) bool) []*tenancy.Tenant {
	var out []*tenancy.Tenant
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func TestTenantsListRejectsBadQueries(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	cases := map[string]string{
		"page=0":                         "The page must be",
		"page=-3":                        "The page must be",
		"page=abc":                       "The page must be",
		"page=99999999999999999999":      "The page must be",
		"per_page=0":                     "per page must be",
		"per_page=101":                   "per page must be",
		"per_page=ten":                   "per page must be",
		"sort=password":                  "Unknown sort",
		"sort=name;drop":                 "could not be read",
		"order=sideways":                 "order must be",
		"status=deleted":                 "Unknown status",
		"q=" + strings.Repeat("x", 300):  "at most 255 bytes",
		"q=a%01b":                        "without control characters",
		"q=%ff%fe":                       "without control characters",
		"page=0&sort=x&status=y&order=z": "Unknown status",
	}
	for q, msg := range cases {
		res := f.get("/admin/tenants?" + q)
		if res.code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, res.code)
			continue
		}
		mustContain(t, res.body, msg, `id="list-errors"`, `name="q"`)
		mustNotContain(t, res.body, `<tr data-uuid=`)
	}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()

	res := f.get("/admin/tenants/new")
	if res.code != http.StatusOK {
		t.Fatalf("new: %d", res.code)
	}
	mustContain(t, res.body, `id="create-tenant"`, `name="name"`, `name="domain"`, `name="database_name"`,
		`name="migrate" value="1" checked`, `name="seed" value="1" checked`, `name="notes"`)

	form := url.Values{"name": {"Acme Corp"}, "domain": {"WWW.Acme.TEST"}, "notes": {"big customer"}, "migrate": {"1"}, "seed": {"1"}, "status": {"active"}}
	res = f.post("/admin/tenants", form)
	if res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/admin/tenants/") {
		t.Fatalf("create: %d to %q\n%s", res.code, res.location, clip(res.body))
	}
	ten, err := f.mgr.Get(ctx, "www.acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if res.location != "/admin/tenants/"+ten.UUID || ten.Name != "Acme Corp" || ten.Notes != "big customer" || ten.Status != tenancy.StatusActive {
		t.Fatalf("created %+v, sent to %s", ten, res.location)
	}
	st, err := f.mgr.MigrationStatus(ctx, ten)
	if err != nil || len(st) == 0 || !st[len(st)-1].Applied {
		t.Fatalf("created tenant not migrated: %+v, %v", st, err)
	}
	page := f.get(res.location)
	mustContain(t, page.body, `class="flash"`, "Created tenant Acme Corp.", "www.acme.test")
	entries, err := cpOf(f.mgr).Audit(ctx, controlplane.AuditFilter{TenantUUID: ten.UUID, Action: "tenant.create"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "admin:"+dashEmail {
		t.Fatalf("audit of the creation: %+v, %v", entries, err)
	}

	// Without the checkboxes the database is made but not migrated.
	res = f.post("/admin/tenants", url.Values{"name": {"Bare"}, "domain": {"bare.test"}, "database_name": {"bare_db"}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("create bare: %d\n%s", res.code, clip(res.body))
	}
	bare, err := f.mgr.Get(ctx, "bare.test")
	if err != nil || bare.DatabaseName != "bare_db" {
		t.Fatalf("bare: %+v, %v", bare, err)
	}
	if st, err := f.mgr.MigrationStatus(ctx, bare); err != nil || len(st) == 0 || st[0].Applied {
		t.Fatalf("bare tenant migrated: %+v, %v", st, err)
	}
}

func TestCreateTenantShowsErrorsInline(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	f.create("Taken", "taken.test", func(r *tenancy.CreateRequest) { r.DatabaseName, r.Migrate = "taken_db", false })

	valid := func(mod func(url.Values)) url.Values {
		v := url.Values{"name": {"Newco"}, "domain": {"newco.test"}, "migrate": {"1"}}
		mod(v)
		return v
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		field  string
		kept   string
	}{
		{"no name", valid(func(v url.Values) { v.Set("name", "  ") }), 422, "name", `value="newco.test"`},
		{"no domain", valid(func(v url.Values) { v.Del("domain") }), 422, "domain", `value="Newco"`},
		{"bad domain", valid(func(v url.Values) { v.Set("domain", "not a domain!") }), 422, "domain", `value="not a domain!"`},
		{"domain with a path", valid(func(v url.Values) { v.Set("domain", "newco.test/x") }), 422, "domain", `value="newco.test/x"`},
		{"taken domain", valid(func(v url.Values) { v.Set("domain", "TAKEN.test") }), 409, "domain", `value="TAKEN.test"`},
		{"bad database name", valid(func(v url.Values) { v.Set("database_name", "Bad-Name") }), 422, "database_name", `value="Bad-Name"`},
		{"taken database name", valid(func(v url.Values) { v.Set("database_name", "taken_db") }), 409, "database_name", `value="taken_db"`},
		{"shard without shards", valid(func(v url.Values) { v.Set("shard", "eu-1") }), 422, "shard", `value="eu-1"`},
		{"unknown status", valid(func(v url.Values) { v.Set("status", "deleted") }), 422, "status", `value="Newco"`},
		{"long name", valid(func(v url.Values) { v.Set("name", strings.Repeat("n", 256)) }), 422, "name", `value="newco.test"`},
		{"long notes", valid(func(v url.Values) { v.Set("notes", strings.Repeat("n", 65<<10)) }), 422, "notes", `value="Newco"`},
		{"control characters", valid(func(v url.Values) { v.Set("name", "a\x00b") }), 422, "name", `value="newco.test"`},
	}
	for _, c := range cases {
		res := f.post("/admin/tenants", c.form)
		if res.code != c.status {
			t.Errorf("%s: %d, want %d\n%s", c.name, res.code, c.status, clip(res.body))
			continue
		}
		mustContain(t, res.body, `id="create-tenant"`, `id="`+c.field+`-error"`, c.kept)
		if c.form.Get("migrate") == "1" {
			mustContain(t, res.body, `name="migrate" value="1" checked`)
		}
		mustNotContain(t, res.body, `name="seed" value="1" checked`)
	}
	res, err := f.mgr.List(ctx, tenancy.ListOptions{})
	if err != nil || res.Total != 1 {
		t.Fatalf("after invalid creates: %d tenants, %v; want only the first", res.Total, err)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "tenants"))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "taken_db") {
			t.Errorf("leftover database file %s", e.Name())
		}
	}
}

func TestTenantPage(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Notes = "line one\nline two" })
	if _, err := f.mgr.AddDomain(ctx, ten.UUID, tenancy.DomainRequest{Domain: "www.acme.test"}); err != nil {
		t.Fatal(err)
	}
	_, latest := f.mgr.Databases().Migrations()

	res := f.get("/admin/tenants/" + ten.UUID)
	if res.code != http.StatusOK {
		t.Fatalf("tenant page: %d\n%s", res.code, clip(res.body))
	}
	mustContain(t, res.body, ten.UUID, ten.DatabaseName, `data-domain="acme.test"`, `data-domain="www.acme.test"`,
		`href="http://www.acme.test"`, `id="db-tables">`, fmt.Sprintf(`id="migration-version">%d of %d`, latest, latest),
		`id="migrations-pending">none`, `id="requests-none">No requests since start`, `id="status-form"`, `name="status"`,
		`name="reason"`, `<option value="active" selected>`, `action="/admin/tenants/`+ten.UUID+`/domains/primary"`,
		`action="/admin/tenants/`+ten.UUID+`/domains/remove"`, "tenant.create", "domain.add", "www.acme.test]",
		"line one\nline two", `href="/admin/tenants/`+ten.UUID+`/delete"`)
	mustNotContain(t, res.body, `id="database-error"`)
	if strings.Contains(res.body, `id="db-tables">0<`) {
		t.Error("a migrated database shows no tables")
	}

	f.metrics.Observe(ten.ID, 200, time.Millisecond, time.Now())
	f.metrics.Observe(ten.ID, 404, time.Millisecond, time.Now())
	f.metrics.Observe(ten.ID, 503, time.Millisecond, time.Now())
	res = f.get("/admin/tenants/" + ten.UUID)
	mustContain(t, res.body, `id="requests-total">3<`, `id="requests-4xx">1<`, `id="requests-5xx">1<`)

	// A tenant by one of its domains; unknown tenants are 404.
	if res := f.get("/admin/tenants/www.acme.test"); res.code != http.StatusOK || !strings.Contains(res.body, ten.UUID) {
		t.Errorf("by domain: %d", res.code)
	}
	for _, p := range []string{"/admin/tenants/0191f7b2-0000-7000-8000-000000000000", "/admin/tenants/nope", "/admin/tenants/%3Cb%3E"} {
		if res := f.get(p); res.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.code)
		}
	}
}

func TestTenantPageToleratesABrokenDatabase(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	f.mgr.Databases().Forget(ten)
	files, err := filepath.Glob(filepath.Join(f.dir, "tenants", ten.DatabaseName+".*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v, %v", files, err)
	}
	for _, p := range files {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	res := f.get("/admin/tenants/" + ten.UUID)
	if res.code != http.StatusOK {
		t.Fatalf("tenant page with its database gone: %d\n%s", res.code, clip(res.body))
	}
	mustContain(t, res.body, `id="database-error"`, `id="migrations-error"`, ten.DatabaseName, `id="status-form"`,
		"could not be measured: the database does not exist.")
	// The errors' own text (file paths, driver detail) stays in the log.
	mustNotContain(t, res.body, f.dir, "tenantdb:")
}

func TestUnexpectedErrorsStayInTheLog(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	mgr := dashManager(t, t.TempDir())
	a, err := New(&Config{Manager: mgr, ControlPlane: cpOf(mgr), Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/admin/tenants", nil)
	p := a.classify(req, errors.New("open /var/lib/tenancy/tenants/x.sqlite: driver detail"))
	if p.Status != http.StatusInternalServerError || p.Field != "" || p.Msg != "The change failed; see the server log." {
		t.Fatalf("classify: %+v", p)
	}
	if !strings.Contains(logged.String(), "driver detail") {
		t.Fatalf("the error was not logged: %q", logged.String())
	}
	// Conditions the page can name keep their own status and message.
	if p := a.classify(req, context.Canceled); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("classify(context.Canceled): %+v", p)
	}
}

func TestTenantStatus(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	path := "/admin/tenants/" + ten.UUID + "/status"

	page := f.postFollow(path, url.Values{"status": {"suspended"}, "reason": {"unpaid invoice"}}, "/admin/tenants/"+ten.UUID)
	mustContain(t, page.body, "Acme is now suspended.", "unpaid invoice", `<option value="suspended" selected>`)
	got, err := f.mgr.Get(ctx, ten.UUID)
	if err != nil || got.Status != tenancy.StatusSuspended || got.StatusReason != "unpaid invoice" {
		t.Fatalf("after suspend: %+v, %v", got, err)
	}
	entries, err := cpOf(f.mgr).Audit(ctx, controlplane.AuditFilter{TenantUUID: ten.UUID, Action: "tenant.status"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "admin:"+dashEmail {
		t.Fatalf("audit: %+v, %v", entries, err)
	}
	// The visitor message goes with the status change (the audit entry
	// records the tenant after it).
	mustContain(t, f.get("/admin/tenants/"+ten.UUID).body, `name="visitor_message"`)
	f.postFollow(path, url.Values{"status": {"blocked"}, "reason": {"chargeback"}, "visitor_message": {"Closed for good."}}, "/admin/tenants/"+ten.UUID)
	entries, err = cpOf(f.mgr).Audit(ctx, controlplane.AuditFilter{TenantUUID: ten.UUID, Action: "tenant.status"})
	if err != nil || len(entries) != 2 || !strings.Contains(string(entries[0].After), `"visitor_message":"Closed for good."`) {
		t.Fatalf("audit of a status change with a visitor message: %+v, %v", entries, err)
	}
	res := f.post(path, url.Values{"status": {"suspended"}, "visitor_message": {strings.Repeat("v", 16<<10+1)}})
	if res.code != http.StatusUnprocessableEntity {
		t.Fatalf("a visitor message that is too long: %d", res.code)
	}
	mustContain(t, res.body, `id="status-error"`, "visitor_message")
	for _, st := range []string{"blocked", "inactive", "ACTIVE"} {
		f.postFollow(path, url.Values{"status": {st}}, "/admin/tenants/"+ten.UUID)
		if got, _ := f.mgr.Get(ctx, ten.UUID); !strings.EqualFold(string(got.Status), st) {
			t.Fatalf("status %s: got %s", st, got.Status)
		}
	}

	for _, form := range []url.Values{{"status": {"deleted"}, "reason": {"kept reason"}}, {"reason": {"kept reason"}}, {"status": {"<script>"}}} {
		res := f.post(path, form)
		if res.code != http.StatusUnprocessableEntity {
			t.Errorf("status %v: %d, want 422", form, res.code)
			continue
		}
		mustContain(t, res.body, `id="status-error"`, `id="status-form"`)
		mustNotContain(t, res.body, "<script>")
		if form.Get("reason") != "" {
			mustContain(t, res.body, `value="kept reason"`)
		}
	}
	if got, _ := f.mgr.Get(ctx, ten.UUID); got.Status != tenancy.StatusActive {
		t.Fatalf("a rejected change changed the status to %s", got.Status)
	}
	if res := f.post("/admin/tenants/0191f7b2-0000-7000-8000-000000000000/status", url.Values{"status": {"active"}}); res.code != http.StatusNotFound {
		t.Errorf("unknown tenant: %d", res.code)
	}
}

func TestTenantMaintenance(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	path := "/admin/tenants/" + ten.UUID + "/maintenance"

	page := f.postFollow(path, url.Values{"on": {"1"}, "message": {"Back at 5 <pm>"}}, "/admin/tenants/"+ten.UUID)
	got, err := f.mgr.Get(ctx, ten.UUID)
	if err != nil || !got.Maintenance || got.MaintenanceMessage != "Back at 5 <pm>" {
		t.Fatalf("after on: %+v, %v", got, err)
	}
	mustContain(t, page.body, "Acme is in maintenance mode.", "status-maintenance", "Back at 5 &lt;pm&gt;",
		"http://acme.test/__maintenance/"+got.MaintenanceSecret, `name="on" value="0"`)

	page = f.postFollow(path, url.Values{"on": {"0"}}, "/admin/tenants/"+ten.UUID)
	if got, _ := f.mgr.Get(ctx, ten.UUID); got.Maintenance {
		t.Fatal("maintenance still on")
	}
	mustContain(t, page.body, "Maintenance mode is off for Acme.", `name="on" value="1"`)
	mustNotContain(t, page.body, "__maintenance/")

	for _, form := range []url.Values{{"on": {"maybe"}}, {}, {"on": {"1"}, "message": {strings.Repeat("m", 65<<10)}}} {
		res := f.post(path, form)
		if res.code != http.StatusUnprocessableEntity {
			t.Errorf("maintenance %.40v: %d, want 422", form, res.code)
			continue
		}
		mustContain(t, res.body, `id="maintenance-error"`)
	}
	if got, _ := f.mgr.Get(ctx, ten.UUID); got.Maintenance {
		t.Fatal("a rejected change turned maintenance on")
	}
}

func TestTenantDomains(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	f.create("Other", "other.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	base := "/admin/tenants/" + ten.UUID
	domains := func() (names []string, primary string) {
		got, err := f.mgr.Get(ctx, ten.UUID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got.Domains {
			names = append(names, d.Domain)
		}
		slices.Sort(names)
		return names, got.PrimaryDomain()
	}

	page := f.postFollow(base+"/domains", url.Values{"domain": {"WWW.Acme.Test."}}, base)
	mustContain(t, page.body, "Added www.acme.test to Acme.", `data-domain="www.acme.test"`)
	if names, primary := domains(); !slices.Equal(names, []string{"acme.test", "www.acme.test"}) || primary != "acme.test" {
		t.Fatalf("after add: %v, primary %s", names, primary)
	}
	f.postFollow(base+"/domains", url.Values{"domain": {"shop.acme.test"}, "primary": {"1"}}, base)
	if _, primary := domains(); primary != "shop.acme.test" {
		t.Fatalf("added as primary, primary is %s", primary)
	}
	page = f.postFollow(base+"/domains/primary", url.Values{"domain": {"www.acme.test"}}, base)
	mustContain(t, page.body, "www.acme.test is now the primary domain of Acme.")
	if _, primary := domains(); primary != "www.acme.test" {
		t.Fatalf("primary is %s", primary)
	}
	page = f.postFollow(base+"/domains/remove", url.Values{"domain": {"shop.acme.test"}}, base)
	mustContain(t, page.body, "Removed shop.acme.test from Acme.")
	mustNotContain(t, page.body, `data-domain="shop.acme.test"`)

	fails := []struct {
		path   string
		form   url.Values
		status int
		id     string
	}{
		{"/domains", url.Values{"domain": {"other.test"}}, http.StatusConflict, "domain-add-error"},
		{"/domains", url.Values{"domain": {"www.acme.test"}}, http.StatusConflict, "domain-add-error"},
		{"/domains", url.Values{"domain": {"bad domain"}}, http.StatusUnprocessableEntity, "domain-add-error"},
		{"/domains", url.Values{"domain": {""}}, http.StatusUnprocessableEntity, "domain-add-error"},
		{"/domains", url.Values{"domain": {strings.Repeat("a", 300) + ".test"}}, http.StatusUnprocessableEntity, "domain-add-error"},
		{"/domains/primary", url.Values{"domain": {"other.test"}}, http.StatusUnprocessableEntity, "domains-error"},
		{"/domains/primary", url.Values{"domain": {"%%%"}}, http.StatusUnprocessableEntity, "domains-error"},
		{"/domains/remove", url.Values{"domain": {"nope.test"}}, http.StatusUnprocessableEntity, "domains-error"},
		{"/domains/remove", url.Values{}, http.StatusUnprocessableEntity, "domains-error"},
	}
	for _, c := range fails {
		res := f.post(base+c.path, c.form)
		if res.code != c.status {
			t.Errorf("%s %v: %d, want %d", c.path, c.form, res.code, c.status)
			continue
		}
		mustContain(t, res.body, `id="`+c.id+`"`, `id="domains-table"`)
		if c.path == "/domains" && c.form.Get("domain") != "" && len(c.form.Get("domain")) < 100 {
			mustContain(t, res.body, `value="`+c.form.Get("domain")+`"`)
		}
	}

	// The last domain cannot go.
	f.postFollow(base+"/domains/remove", url.Values{"domain": {"acme.test"}}, base)
	res := f.post(base+"/domains/remove", url.Values{"domain": {"www.acme.test"}})
	if res.code != http.StatusConflict {
		t.Fatalf("removing the last domain: %d, want 409", res.code)
	}
	mustContain(t, res.body, `id="domains-error"`, "at least one domain")
	if names, _ := domains(); !slices.Equal(names, []string{"www.acme.test"}) {
		t.Fatalf("domains = %v", names)
	}
}

func TestEditTenant(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme", "acme.test", func(r *tenancy.CreateRequest) {
		r.Migrate, r.Notes, r.Settings = false, "old notes", map[string]any{"plan": "free"}
	})
	path := "/admin/tenants/" + ten.UUID + "/edit"

	res := f.get(path)
	if res.code != http.StatusOK {
		t.Fatalf("edit: %d", res.code)
	}
	mustContain(t, res.body, `id="edit-tenant"`, `value="Acme"`, "old notes", "&#34;plan&#34;: &#34;free&#34;")

	page := f.postFollow(path, url.Values{"name": {"  Acme Ltd "}, "notes": {"new notes"}, "settings": {`{"plan": "pro", "seats": 5}`}, "data": {""}}, "/admin/tenants/"+ten.UUID)
	mustContain(t, page.body, "Saved Acme Ltd.")
	got, err := f.mgr.Get(ctx, ten.UUID)
	if err != nil || got.Name != "Acme Ltd" || got.Notes != "new notes" || got.Settings["plan"] != "pro" || fmt.Sprint(got.Settings["seats"]) != "5" {
		t.Fatalf("after edit: %+v, %v", got, err)
	}

	fails := []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}}, "name"},
		{url.Values{"name": {strings.Repeat("x", 256)}}, "name"},
		{url.Values{"name": {"Ok"}, "settings": {"[1, 2]"}}, "settings"},
		{url.Values{"name": {"Ok"}, "settings": {"{"}}, "settings"},
		{url.Values{"name": {"Ok"}, "data": {`{"a": 1} {"b": 2}`}}, "data"},
		{url.Values{"name": {"Ok"}, "notes": {strings.Repeat("n", 65<<10)}}, "notes"},
	}
	for _, c := range fails {
		res := f.post(path, c.form)
		if res.code != http.StatusUnprocessableEntity {
			t.Errorf("edit %.60v: %d, want 422", c.form, res.code)
			continue
		}
		mustContain(t, res.body, `id="`+c.field+`-error"`, `id="edit-tenant"`)
	}
	if got, _ := f.mgr.Get(ctx, ten.UUID); got.Name != "Acme Ltd" {
		t.Fatalf("a rejected edit renamed the tenant to %q", got.Name)
	}
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	ten := f.create("Acme Corp", "acme.test")
	other := f.create("Other", "other.test")
	path := "/admin/tenants/" + ten.UUID + "/delete"

	res := f.get(path)
	if res.code != http.StatusOK {
		t.Fatalf("delete page: %d", res.code)
	}
	mustContain(t, res.body, `id="delete-form"`, `name="confirm"`, "Acme Corp", "active", ten.DatabaseName)

	for _, typed := range []string{"", "acme corp", "Acme", "Other", "Acme Corp!"} {
		res := f.post(path, url.Values{"confirm": {typed}})
		if res.code != http.StatusUnprocessableEntity {
			t.Errorf("confirm %q: %d, want 422", typed, res.code)
			continue
		}
		mustContain(t, res.body, `id="confirm-error"`, `id="delete-form"`)
	}
	if _, err := f.mgr.Get(ctx, ten.UUID); err != nil {
		t.Fatalf("deleted on a wrong confirmation: %v", err)
	}

	f.metrics.Observe(ten.ID, 200, time.Millisecond, time.Now())
	res = f.post(path, url.Values{"confirm": {"Acme Corp"}})
	if res.code != http.StatusSeeOther || res.location != "/admin/tenants" {
		t.Fatalf("delete: %d to %q\n%s", res.code, res.location, clip(res.body))
	}
	if _, err := f.mgr.Get(ctx, ten.UUID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(f.dir, "tenants", ten.DatabaseName+".*")); len(files) != 0 {
		t.Fatalf("database files left: %v", files)
	}
	if _, ok := f.metrics.Tenant(ten.ID); ok {
		t.Error("the deleted tenant's metrics were kept")
	}
	list := f.get("/admin/tenants")
	mustContain(t, list.body, "Deleted tenant Acme Corp and its database.", other.UUID)
	mustNotContain(t, list.body, ten.UUID)
	if res := f.get(path); res.code != http.StatusNotFound {
		t.Fatalf("delete page of a deleted tenant: %d", res.code)
	}
}

// TestTenantPagesEscapeHostileInput sends hostile values through every
// form and checks that they come back escaped, and that oversized forms
// and queries are refused without a 5xx.
func TestTenantPagesEscapeHostileInput(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	escaped := "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"

	res := f.post("/admin/tenants", url.Values{"name": {evil}, "domain": {"evil.test"}, "notes": {evil}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("create with HTML in the name: %d\n%s", res.code, clip(res.body))
	}
	ten, err := f.mgr.Get(ctx, "evil.test")
	if err != nil || ten.Name != evil {
		t.Fatalf("%+v, %v", ten, err)
	}
	if _, err := f.mgr.ChangeStatus(ctx, ten.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: evil}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.SetMaintenance(ctx, ten.UUID, true, evil); err != nil {
		t.Fatal(err)
	}
	pages := []string{"/admin/tenants", "/admin/tenants?q=" + url.QueryEscape(`<script>`), "/admin/tenants/" + ten.UUID,
		"/admin/tenants/" + ten.UUID + "/edit", "/admin/tenants/" + ten.UUID + "/delete"}
	for _, p := range pages {
		res := f.get(p)
		if res.code != http.StatusOK {
			t.Errorf("%s: %d", p, res.code)
		}
		mustNotContain(t, res.body, "<script>alert", "<img src=x")
		if !strings.Contains(res.body, "&lt;script&gt;") {
			t.Errorf("%s shows no escaped HTML", p)
		}
	}
	for _, p := range []string{"/admin/tenants?status=" + url.QueryEscape(evil), "/admin/tenants?sort=" + url.QueryEscape(evil), "/admin/tenants/" + url.PathEscape(evil)} {
		res := f.get(p)
		if res.code != http.StatusBadRequest && res.code != http.StatusNotFound {
			t.Errorf("%s: %d", p, res.code)
		}
		mustNotContain(t, res.body, "<script>alert", "<img src=x")
	}
	mustContain(t, f.get("/admin/tenants/"+ten.UUID).body, escaped)

	type post struct {
		path string
		form url.Values
	}
	huge := strings.Repeat("x", 2<<20)
	base := "/admin/tenants/" + ten.UUID
	posts := []post{
		{"/admin/tenants", url.Values{"name": {huge}, "domain": {"huge.test"}}},
		{"/admin/tenants", url.Values{"name": {"Ok"}, "domain": {evil}}},
		{"/admin/tenants", url.Values{"name": {"Ok"}, "domain": {"ok.test"}, "database_name": {evil}}},
		{"/admin/tenants", url.Values{"name": {"Ok"}, "domain": {"ok.test"}, "migrate": {evil}}},
		{base + "/edit", url.Values{"name": {huge}}},
		{base + "/edit", url.Values{"name": {evil}, "settings": {evil}}},
		{base + "/status", url.Values{"status": {evil}, "reason": {evil}}},
		{base + "/maintenance", url.Values{"on": {evil}, "message": {evil}}},
		{base + "/domains", url.Values{"domain": {evil}}},
		{base + "/domains/primary", url.Values{"domain": {evil}}},
		{base + "/domains/remove", url.Values{"domain": {huge}}},
		{base + "/delete", url.Values{"confirm": {evil + "x"}}},
		{"/admin/migrations", url.Values{"concurrency": {evil}}},
	}
	for _, p := range posts {
		res := f.post(p.path, p.form)
		if res.code < 400 || res.code >= 500 {
			t.Errorf("POST %s %.60v: %d, want 4xx", p.path, p.form, res.code)
		}
		mustNotContain(t, res.body, "<script>alert", "<img src=x")
	}
	if res := f.get("/admin/tenants?q=" + strings.Repeat("q", 10000)); res.code != http.StatusBadRequest {
		t.Errorf("a 10 KB search: %d", res.code)
	}
	if got, err := f.mgr.List(ctx, tenancy.ListOptions{}); err != nil || got.Total != 1 {
		t.Fatalf("%d tenants after hostile posts, %v", got.Total, err)
	}
}

// FuzzTenantsListQuery checks that no query makes the list page fail:
// it answers 200 or 400.
func FuzzTenantsListQuery(f *testing.F) {
	fx := newDashFixture(f)
	fx.create("Acme", "acme.test", func(r *tenancy.CreateRequest) { r.Migrate = false })
	u, _ := url.Parse(fx.srv.URL + "/admin/")
	var cookie string
	for _, c := range fx.client.Jar.Cookies(u) {
		if c.Name == SessionCookie {
			cookie = c.Value
		}
	}
	for _, s := range []string{"", "q=acme", "page=2&per_page=1", "sort=name&order=desc", "status=ACTIVE", "page=-1", "q=%00", "per_page=1e3", "sort=created_at&sort=name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req, err := http.NewRequest(http.MethodGet, "/admin/tenants", nil)
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = query
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		rec := httptest.NewRecorder()
		fx.admin.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%q: %d", query, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<script") {
			t.Fatalf("%q: unescaped script", query)
		}
	})
}
