package api

import (
	"net/http"
	"testing"
)

func TestBackupEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Backed", "backed.test", true)
	path := "/tenancy/tenants/" + tn.UUID

	// Bad input: the envelope with a 4xx, nothing started.
	f.do(req{method: "POST", path: path + "/backup", body: `{"include_data": false}`, key: f.write}).expect(t, http.StatusUnprocessableEntity).expectField(t, "include_data")
	f.do(req{method: "POST", path: path + "/backup", body: `{"compression": "yes"}`, key: f.write}).expect(t, http.StatusUnprocessableEntity)
	f.do(req{method: "POST", path: "/tenancy/tenants/00000000-0000-4000-8000-000000000000/backup", body: `{}`, key: f.write}).expect(t, http.StatusNotFound)
	f.do(req{method: "POST", path: path + "/backup", body: `{}`, key: f.read}).expect(t, http.StatusForbidden)
	if list := f.do(req{method: "GET", path: path + "/backups", key: f.read}).expect(t, http.StatusOK).data(t)["backups"].([]any); len(list) != 0 {
		t.Fatalf("backups before any: %v", list)
	}

	res := f.do(req{method: "POST", path: path + "/backup", body: `{"compression": true}`, key: f.write}).expect(t, http.StatusAccepted).data(t)
	job := f.waitJob(str(res["status_url"]))
	if job["state"] != jobSucceeded {
		t.Fatalf("backup job: %v", job)
	}
	rec := job["result"].(map[string]any)
	if rec["state"] != "complete" || rec["compressed"] != true {
		t.Fatalf("backup record: %v", rec)
	}
	list := f.do(req{method: "GET", path: path + "/backups", key: f.read}).expect(t, http.StatusOK).data(t)["backups"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != rec["id"] {
		t.Fatalf("backups: %v", list)
	}

	other := f.tenant("Other", "other.test", true)
	before := f.catalog()
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"backup_id": "` + str(rec["id"]) + `"}`, http.StatusUnprocessableEntity},            // no confirm
		{`{"confirm": true}`, http.StatusUnprocessableEntity},                                  // no id
		{`{"backup_id": "../../etc/passwd", "confirm": true}`, http.StatusUnprocessableEntity}, // a path
		{`{"backup_id": "20260101T000000Z-nosuch", "confirm": true}`, http.StatusNotFound},     // unknown
	} {
		f.do(req{method: "POST", path: path + "/restore", body: c.body, key: f.admin}).expect(t, c.code)
	}
	f.do(req{method: "POST", path: "/tenancy/tenants/" + other.UUID + "/restore", body: `{"backup_id": "` + str(rec["id"]) + `", "confirm": true}`, key: f.admin}).expect(t, http.StatusUnprocessableEntity)
	f.do(req{method: "POST", path: path + "/restore", body: `{"backup_id": "` + str(rec["id"]) + `", "confirm": true}`, key: f.write}).expect(t, http.StatusForbidden)
	if after := f.catalog(); after != before {
		t.Errorf("refused restores changed the catalog")
	}

	d := f.do(req{method: "POST", path: path + "/restore", body: `{"backup_id": "` + str(rec["id"]) + `", "confirm": true}`, key: f.admin}).expect(t, http.StatusOK).data(t)
	if g := d["tenant"].(map[string]any)["database_generation"]; g != float64(2) {
		t.Errorf("generation after restore: %v", g)
	}
}
