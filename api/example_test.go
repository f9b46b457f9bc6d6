package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/api"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// ExampleNew mounts the API under /tenancy/ and creates a tenant with a
// stored key, as the reference's curl line does.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "api-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: st, Provisioner: prov})
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Close()

	cp, err := controlplane.New(st, nil)
	if err != nil {
		log.Fatal(err)
	}

	// What `tenancy api-key create --name ops --scopes admin` does.
	_, secret, err := cp.CreateAPIKey(ctx, "ops", []controlplane.Scope{controlplane.ScopeAdmin})
	if err != nil {
		log.Fatal(err)
	}
	env := map[string]string{"TENANCY_API_RATE_LIMIT_ATTEMPTS": "120"}
	limits, err := api.RateLimitFromEnv(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	a, err := api.New(&api.Config{Manager: mgr, ControlPlane: cp, RateLimit: limits})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	mux := http.NewServeMux()
	mux.Handle("/tenancy/", a)

	r := httptest.NewRequest("POST", "/tenancy/tenants/create", strings.NewReader(`{"name": "Acme Corp", "domain": "acme.example.com"}`))
	r.Header.Set("X-API-Key", secret)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)

	var res struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
		Data    struct {
			Domain struct {
				Domain string `json:"domain"`
			} `json:"domain"`
			MigrationStatus string `json:"migration_status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, res.Success, res.Message)
	fmt.Println(res.Data.Domain.Domain, res.Data.MigrationStatus)
	fmt.Println("limit", w.Header().Get("X-RateLimit-Limit"), "remaining", w.Header().Get("X-RateLimit-Remaining"))
	// Output:
	// 201 true Tenant created successfully
	// acme.example.com not_requested
	// limit 120 remaining 119
}
