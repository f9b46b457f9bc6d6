package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	res := f.do(req{method: "GET", path: "/tenancy/openapi.json", key: f.read})
	if res.code != http.StatusOK {
		t.Fatalf("status %d", res.code)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Security   []map[string][]string                `json:"security"`
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	if k := doc.Components.SecuritySchemes["ApiKey"]; k["type"] != "apiKey" || k["in"] != "header" || k["name"] != "X-API-Key" {
		t.Fatalf("ApiKey scheme: %v", k)
	}
	if b := doc.Components.SecuritySchemes["BearerAuth"]; b["type"] != "http" || b["scheme"] != "bearer" {
		t.Fatalf("bearer scheme: %v", b)
	}
	if len(doc.Security) != 2 {
		t.Fatalf("security: %v", doc.Security)
	}
	routes := f.api.Routes()
	n := 0
	ids := map[string]bool{}
	for _, rt := range routes {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Fatalf("%s %s is not in the document", rt.Method, rt.Path)
		}
		if op["x-scope"] != string(rt.Scope) || op["summary"] != rt.Summary {
			t.Fatalf("%s %s: %v", rt.Method, rt.Path, op)
		}
		id := op["operationId"].(string)
		if ids[id] {
			t.Fatalf("duplicate operationId %s", id)
		}
		ids[id] = true
		if strings.Contains(rt.Path, "{") && op["parameters"] == nil {
			t.Fatalf("%s %s documents no path parameters", rt.Method, rt.Path)
		}
	}
	for _, item := range doc.Paths {
		n += len(item)
	}
	if n != len(routes) {
		t.Fatalf("the document has %d operations, the route table %d", n, len(routes))
	}
	// Body schemas come from the body types.
	create := doc.Paths["/tenancy/tenants/create"]["post"]["requestBody"].(map[string]any)
	schema := create["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if req := schema["required"].([]any); len(req) != 2 || schema["properties"].(map[string]any)["run_migrations"].(map[string]any)["type"] != "boolean" {
		t.Fatalf("create schema: %v", schema)
	}
	// The paths are all there.
	for _, want := range []string{
		"GET /tenancy/tenants", "POST /tenancy/tenants/create", "POST /tenancy/tenants", "GET /tenancy/tenants/{uuid}", "PUT /tenancy/tenants/{uuid}",
		"DELETE /tenancy/tenants/{uuid}", "PUT /tenancy/tenants/{uuid}/status", "POST /tenancy/tenants/{uuid}/block", "POST /tenancy/tenants/{uuid}/unblock",
		"POST /tenancy/tenants/{uuid}/suspend", "POST /tenancy/tenants/{uuid}/activate", "GET /tenancy/tenants/{uuid}/domains",
		"POST /tenancy/tenants/{uuid}/domains/create", "PUT /tenancy/tenants/{uuid}/domains/{domainId}", "DELETE /tenancy/tenants/{uuid}/domains/{domainId}",
		"POST /tenancy/tenants/{uuid}/migrate", "POST /tenancy/tenants/{uuid}/seed", "POST /tenancy/tenants/{uuid}/reset", "PUT /tenancy/bulk-status-update",
		"POST /tenancy/migrate-all-tenants", "POST /tenancy/migrate-all", "POST /tenancy/seed-all-tenants", "GET /tenancy/jobs/{id}",
		"GET /tenancy/dashboard", "GET /tenancy/stats", "GET /tenancy/live-stats", "GET /tenancy/health", "GET /tenancy/performance",
		"GET /tenancy/system-info", "GET /tenancy/resources", "GET /tenancy/tenants/{uuid}/resources", "GET /tenancy/connection-stats",
		"POST /tenancy/optimize-connections", "POST /tenancy/repair-connections", "POST /tenancy/maintenance/on", "POST /tenancy/maintenance/off",
		"POST /tenancy/clear-cache", "POST /tenancy/clear-all-caches", "POST /tenancy/cache/clear-all", "GET /tenancy/cache-stats",
		"GET /tenancy/audit", "GET /tenancy/openapi.json",
	} {
		method, path, _ := strings.Cut(want, " ")
		if !slices.ContainsFunc(routes, func(rt Route) bool { return rt.Method == method && rt.Path == path }) {
			t.Fatalf("%s is not served", want)
		}
	}
}

func TestEveryDocumentedRouteAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("A", "a.example.test", true)
	job := f.do(req{method: "POST", path: "/tenancy/migrate-all"}).expect(t, http.StatusAccepted).data(t)["job_id"].(string)
	f.waitJob("/tenancy/jobs/" + job)
	// An export job that fails, whose status answers JSON (a finished one
	// answers its zip).
	export := f.do(req{method: "POST", path: "/tenancy/tenants/" + tn.UUID + "/export", body: `{"tables": ["nope"]}`}).expect(t, http.StatusAccepted).data(t)["job_id"].(string)
	f.waitJob("/tenancy/jobs/" + export)

	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(f.api.openapi, &doc); err != nil {
		t.Fatal(err)
	}
	type op struct{ method, path string }
	var ops []op
	for path, item := range doc.Paths {
		for method := range item {
			ops = append(ops, op{method, path})
		}
	}
	// Deletions last, the tenant's very last, so the others find it.
	rank := func(o op) int {
		switch {
		case o.method != "delete":
			return 0
		case strings.Contains(o.path, "domains"):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(ops, func(a, b op) int { return rank(a) - rank(b) })
	for _, o := range ops {
		method := strings.ToUpper(o.method)
		id := job
		if strings.Contains(o.path, "/export/") {
			id = export
		}
		p := strings.NewReplacer("{uuid}", tn.UUID, "{domainId}", fmt.Sprint(tn.Domains[0].ID), "{id}", id).Replace(o.path)
		body := ""
		if method == "POST" || method == "PUT" {
			body = "{}"
		}
		res := f.do(req{method: method, path: p, body: body})
		if res.code == http.StatusNotFound || res.code == http.StatusMethodNotAllowed || res.code >= 500 {
			t.Fatalf("%s %s: %d %s", method, p, res.code, res.body)
		}
		checkEnvelope(t, res)
	}
}
