package faults

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testwait"
)

// api sends an authenticated control-plane request and decodes the
// envelope's data.
func (s *server) api(t *testing.T, key, method, path string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.NewDecoder(res.Body).Decode(&env)
	return res.StatusCode, env.Data
}

// Three POST /tenancy/migrate-all-tenants at once apply every migration
// exactly once: each tenant is migrated by the job that locked it first,
// and the others wait for it or skip it.
func TestConcurrentMigrateAllThroughTheAPI(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 5_000)
	// The test polls the jobs faster than the API's default rate limit.
	d.env = append(d.env, "TENANCY_API_RATE_LIMIT=false")
	names := createFleet(d, 6)
	var created struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(d.must("api-key", "create", "--name", "faults", "--scopes", "admin", "-o", "json")), &created); err != nil {
		t.Fatal(err)
	}
	s := d.serve()
	jobs := make([]string, 3)
	var wg sync.WaitGroup
	for i := range jobs {
		concurrentRuns.Add(1)
		wg.Go(func() {
			code, data := s.api(t, created.Secret, "POST", "/tenancy/migrate-all-tenants")
			if code != http.StatusAccepted {
				t.Errorf("run %d: %d %v", i, code, data)
				return
			}
			jobs[i], _ = data["job_id"].(string)
		})
	}
	wg.Wait()
	for i, id := range jobs {
		if id == "" {
			continue
		}
		var data map[string]any
		testwait.Eventually(t, "fleet job "+id, func() bool {
			var code int
			code, data = s.api(t, created.Secret, "GET", "/tenancy/jobs/"+id)
			return code == http.StatusOK && data["state"] != "running"
		})
		// A job may skip a tenant another job held longer than the lock
		// wait (it then ends failed, with only skipped tenants); no job
		// may fail a tenant.
		summary, _ := data["summary"].(map[string]any)
		if data["state"] != "succeeded" && (data["state"] != "failed" || summary["failed"] != float64(0)) {
			t.Errorf("job %d ended %v: %v", i, data["state"], data)
		}
	}
	d.checkInvariants(names...)
}
