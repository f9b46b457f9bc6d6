package api

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
)

// multipartBody builds a multipart form: fields, and files by field name.
func multipartBody(t *testing.T, fields map[string]string, files map[string][]byte) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, v := range files {
		w, _ := mw.CreateFormFile(k, k+".bin")
		w.Write(v)
	}
	mw.Close()
	return b.String(), mw.FormDataContentType()
}

// raw sends a request and returns the recorder, whatever the answer is.
func (f *fixture) raw(method, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://central.test"+path, http.NoBody)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-API-Key", f.read)
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, r)
	return w
}

func (f *fixture) count(t *testing.T, tn *tenancy.Tenant) string {
	t.Helper()
	var n string
	if err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		return db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) insertNotes(t *testing.T, tn *tenancy.Tenant, bodies ...string) {
	t.Helper()
	if err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		for _, b := range bodies {
			if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES (?)`, b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestExportImportEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Exported", "exported.test", true)
	f.insertNotes(t, tn, "one", "two")
	path := "/tenancy/tenants/" + tn.UUID

	f.do(req{method: "POST", path: path + "/export", body: `{"format": "xml"}`, key: f.read}).expect(t, http.StatusUnprocessableEntity).expectField(t, "format")
	f.do(req{method: "POST", path: path + "/export", body: `{"format": 1}`, key: f.read}).expect(t, http.StatusUnprocessableEntity)
	f.do(req{method: "GET", path: path + "/export/nosuch", key: f.read}).expect(t, http.StatusNotFound)

	res := f.do(req{method: "POST", path: path + "/export", body: `{"format": "csv"}`, key: f.read}).expect(t, http.StatusAccepted).data(t)
	job := f.waitJob("/tenancy/jobs/" + str(res["job_id"]))
	if job["state"] != jobSucceeded {
		t.Fatalf("export job: %v", job)
	}
	if r := job["result"].(map[string]any); r["rows"] != float64(2) || r["tables"] != float64(2) || r["format"] != "csv" {
		t.Fatalf("export result %v", r)
	}
	dl := f.raw("GET", str(res["status_url"]))
	if dl.Code != http.StatusOK || dl.Header().Get("Content-Type") != "application/zip" || !strings.Contains(dl.Header().Get("Content-Disposition"), "exported.test") {
		t.Fatalf("download: %d %v %.200q", dl.Code, dl.Header(), dl.Body.String())
	}
	export := dl.Body.Bytes()
	// The job of another tenant's export is not this tenant's.
	other := f.tenant("Other", "other.test", true)
	f.do(req{method: "GET", path: "/tenancy/tenants/" + other.UUID + "/export/" + str(res["job_id"]), key: f.read}).expect(t, http.StatusNotFound)
	// A failing export (an unknown table) fails its job.
	res = f.do(req{method: "POST", path: path + "/export", body: `{"tables": ["nope"]}`, key: f.read}).expect(t, http.StatusAccepted).data(t)
	if job := f.waitJob("/tenancy/jobs/" + str(res["job_id"])); job["state"] == jobSucceeded {
		t.Fatalf("export of an unknown table: %v", job)
	}

	// Import: bad input first, nothing created.
	before := f.catalog()
	body, ct := multipartBody(t, map[string]string{"domain": "imported.test"}, map[string][]byte{"import_file": []byte("not a zip")})
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.write}).expect(t, http.StatusUnprocessableEntity).expectField(t, "import_file")
	body, ct = multipartBody(t, map[string]string{"domain": "imported.test"}, nil)
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.write}).expect(t, http.StatusUnprocessableEntity).expectField(t, "import_file")
	f.do(req{method: "POST", path: "/tenancy/import", body: `{"domain": "imported.test"}`, key: f.write}).expect(t, http.StatusUnsupportedMediaType)
	body, ct = multipartBody(t, map[string]string{"domain": "exported.test"}, map[string][]byte{"import_file": export})
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.write}).expect(t, http.StatusConflict)
	body, ct = multipartBody(t, map[string]string{"domain": "imported.test", "status": "x"}, map[string][]byte{"import_file": export})
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.write}).expect(t, http.StatusUnprocessableEntity).expectField(t, "status")
	body, ct = multipartBody(t, map[string]string{"domain": "imported.test"}, map[string][]byte{"import_file": export[:len(export)/2]})
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.write}).expect(t, http.StatusUnprocessableEntity)
	body, ct = multipartBody(t, map[string]string{"domain": "imported.test"}, map[string][]byte{"import_file": export})
	f.do(req{method: "POST", path: "/tenancy/import", body: body, contentType: ct, key: f.read}).expect(t, http.StatusForbidden)
	if after := f.catalog(); after != before {
		t.Fatalf("refused imports changed the catalog")
	}

	for i, p := range []string{"/tenancy/import", "/tenancy/import-tenant"} {
		domain := []string{"imported.test", "imported2.test"}[i]
		body, ct = multipartBody(t, map[string]string{"domain": domain, "name": "Imported"}, map[string][]byte{"import_file": export})
		d := f.do(req{method: "POST", path: p, body: body, contentType: ct, key: f.write}).expect(t, http.StatusCreated).data(t)
		if d["name"] != "Imported" || d["status"] != "active" {
			t.Fatalf("%s: %v", p, d)
		}
		if n := f.count(t, f.get(str(d["uuid"]))); n != "2" {
			t.Fatalf("%s: imported %s notes", p, n)
		}
	}
}

func TestRestoreUploadResetAndDeleteWithBackup(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	tn := f.tenant("Kept", "kept.test", true)
	f.insertNotes(t, tn, "one", "two", "three")
	path := "/tenancy/tenants/" + tn.UUID
	rec, err := f.api.cfg.Backups.Backup(context.Background(), tn, backups.Options{})
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(filepath.Join(f.dir, "backups", filepath.FromSlash(rec.Key)))
	if err != nil {
		t.Fatal(err)
	}
	f.insertNotes(t, tn, "four")

	// A multipart restore: refused without confirm or with garbage.
	before := f.catalog()
	body, ct := multipartBody(t, nil, map[string][]byte{"backup_file": archive})
	f.do(req{method: "POST", path: path + "/restore", body: body, contentType: ct, key: f.admin}).expect(t, http.StatusUnprocessableEntity).expectField(t, "confirm")
	body, ct = multipartBody(t, map[string]string{"confirm": "true"}, map[string][]byte{"backup_file": []byte("garbage")})
	f.do(req{method: "POST", path: path + "/restore", body: body, contentType: ct, key: f.admin}).expect(t, http.StatusUnprocessableEntity)
	body, ct = multipartBody(t, map[string]string{"confirm": "true"}, map[string][]byte{"backup_file": archive[:len(archive)-100]})
	f.do(req{method: "POST", path: path + "/restore", body: body, contentType: ct, key: f.admin}).expect(t, http.StatusUnprocessableEntity)
	if after := f.catalog(); after != before || f.count(t, tn) != "4" {
		t.Fatalf("refused restores changed the tenant")
	}
	body, ct = multipartBody(t, map[string]string{"confirm": "true"}, map[string][]byte{"backup_file": archive})
	f.do(req{method: "POST", path: path + "/restore", body: body, contentType: ct, key: f.admin}).expect(t, http.StatusOK)
	tn = f.get(tn.UUID)
	if n := f.count(t, tn); n != "3" {
		t.Fatalf("after the multipart restore: %s notes", n)
	}

	// reset with backup and restore_from.
	f.insertNotes(t, tn, "five")
	f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true, "restore_from": "../x"}`, key: f.write}).expect(t, http.StatusUnprocessableEntity).expectField(t, "restore_from")
	f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true, "restore_from": "nosuch"}`, key: f.write}).expect(t, http.StatusNotFound)
	d := f.do(req{method: "POST", path: path + "/reset", body: `{"confirm": true, "backup": true, "restore_from": "` + rec.ID + `"}`, key: f.write}).expect(t, http.StatusOK).data(t)
	if d["backup"] == nil || d["restored_from"] != rec.ID {
		t.Fatalf("reset: %v", d)
	}
	tn = f.get(tn.UUID)
	if n := f.count(t, tn); n != "3" {
		t.Fatalf("after reset from the backup: %s notes", n)
	}
	list, _ := f.api.cfg.Backups.List(context.Background(), tn)
	if len(list) != 2 {
		t.Fatalf("reset with backup=true made no backup: %d", len(list))
	}

	// delete with backup=true: the backup is in meta.
	res := f.do(req{method: "DELETE", path: path + "?force=true&backup=true", key: f.write}).expect(t, http.StatusOK)
	meta, _ := res.env["meta"].(map[string]any)
	b, _ := meta["backup"].(map[string]any)
	if b == nil || b["state"] != "complete" {
		t.Fatalf("delete with backup: meta %v", res.env["meta"])
	}
	if _, err := os.Stat(filepath.Join(f.dir, "backups", filepath.FromSlash(str(b["key"])))); err != nil {
		t.Fatalf("the backup taken before the delete is not there: %v", err)
	}
	f.do(req{method: "GET", path: path, key: f.read}).expect(t, http.StatusNotFound)
}
