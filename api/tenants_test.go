package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
)

func TestListTenants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	a := f.tenant("Acme", "acme.example.test", true)
	f.tenant("Beta", "beta.example.test", false)
	c := f.tenant("Corp", "corp.example.test", false)
	if _, err := f.mgr.ChangeStatus(ctx, c.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "late"}); err != nil {
		t.Fatal(err)
	}

	res := f.do(req{method: "GET", path: "/tenancy/tenants?page=1&per_page=2&sort=name&order=asc"}).expect(t, http.StatusOK)
	list := res.list(t)
	if len(list) != 2 || list[0].(map[string]any)["name"] != "Acme" || list[1].(map[string]any)["name"] != "Beta" {
		t.Fatalf("page 1: %s", res.body)
	}
	meta := res.env["meta"].(map[string]any)
	if meta["current_page"] != 1.0 || meta["per_page"] != 2.0 || meta["total"] != 3.0 || meta["last_page"] != 2.0 {
		t.Fatalf("meta: %v", meta)
	}
	if d := list[0].(map[string]any)["domains"].([]any); len(d) != 1 || d[0].(map[string]any)["domain"] != "acme.example.test" {
		t.Fatalf("domains: %v", d)
	}

	// The reference's example query.
	res = f.do(req{method: "GET", path: "/tenancy/tenants?page=1&per_page=20&status=active&sort=name&order=asc"}).expect(t, http.StatusOK)
	if n := len(res.list(t)); n != 2 {
		t.Fatalf("active tenants: %d", n)
	}
	res = f.do(req{method: "GET", path: "/tenancy/tenants?search=CORP&sort=created_at&order=desc"}).expect(t, http.StatusOK)
	if l := res.list(t); len(l) != 1 || l[0].(map[string]any)["uuid"] != c.UUID {
		t.Fatalf("search: %s", res.body)
	}
	res = f.do(req{method: "GET", path: "/tenancy/tenants?sort=status&order=desc"}).expect(t, http.StatusOK)
	if l := res.list(t); l[0].(map[string]any)["status"] != "suspended" {
		t.Fatalf("sort by status desc: %s", res.body)
	}

	res = f.do(req{method: "GET", path: "/tenancy/tenants?with_stats=true&search=acme"}).expect(t, http.StatusOK)
	stats, _ := res.list(t)[0].(map[string]any)["stats"].(map[string]any)
	if stats == nil || stats["table_count"].(float64) < 2 || stats["size_bytes"].(float64) <= 0 || stats["migration_version"].(float64) != 2 {
		t.Fatalf("stats: %s", res.body)
	}
	if _, ok := f.do(req{method: "GET", path: "/tenancy/tenants"}).expect(t, http.StatusOK).list(t)[0].(map[string]any)["stats"]; ok {
		t.Fatal("stats without with_stats")
	}
	_ = a

	for _, q := range []string{"per_page=0", "per_page=101", "page=0", "page=x", "sort=secret", "order=up", "status=deleted", "with_stats=maybe"} {
		field, _, _ := strings.Cut(q, "=")
		f.do(req{method: "GET", path: "/tenancy/tenants?" + q}).expectField(t, field)
	}
	res = f.do(req{method: "GET", path: "/tenancy/tenants?per_page=500&sort=nope"})
	res.expect(t, http.StatusUnprocessableEntity)
	if len(res.fieldErrors("per_page")) == 0 || len(res.fieldErrors("sort")) == 0 {
		t.Fatalf("every invalid field is named: %s", res.body)
	}
	if !strings.Contains(res.env["message"].(string), "and 1 more error") {
		t.Fatalf("message: %v", res.env["message"])
	}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()

	// The reference's curl line.
	res := f.do(req{method: "POST", path: "/tenancy/tenants/create", body: `{
       "name": "Acme Corp",
       "domain": "acme.example.com",
       "status": "active",
       "run_migrations": true
     }`}).expect(t, http.StatusCreated)
	if res.env["message"] != "Tenant created successfully" {
		t.Fatalf("message: %v", res.env["message"])
	}
	d := res.data(t)
	tn := d["tenant"].(map[string]any)
	dom := d["domain"].(map[string]any)
	if d["migration_status"] != "completed" || dom["domain"] != "acme.example.com" || dom["tenant_id"] != tn["id"] {
		t.Fatalf("data: %v", d)
	}
	created := f.get(tn["uuid"].(string))
	if created == nil || created.Name != "Acme Corp" || created.Status != tenancy.StatusActive {
		t.Fatalf("catalog: %+v", created)
	}
	if ds, err := f.mgr.DatabaseStats(ctx, created); err != nil || ds.Version != 2 {
		t.Fatalf("migrated database: %+v %v", ds, err)
	}
	if loc := res.header.Get("Location"); loc != "/tenancy/tenants/"+created.UUID {
		t.Fatalf("Location %q", loc)
	}

	// The JavaScript client's call, on the other path, with every field.
	res = f.do(req{method: "POST", path: "/tenancy/tenants", body: jsonBody(map[string]any{
		"name": "New Company", "domain": "NewCompany.Example.com", "status": "suspended", "database_name": "custom_db_name",
		"notes": "Important client", "seed_database": false, "settings": map[string]any{"timezone": "UTC", "features": []string{"analytics"}},
	})}).expect(t, http.StatusCreated)
	d = res.data(t)
	if d["migration_status"] != "not_requested" {
		t.Fatalf("migration_status: %v", d["migration_status"])
	}
	tn = d["tenant"].(map[string]any)
	if tn["database_name"] != "custom_db_name" || tn["status"] != "suspended" || tn["notes"] != "Important client" ||
		tn["settings"].(map[string]any)["timezone"] != "UTC" || d["domain"].(map[string]any)["domain"] != "newcompany.example.com" {
		t.Fatalf("tenant: %v", d)
	}

	// seed_database implies migrations.
	res = f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"Seeded","domain":"seeded.example.test","seed_database":true}`}).expect(t, http.StatusCreated)
	if res.data(t)["migration_status"] != "completed" {
		t.Fatalf("seeded: %s", res.body)
	}

	before := f.catalog()
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"Dup","domain":"acme.example.com"}`}).expect(t, http.StatusConflict)
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"Dup","domain":"dup.example.test","database_name":"custom_db_name"}`}).expect(t, http.StatusConflict)
	res = f.do(req{method: "POST", path: "/tenancy/tenants/create", body: `{}`})
	res.expectField(t, "name")
	res.expectField(t, "domain")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test","status":"maintenance"}`}).expectField(t, "status")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"http://x.example.test/"}`}).expectField(t, "domain")
	// A central domain (the control plane's own host) is no tenant domain.
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"localhost"}`}).expectField(t, "domain")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"LocalHost:8080"}`}).expectField(t, "domain")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test","database_name":"Bad Name"}`}).expectField(t, "database_name")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test","colour":"red"}`}).expectField(t, "colour")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test","settings":{"a":1},"filter":{}}`}).expectField(t, "filter")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":42,"domain":"x.example.test"}`}).expectField(t, "name")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test","run_migrations":"yes"}`}).expectField(t, "run_migrations")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `[1,2]`}).expectField(t, "body")
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X",`}).expect(t, http.StatusBadRequest)
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X"} {"name":"Y"}`}).expect(t, http.StatusBadRequest)
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"X","domain":"x.example.test"}`, contentType: "text/plain"}).expect(t, http.StatusUnsupportedMediaType)
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `name=X&domain=x.example.test`, contentType: "application/x-www-form-urlencoded"}).expect(t, http.StatusUnsupportedMediaType)
	f.do(req{method: "POST", path: "/tenancy/tenants", body: big(maxBodyBytes + 10)}).expect(t, http.StatusRequestEntityTooLarge)
	if after := f.catalog(); after != before {
		t.Fatal("a failed create changed the catalog")
	}
	// application/json with a charset is JSON.
	f.do(req{method: "POST", path: "/tenancy/tenants", body: `{"name":"Charset","domain":"charset.example.test"}`, contentType: "application/json; charset=utf-8"}).expect(t, http.StatusCreated)
}

func TestGetTenant(t *testing.T) {
	t.Parallel()
	for _, withResolver := range []bool{false, true} {
		t.Run(fmt.Sprint("resolver=", withResolver), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{resolver: withResolver})
			tn := f.tenant("Acme", "acme.example.test", true)
			f.metrics.Observe(tn.ID, 200, 3_000_000, f.clock.Now())
			f.metrics.Observe(tn.ID, 500, 30_000_000, f.clock.Now())

			res := f.do(req{method: "GET", path: "/tenancy/tenants/" + tn.UUID}).expect(t, http.StatusOK)
			d := res.data(t)
			if d["uuid"] != tn.UUID || d["name"] != "Acme" || d["domains"].([]any)[0].(map[string]any)["domain"] != "acme.example.test" {
				t.Fatalf("tenant: %s", res.body)
			}
			if _, ok := d["stats"]; ok {
				t.Fatal("stats without include")
			}

			res = f.do(req{method: "GET", path: "/tenancy/tenants/" + tn.UUID + "?include=domains,stats,health,recent_activity"}).expect(t, http.StatusOK)
			d = res.data(t)
			stats := d["stats"].(map[string]any)
			if stats["migration_version"] != 2.0 || stats["table_count"].(float64) < 2 || stats["size_bytes"].(float64) <= 0 {
				t.Fatalf("stats: %v", stats)
			}
			reqs := stats["requests"].(map[string]any)
			if reqs["total_requests"] != 2.0 || reqs["errors_5xx"] != 1.0 || reqs["error_rate"] != 0.5 {
				t.Fatalf("requests: %v", reqs)
			}
			health := d["health"].(map[string]any)
			if health["healthy"] != true || health["database"].(map[string]any)["ok"] != true {
				t.Fatalf("health: %v", health)
			}
			activity := d["recent_activity"].([]any)
			if len(activity) == 0 || activity[0].(map[string]any)["action"] != "tenant.create" {
				t.Fatalf("recent_activity: %v", activity)
			}

			// A tenant whose database is gone is unhealthy, not an error.
			if err := os.Remove(filepath.Join(f.dir, "tenants", tn.DatabaseName+".sqlite")); err != nil {
				t.Fatal(err)
			}
			f.mgr.Databases().CloseUnused()
			res = f.do(req{method: "GET", path: "/tenancy/tenants/" + tn.UUID + "?include=health,stats"}).expect(t, http.StatusOK)
			if h := res.data(t)["health"].(map[string]any); h["healthy"] != false {
				t.Fatalf("health without a database: %v", h)
			}

			f.do(req{method: "GET", path: "/tenancy/tenants/" + tn.UUID + "?include=secrets"}).expectField(t, "include")
			f.do(req{method: "GET", path: "/tenancy/tenants/not-a-uuid"}).expect(t, http.StatusNotFound)
			f.do(req{method: "GET", path: "/tenancy/tenants/acme.example.test"}).expect(t, http.StatusNotFound)
			f.do(req{method: "GET", path: "/tenancy/tenants/0198a0c0-0000-7000-8000-000000000000"}).expect(t, http.StatusNotFound)
		})
	}
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{resolver: true})
	tn := f.tenant("Acme", "acme.example.test", false)
	res := f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{
		"name": "Updated Company Name", "status": "active", "notes": "Updated notes",
		"settings": {"timezone": "America/New_York"}}`}).expect(t, http.StatusOK)
	if res.env["message"] != "Tenant updated successfully" || res.data(t)["name"] != "Updated Company Name" {
		t.Fatalf("answer: %s", res.body)
	}
	got := f.get(tn.UUID)
	if got.Name != "Updated Company Name" || got.Notes != "Updated notes" || got.Settings["timezone"] != "America/New_York" {
		t.Fatalf("catalog: %+v", got)
	}
	// The resolver's snapshot follows at once.
	if d := f.do(req{method: "GET", path: "/tenancy/tenants/" + tn.UUID}).expect(t, http.StatusOK).data(t); d["name"] != "Updated Company Name" {
		t.Fatalf("GET after PUT: %v", d["name"])
	}
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"status":"suspended","status_reason":"late payment"}`}).expect(t, http.StatusOK)
	if got := f.get(tn.UUID); got.Status != tenancy.StatusSuspended || got.StatusReason != "late payment" {
		t.Fatalf("status: %+v", got)
	}

	before := f.catalog()
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"status":"gone"}`}).expectField(t, "status")
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"name":"   "}`}).expectField(t, "name")
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"uuid":"x"}`}).expectField(t, "uuid")
	f.do(req{method: "PUT", path: "/tenancy/tenants/" + tn.UUID, body: `{"settings":[1]}`}).expectField(t, "settings")
	f.do(req{method: "PUT", path: "/tenancy/tenants/0198a0c0-0000-7000-8000-000000000000", body: `{"name":"x"}`}).expect(t, http.StatusNotFound)
	if f.catalog() != before {
		t.Fatal("a failed update changed the catalog")
	}
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	active := f.tenant("Active", "active.example.test", true)
	res := f.do(req{method: "DELETE", path: "/tenancy/tenants/" + active.UUID}).expect(t, http.StatusConflict)
	if !strings.Contains(res.env["message"].(string), "force=true") {
		t.Fatalf("409 explains force: %s", res.body)
	}
	f.do(req{method: "DELETE", path: "/tenancy/tenants/" + active.UUID + "?backup=maybe&force=true"}).expectField(t, "backup")
	f.do(req{method: "DELETE", path: "/tenancy/tenants/" + active.UUID + "?force=sure"}).expectField(t, "force")
	if f.get(active.UUID) == nil {
		t.Fatal("refused delete removed the tenant")
	}
	res = f.do(req{method: "DELETE", path: "/tenancy/tenants/" + active.UUID + "?force=true"}).expect(t, http.StatusOK)
	if res.data(t)["uuid"] != active.UUID || f.get(active.UUID) != nil {
		t.Fatalf("force delete: %s", res.body)
	}

	suspended := f.tenant("Suspended", "suspended.example.test", false)
	if _, err := f.mgr.ChangeStatus(context.Background(), suspended.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: ""}); err != nil {
		t.Fatal(err)
	}
	f.do(req{method: "DELETE", path: "/tenancy/tenants/" + suspended.UUID}).expect(t, http.StatusOK)
	if f.get(suspended.UUID) != nil {
		t.Fatal("suspended tenant not deleted")
	}
	f.do(req{method: "DELETE", path: "/tenancy/tenants/" + suspended.UUID + "?force=true"}).expect(t, http.StatusNotFound)
}

