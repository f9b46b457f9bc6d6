package faults

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/internal/testwait"
)

// noteCount reads a demo tenant's note count through the server.
func noteCount(t *testing.T, s *server, host string) (int, int) {
	t.Helper()
	code, body := s.request(t, "GET", host, "/api/notes/count", "")
	if code != http.StatusOK {
		return code, -1
	}
	var v struct {
		Count int `json:"count"`
		Data  struct {
			Count int `json:"count"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("count: %v: %s", err, body)
	}
	return code, max(v.Count, v.Data.Count)
}

// A tenant deleted by the CLI while a server runs, and a new tenant
// created under the same database name, never share data: the server
// serves the new tenant's own database, whose writes survive a restart.
func TestDeleteAndRecreateUnderRunningServer(t *testing.T) {
	t.Parallel()
	d := &dataDir{t: t, dir: t.TempDir()}
	s := d.serve("--demo")
	d.must("create", "Acme", "acme.faults.test", "--database", "acme_db", "--migrate")
	testwait.Eventually(t, "the server to see acme", func() bool { code, _ := noteCount(t, s, "acme.faults.test"); return code == http.StatusOK })
	if code, body := s.request(t, "POST", "acme.faults.test", "/api/notes", `{"body":"secret of acme"}`); code != http.StatusCreated {
		t.Fatalf("post note: %d %s", code, body)
	}
	d.must("delete", "acme.faults.test", "--force")
	d.must("create", "Beta", "beta.faults.test", "--database", "acme_db", "--migrate")
	testwait.Eventually(t, "the server to see beta", func() bool { code, _ := noteCount(t, s, "beta.faults.test"); return code == http.StatusOK })
	if _, body := s.request(t, "GET", "beta.faults.test", "/api/notes", ""); strings.Contains(body, "secret of acme") {
		violation(t, "beta was served acme's deleted note: %s", body)
	}
	if code, _ := noteCount(t, s, "acme.faults.test"); code != http.StatusNotFound {
		violation(t, "the deleted acme answers %d, want 404", code)
	}
	if code, body := s.request(t, "POST", "beta.faults.test", "/api/notes", `{"body":"beta's own"}`); code != http.StatusCreated {
		t.Fatalf("post beta note: %d %s", code, body)
	}
	s.stop()
	s = d.serve()
	if _, n := noteCount(t, s, "beta.faults.test"); n != 1 {
		violation(t, "beta has %d notes after a restart, want its acknowledged one", n)
	}
}