func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Acme", "acme.example.test", false)
	path := "/tenancy/tenants/" + tn.UUID

	res := f.do(req{method: "PUT", path: path + "/status", body: `{"status": "suspended", "reason": "Payment overdue", "notify": true}`}).expect(t, http.StatusOK)
	d := res.data(t)
	if d["previous_status"] != "active" || d["notify"] != true || d["tenant"].(map[string]any)["status"] != "suspended" {
		t.Fatalf("answer: %s", res.body)
	}
	if got := f.get(tn.UUID); got.Status != tenancy.StatusSuspended || got.StatusReason != "Payment overdue" {
		t.Fatalf("catalog: %+v", got)
	}
	for _, c := range []struct {
		action string
		want   tenancy.Status
		body   string
	}{
		{"block", tenancy.StatusBlocked, `{"reason":"abuse"}`},
		{"unblock", tenancy.StatusActive, ""},
		{"suspend", tenancy.StatusSuspended, ""},
		{"activate", tenancy.StatusActive, "{}"},
	} {
		res := f.do(req{method: "POST", path: path + "/" + c.action, body: c.body}).expect(t, http.StatusOK)
		if got := f.get(tn.UUID); got.Status != c.want {
			t.Fatalf("%s: status %s, want %s: %s", c.action, got.Status, c.want, res.body)
		}
	}
	if got := f.get(tn.UUID); got.Status != tenancy.StatusActive {
		t.Fatal(got.Status)
	}
	before := f.catalog()
	f.do(req{method: "PUT", path: path + "/status", body: `{}`}).expectField(t, "status")
	f.do(req{method: "PUT", path: path + "/status", body: `{"status":"maintenance"}`}).expectField(t, "status")
	f.do(req{method: "PUT", path: path + "/status", body: `{"status":"blocked","notify":"yes"}`}).expectField(t, "notify")
	f.do(req{method: "POST", path: path + "/block", body: `{"status":"active"}`}).expectField(t, "status")
	f.do(req{method: "POST", path: "/tenancy/tenants/nope/block"}).expect(t, http.StatusNotFound)
	if f.catalog() != before {
		t.Fatal("a failed status change changed the catalog")
	}
}

func TestDomainEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Acme", "acme.example.test", false)
	other := f.tenant("Other", "other.example.test", false)
	path := "/tenancy/tenants/" + tn.UUID + "/domains"

	res := f.do(req{method: "GET", path: path}).expect(t, http.StatusOK)
	if l := res.list(t); len(l) != 1 || res.env["meta"].(map[string]any)["total"] != 1.0 {
		t.Fatalf("list: %s", res.body)
	}
	res = f.do(req{method: "POST", path: path + "/create", body: `{"domain": "Subdomain.Example.com", "is_primary": false, "ssl_enabled": true}`}).expect(t, http.StatusCreated)
	d := res.data(t)
	if d["domain"] != "subdomain.example.com" || d["ssl_enabled"] != true || d["is_primary"] != false {
		t.Fatalf("added: %s", res.body)
	}
	id := int64(d["id"].(float64))
	if got := f.get(tn.UUID); len(got.Domains) != 2 {
		t.Fatalf("catalog domains: %+v", got.Domains)
	}

	res = f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, id), body: `{"is_primary": true, "ssl_enabled": false}`}).expect(t, http.StatusOK)
	if d := res.data(t); d["is_primary"] != true || d["ssl_enabled"] != false {
		t.Fatalf("updated: %s", res.body)
	}
	if got := f.get(tn.UUID); got.PrimaryDomain() != "subdomain.example.com" {
		t.Fatalf("primary: %s", got.PrimaryDomain())
	}
	res = f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, id), body: `{"domain": "renamed.example.com"}`}).expect(t, http.StatusOK)
	if res.data(t)["domain"] != "renamed.example.com" || f.get("renamed.example.com") == nil {
		t.Fatalf("renamed: %s", res.body)
	}

	before := f.catalog()
	f.do(req{method: "POST", path: path + "/create", body: `{"domain": "other.example.test"}`}).expect(t, http.StatusConflict)
	f.do(req{method: "POST", path: path + "/create", body: `{"domain": "bad domain"}`}).expectField(t, "domain")
	f.do(req{method: "POST", path: path + "/create", body: `{}`}).expectField(t, "domain")
	f.do(req{method: "POST", path: path + "/create", body: `{"domain": "localhost"}`}).expectField(t, "domain")
	f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, id), body: `{"domain": "localhost"}`}).expectField(t, "domain")
	f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, id), body: `{"domain": "other.example.test"}`}).expect(t, http.StatusConflict)
	f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, id), body: `{"is_primary": false}`}).expectField(t, "is_primary")
	f.do(req{method: "PUT", path: fmt.Sprintf("%s/%d", path, other.Domains[0].ID), body: `{"ssl_enabled": true}`}).expect(t, http.StatusNotFound)
	f.do(req{method: "PUT", path: path + "/abc", body: `{}`}).expect(t, http.StatusNotFound)
	f.do(req{method: "DELETE", path: path + "/0"}).expect(t, http.StatusNotFound)
	f.do(req{method: "DELETE", path: path + "/99999"}).expect(t, http.StatusNotFound)
	if f.catalog() != before {
		t.Fatal("a failed domain change changed the catalog")
	}

	res = f.do(req{method: "DELETE", path: fmt.Sprintf("%s/%d", path, id)}).expect(t, http.StatusOK)
	if got := f.get(tn.UUID); len(got.Domains) != 1 || got.Domains[0].Domain != "acme.example.test" {
		t.Fatalf("after delete: %+v", got.Domains)
	}
	res = f.do(req{method: "DELETE", path: fmt.Sprintf("%s/%d", path, f.get(tn.UUID).Domains[0].ID)}).expect(t, http.StatusConflict)
	if !strings.Contains(res.env["message"].(string), "at least one domain") {
		t.Fatalf("last domain: %s", res.body)
	}
}

func TestTenantDatabaseEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	tn := f.tenant("Acme", "acme.example.test", false)
	path := "/tenancy/tenants/" + tn.UUID

	res := f.do(req{method: "POST", path: path + "/migrate", body: `{"fresh": false, "seed": false, "force": true, "path": "database/migrations/tenant"}`}).expect(t, http.StatusOK)
	if d := res.data(t); d["state"] != "succeeded" || d["to_version"] != 2.0 || d["applied"] != 2.0 {
		t.Fatalf("migrate: %s", res.body)
	}
	f.do(req{method: "POST", path: path + "/migrate", body: `{"path": "elsewhere"}`}).expectField(t, "path")
	f.do(req{method: "POST", path: path + "/migrate", body: `{"timeout": 99999}`}).expectField(t, "timeout")
	f.do(req{method: "POST", path: path + "/migrate", body: `{"fresh": true, "seed": true, "timeout": 300}`}).expect(t, http.StatusOK)

	notes := func() int {
		var n int
		err := f.mgr.Run(ctx, f.get(tn.UUID), func(ctx context.Context) error {
			db, err := tenancy.DB(ctx)
			if err != nil {
				return err
			}
			return db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	seeded := notes()
	if seeded == 0 {
		t.Fatal("fresh+seed left no notes")
	}
	f.do(req{method: "POST", path: path + "/seed", body: `{"class": "sample_notes", "force": true}`}).expect(t, http.StatusOK)
	if n := notes(); n <= seeded {
		t.Fatalf("seed: %d notes, had %d", n, seeded)
	}
	f.do(req{method: "POST", path: path + "/seed", body: `{"class": "DatabaseSeeder"}`}).expect(t, http.StatusOK)
	res = f.do(req{method: "POST", path: path + "/seed", body: `{"class": "UserSeeder"}`})
	res.expectField(t, "class")
	if !strings.Contains(fmt.Sprint(res.fieldErrors("class")), "sample_notes") {
		t.Fatalf("unknown seeder lists the known ones: %s", res.body)
	}

	f.do(req{method: "POST", path: path + "/reset", body: `{}`}).expectField(t, "confirm")
	f.do(req{method: "POST", path: path + "/reset"}).expectField(t, "confirm")
	f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true, "backup": true, "restore_from": "../backup_file.sql"}`}).expectField(t, "restore_from")
	f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true, "backup": true, "restore_from": "backup_file.sql"}`}).expect(t, http.StatusNotFound)
	if notes() == 0 {
		t.Fatal("a refused reset emptied the database")
	}
	f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true}`}).expect(t, http.StatusOK)
	if n := notes(); n != 0 {
		t.Fatalf("reset left %d notes", n)
	}
	ops, err := f.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil || len(ops) != 1 || ops[0].Last == nil || ops[0].Last.State != tenancy.StateSucceeded {
		t.Fatalf("recorded migrate outcome: %+v %v", ops, err)
	}
	f.do(req{method: "POST", path: "/tenancy/tenants/0198a0c0-0000-7000-8000-000000000000/migrate"}).expect(t, http.StatusNotFound)

	// Seeding tables that do not exist yet fails in the tenant database: 409
	// with the recorded outcome.
	bare := f.tenant("Bare", "bare.example.test", false)
	res = f.do(req{method: "POST", path: "/tenancy/tenants/" + bare.UUID + "/seed", body: `{"class":"sample_notes"}`}).expect(t, http.StatusConflict)
	if d := res.data(t); d["state"] != "failed" || !strings.Contains(d["error"].(string), "notes") {
		t.Fatalf("failed seed: %s", res.body)
	}
}

// TestVisitorMessage checks that every endpoint that changes a status
// takes a visitor message, validated like the reason, and that tenant
// JSON carries it.
func TestVisitorMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Acme", "acme.example.test", false)
	other := f.tenant("Other", "other.example.test", false)
	path := "/tenancy/tenants/" + tn.UUID
	visitor := func(res *response, tenant map[string]any) string {
		t.Helper()
		v, ok := tenant["visitor_message"].(string)
		if !ok {
			t.Fatalf("no visitor_message in %s", res.body)
		}
		return v
	}

	res := f.do(req{method: "PUT", path: path + "/status", body: `{"status":"suspended","reason":"card declined","visitor_message":"  Back on Monday.  "}`}).expect(t, http.StatusOK)
	if got := visitor(res, res.data(t)["tenant"].(map[string]any)); got != "Back on Monday." {
		t.Fatalf("PUT status: visitor_message %q", got)
	}
	res = f.do(req{method: "POST", path: path + "/block", body: `{"reason":"abuse","visitor_message":"Closed."}`}).expect(t, http.StatusOK)
	if got := visitor(res, res.data(t)["tenant"].(map[string]any)); got != "Closed." {
		t.Fatalf("block: visitor_message %q", got)
	}
	// A status change replaces the message: none given, none kept.
	res = f.do(req{method: "POST", path: path + "/suspend", body: `{"reason":"again"}`}).expect(t, http.StatusOK)
	if got := visitor(res, res.data(t)["tenant"].(map[string]any)); got != "" {
		t.Fatalf("suspend without a message kept %q", got)
	}
	res = f.do(req{method: "PUT", path: path, body: `{"visitor_message":"Maintenance window tonight."}`}).expect(t, http.StatusOK)
	if got := visitor(res, res.data(t)); got != "Maintenance window tonight." {
		t.Fatalf("update: visitor_message %q", got)
	}
	res = f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{
		"tenant_uuids": []string{tn.UUID, other.UUID}, "status": "inactive", "visitor_message": "Moved to example.org."})}).expect(t, http.StatusOK)
	for _, v := range res.data(t)["tenants"].([]any) {
		if got := visitor(res, v.(map[string]any)); got != "Moved to example.org." {
			t.Fatalf("bulk: visitor_message %q", got)
		}
	}

	before := f.catalog()
	tooLong := strings.Repeat("x", 16<<10+1)
	f.do(req{method: "PUT", path: path + "/status", body: jsonBody(map[string]any{"status": "blocked", "visitor_message": tooLong})}).expectField(t, "visitor_message")
	f.do(req{method: "POST", path: path + "/suspend", body: `{"visitor_message":"nul\u0000"}`}).expectField(t, "visitor_message")
	f.do(req{method: "PUT", path: path, body: `{"visitor_message":42}`}).expectField(t, "visitor_message")
	f.do(req{method: "PUT", path: "/tenancy/bulk-status-update", body: jsonBody(map[string]any{
		"tenant_uuids": []string{tn.UUID}, "status": "blocked", "visitor_message": tooLong})}).expectField(t, "visitor_message")
	if f.catalog() != before {
		t.Fatal("a refused visitor message changed the catalog")
	}
}
