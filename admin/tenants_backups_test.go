package admin

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/model"
)

// exec runs statements in the tenant's database.
func (f *dashFixture) exec(tn *tenancy.Tenant, stmts ...string) {
	f.t.Helper()
	err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// notes lists the bodies of the tenant's notes, in order.
func (f *dashFixture) notes(uuid string) []string {
	f.t.Helper()
	tn, err := f.mgr.Get(context.Background(), uuid)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	err = f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		rows, err := db.QueryContext(ctx, `SELECT body FROM notes ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// backupList is the tenant's backups, newest first.
func (f *dashFixture) backupList(tn *tenancy.Tenant) []*model.Backup {
	f.t.Helper()
	list, err := f.backups.List(context.Background(), tn)
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// backUp takes a backup through the page's button and returns it; the
// backup clock moves on a minute first, so backups sort by when they were
// taken.
func (f *dashFixture) backUp(tn *tenancy.Tenant) *model.Backup {
	f.t.Helper()
	f.backupClock.Advance(time.Minute)
	before := len(f.backupList(tn))
	page := f.postFollow(tenantURL(tn)+"/backups", url.Values{}, tenantURL(tn))
	list := f.backupList(tn)
	if len(list) != before+1 {
		f.t.Fatalf("%d backups after backing up, want %d:\n%s", len(list), before+1, clip(page.body))
	}
	b := list[0]
	if b.State != model.BackupComplete || !b.Compressed || b.Encrypted || b.Size <= 0 {
		f.t.Fatalf("backup %+v", b)
	}
	mustContain(f.t, page.body, `class="flash"`, "Backed up "+tn.Name+": backup "+b.ID)
	return b
}

// state is what a refused action must leave as it was: the tenant's
// record, its notes and its backups.
type state struct {
	generation  int64
	database    string
	maintenance bool
	notes       []string
	backups     []string
}

func (f *dashFixture) state(tn *tenancy.Tenant) state {
	f.t.Helper()
	got, err := f.mgr.Get(context.Background(), tn.UUID)
	if err != nil {
		f.t.Fatal(err)
	}
	s := state{generation: got.Generation, database: got.DatabaseName, maintenance: got.Maintenance, notes: f.notes(tn.UUID)}
	for _, b := range f.backupList(got) {
		s.backups = append(s.backups, b.ID+":"+b.State)
	}
	return s
}

func (f *dashFixture) unchanged(what string, tn *tenancy.Tenant, want state) {
	f.t.Helper()
	got := f.state(tn)
	if got.generation != want.generation || got.database != want.database || got.maintenance != want.maintenance ||
		!slices.Equal(got.notes, want.notes) || !slices.Equal(got.backups, want.backups) {
		f.t.Errorf("%s changed the tenant:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestTenantBackupsBackUpAndRestore(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	other := f.create("Other", "other.test")
	base := tenantURL(ten)

	page := f.get(base)
	if page.code != http.StatusOK {
		t.Fatalf("tenant page: %d\n%s", page.code, clip(page.body))
	}
	mustContain(t, page.body, `id="backups"`, `id="backups-none"`, `id="backup-form"`, `action="`+base+`/backups"`,
		`id="export-form"`, `<option value="json" selected>`, `<option value="csv">`, `<option value="sql">`)
	mustNotContain(t, page.body, "not configured")

	f.exec(ten, `INSERT INTO notes (body) VALUES ('one'), ('two'), ('three')`)
	first := f.backUp(ten)
	f.exec(ten, `INSERT INTO notes (body) VALUES ('four')`)
	second := f.backUp(ten)
	f.backUp(other)

	page = f.get(base)
	mustContain(t, page.body, `id="backups-table"`, `data-backup="`+first.ID+`"`, `data-backup="`+second.ID+`"`,
		`status-complete`, "compressed", "file://", "2026-03-01 02:02:00 UTC",
		`href="`+base+`/backups/`+first.ID+`/download"`,
		`action="`+base+`/backups/`+first.ID+`/restore"`, `name="confirm"`, `<strong class="confirm-name">acme.test</strong>`)
	mustNotContain(t, page.body, `id="backups-none"`)
	// Newest first; the other tenant's backups are not listed.
	if i, j := strings.Index(page.body, `data-backup="`+second.ID), strings.Index(page.body, `data-backup="`+first.ID); i > j {
		t.Errorf("backup %s is listed before the newer %s", first.ID, second.ID)
	}
	if strings.Count(page.body, "<tbody data-backup=") != 2 {
		t.Errorf("the page lists %d backups, want 2", strings.Count(page.body, "<tbody data-backup="))
	}

	// Change the data, then try to restore the first backup with bad input.
	f.exec(ten, `DELETE FROM notes WHERE body = 'one'`, `INSERT INTO notes (body) VALUES ('five')`)
	before := f.state(ten)
	otherBefore := f.state(other)
	restore := base + "/backups/" + first.ID + "/restore"
	for _, c := range []struct {
		name    string
		path    string
		form    url.Values
		header  http.Header
		client  *http.Client
		code    int
		message string
	}{
		{name: "empty confirmation", path: restore, form: url.Values{"confirm": {""}}, code: http.StatusUnprocessableEntity,
			message: "Type the tenant&#39;s primary domain, acme.test, exactly as shown"},
		{name: "no confirmation", path: restore, form: url.Values{}, code: http.StatusUnprocessableEntity,
			message: "Type the tenant&#39;s primary domain"},
		{name: "wrong confirmation", path: restore, form: url.Values{"confirm": {"other.test"}}, code: http.StatusUnprocessableEntity,
			message: "Nothing was restored."},
		{name: "the tenant's name instead", path: restore, form: url.Values{"confirm": {"Acme"}}, code: http.StatusUnprocessableEntity,
			message: "exactly as shown"},
		{name: "unknown backup", path: base + "/backups/20260301T020000Z-nosuchbackup/restore", form: url.Values{"confirm": {"acme.test"}},
			code: http.StatusNotFound, message: "There is no such backup of this tenant."},
		{name: "a path for an id", path: base + "/backups/" + url.PathEscape("/etc/passwd") + "/restore", form: url.Values{"confirm": {"acme.test"}},
			code: http.StatusNotFound, message: "There is no such backup of this tenant."},
		{name: "another tenant's backup", path: base + "/backups/" + f.backupList(other)[0].ID + "/restore", form: url.Values{"confirm": {"acme.test"}},
			code: http.StatusNotFound, message: "There is no such backup of this tenant."},
		{name: "another tenant's backup on its page", path: tenantURL(other) + "/backups/" + first.ID + "/restore", form: url.Values{"confirm": {"other.test"}},
			code: http.StatusNotFound, message: "There is no such backup of this tenant."},
		{name: "cross-site", path: restore, form: url.Values{"confirm": {"acme.test"}}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
			code: http.StatusForbidden},
		{name: "foreign origin", path: restore, form: url.Values{"confirm": {"acme.test"}}, header: http.Header{"Origin": {"https://evil.example"}},
			code: http.StatusForbidden},
		{name: "not signed in", path: restore, form: url.Values{"confirm": {"acme.test"}}, client: newBrowser(t, f.srv),
			code: http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := c.client
			if client == nil {
				client = f.client
			}
			res := f.do(client, http.MethodPost, c.path, c.form, c.header)
			if res.code != c.code {
				t.Fatalf("POST %s: %d, want %d\n%s", c.path, res.code, c.code, clip(res.body))
			}
			if c.message != "" {
				mustContain(t, res.body, c.message)
			}
			if c.code == http.StatusUnprocessableEntity {
				// The page comes back with the message at the backup's form,
				// and what was typed.
				mustContain(t, res.body, `id="restore-error"`, `aria-invalid="true"`)
				if v := c.form.Get("confirm"); v != "" {
					mustContain(t, res.body, `value="`+v+`"`)
				}
			}
			f.unchanged(c.name, ten, before)
			f.unchanged(c.name, other, otherBefore)
		})
	}

	// The domain, typed with stray spaces and capitals, restores.
	page = f.postFollow(restore, url.Values{"confirm": {"  ACME.test "}}, base)
	mustContain(t, page.body, `class="flash"`, "Restored Acme from backup "+first.ID+" (taken 2026-03-01 02:01:00 UTC).")
	if got := f.notes(ten.UUID); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("notes after restoring the first backup: %q", got)
	}
	after := f.state(ten)
	if after.generation != before.generation+1 || after.database == before.database || after.maintenance {
		t.Errorf("after the restore: %+v (before %+v)", after, before)
	}
	if !slices.Equal(after.backups, before.backups) {
		t.Errorf("the restore changed the backups: %v, want %v", after.backups, before.backups)
	}
	f.unchanged("restoring Acme", other, otherBefore)

	// The backup and the restore are in the tenant's audit log, by the
	// admin.
	entries, err := cpOf(f.mgr).Audit(context.Background(), controlplane.AuditFilter{TenantUUID: ten.UUID})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		if e.Actor == "admin:"+dashEmail && e.Outcome != "failed" {
			actions[e.Action]++
		}
	}
	if actions["tenant.backup"] != 2 || actions["tenant.restore"] != 1 {
		t.Errorf("audit log by the admin: %v", actions)
	}
	mustContain(t, f.get(base).body, "tenant.backup", "backup_id: "+second.ID)
}

func TestTenantBackupsNotComplete(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	ds, err := f.mgr.DataOps().Store()
	if err != nil {
		t.Fatal(err)
	}
	failed := &model.Backup{ID: "20260301T010000Z-failedbackup", TenantUUID: ten.UUID, Destination: "file:///nowhere", Key: "tenants/x.tar",
		Engine: "sqlite", Mode: "sqlite", State: model.BackupFailed, Error: "the disk was full", CreatedAt: time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)}
	if err := ds.SaveBackup(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	base := tenantURL(ten)
	page := f.get(base)
	mustContain(t, page.body, `data-backup="`+failed.ID+`"`, `status-failed`, "the disk was full")
	mustNotContain(t, page.body, failed.ID+"/download", failed.ID+"/restore")

	before := f.state(ten)
	res := f.post(base+"/backups/"+failed.ID+"/restore", url.Values{"confirm": {"acme.test"}})
	if res.code != http.StatusConflict {
		t.Fatalf("restoring a failed backup: %d\n%s", res.code, clip(res.body))
	}
	mustContain(t, res.body, "only a complete backup can be restored")
	f.unchanged("restoring a failed backup", ten, before)
	res = f.get(base + "/backups/" + failed.ID + "/download")
	if res.code != http.StatusConflict || res.header.Get("Content-Disposition") != "" {
		t.Fatalf("downloading a failed backup: %d %v", res.code, res.header)
	}
	mustContain(t, res.body, "only a complete backup can be downloaded")
}

func TestTenantBackupDownload(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	other := f.create("Other", "other.test")
	f.exec(ten, `INSERT INTO notes (body) VALUES ('one')`)
	b := f.backUp(ten)
	ob := f.backUp(other)
	base := tenantURL(ten)

	res := f.get(base + "/backups/" + b.ID + "/download")
	if res.code != http.StatusOK {
		t.Fatalf("download: %d\n%s", res.code, clip(res.body))
	}
	_, params, err := mime.ParseMediaType(res.header.Get("Content-Disposition"))
	if err != nil || !strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") || params["filename"] != "acme.test-backup-"+b.ID+".tar.zst" {
		t.Errorf("Content-Disposition %q", res.header.Get("Content-Disposition"))
	}
	if res.header.Get("Content-Type") != "application/octet-stream" || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.header)
	}
	if head := f.do(f.client, http.MethodHead, base+"/backups/"+b.ID+"/download", nil, nil); head.code != http.StatusOK ||
		head.header.Get("Content-Length") != strconv.FormatInt(b.Size, 10) || head.header.Get("Content-Disposition") != res.header.Get("Content-Disposition") {
		t.Errorf("HEAD: %d %v", head.code, head.header)
	}
	sum := sha256.Sum256([]byte(res.body))
	if int64(len(res.body)) != b.Size || hex.EncodeToString(sum[:]) != b.SHA256 {
		t.Errorf("downloaded %d bytes with sha256 %x; the catalog has %d bytes, %s", len(res.body), sum, b.Size, b.SHA256)
	}

	for name, path := range map[string]string{
		"unknown backup":                    base + "/backups/20260301T020000Z-nosuchbackup/download",
		"another tenant's backup":           base + "/backups/" + ob.ID + "/download",
		"a backup through another tenant":   tenantURL(other) + "/backups/" + b.ID + "/download",
		"a path for an id":                  base + "/backups/" + url.PathEscape("../../etc/passwd") + "/download",
		"an unknown tenant":                 "/admin/tenants/00000000-0000-0000-0000-000000000000/backups/" + b.ID + "/download",
		"a backup id for the tenant's uuid": "/admin/tenants/" + b.ID + "/backups/" + b.ID + "/download",
	} {
		res := f.get(path)
		if res.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", name, res.code)
		}
		if res.header.Get("Content-Disposition") != "" {
			t.Errorf("%s: answered with an attachment", name)
		}
	}
	if res := f.do(newBrowser(t, f.srv), http.MethodGet, base+"/backups/"+b.ID+"/download", nil, nil); res.code != http.StatusSeeOther ||
		!strings.HasPrefix(res.location, "/admin/login?next=") {
		t.Errorf("download without a session: %d to %q", res.code, res.location)
	}

	// An archive that is gone from the destination is an error page.
	if err := f.backups.Delete(context.Background(), ob); err != nil {
		t.Fatal(err)
	}
	ds, _ := f.mgr.DataOps().Store()
	if err := ds.SaveBackup(context.Background(), ob); err != nil {
		t.Fatal(err)
	}
	res = f.get(tenantURL(other) + "/backups/" + ob.ID + "/download")
	if res.code != http.StatusGone || res.header.Get("Content-Disposition") != "" {
		t.Fatalf("download of a missing archive: %d %v", res.code, res.header)
	}
	mustContain(t, res.body, "no longer at its destination")
}

func TestTenantExport(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	f.exec(ten, `INSERT INTO notes (body) VALUES ('exported note')`)
	base := tenantURL(ten)
	for _, format := range []string{"json", "csv", "sql"} {
		res := f.post(base+"/export", url.Values{"format": {format}})
		if res.code != http.StatusOK {
			t.Fatalf("export %s: %d\n%s", format, res.code, clip(res.body))
		}
		_, params, err := mime.ParseMediaType(res.header.Get("Content-Disposition"))
		if err != nil || !strings.HasPrefix(params["filename"], "acme.test-export-") || !strings.HasSuffix(params["filename"], "."+format+".zip") {
			t.Errorf("export %s: Content-Disposition %q", format, res.header.Get("Content-Disposition"))
		}
		if res.header.Get("Content-Type") != "application/zip" {
			t.Errorf("export %s: Content-Type %q", format, res.header.Get("Content-Type"))
		}
		zr, err := zip.NewReader(bytes.NewReader([]byte(res.body)), int64(len(res.body)))
		if err != nil {
			t.Fatalf("export %s is not a zip: %v", format, err)
		}
		var names []string
		found := false
		for _, zf := range zr.File {
			names = append(names, zf.Name)
			if strings.Contains(zf.Name, "notes") {
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				_, _ = buf.ReadFrom(rc)
				rc.Close()
				found = found || strings.Contains(buf.String(), "exported note")
			}
		}
		if !found {
			t.Errorf("export %s (%v) lacks the tenant's note", format, names)
		}
	}

	for _, c := range []struct {
		name   string
		form   url.Values
		header http.Header
		code   int
	}{
		{"no format", url.Values{}, nil, http.StatusUnprocessableEntity},
		{"unknown format", url.Values{"format": {"xml"}}, nil, http.StatusUnprocessableEntity},
		{"cross-site", url.Values{"format": {"json"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
	} {
		res := f.do(f.client, http.MethodPost, base+"/export", c.form, c.header)
		if res.code != c.code || res.header.Get("Content-Disposition") != "" {
			t.Errorf("%s: %d %v, want %d and no attachment", c.name, res.code, res.header, c.code)
		}
		if c.code == http.StatusUnprocessableEntity {
			mustContain(t, res.body, `id="export-error"`, "Choose an export format: json, csv, sql.")
		}
	}
	if res := f.do(newBrowser(t, f.srv), http.MethodPost, base+"/export", url.Values{"format": {"json"}}, nil); res.code != http.StatusUnauthorized {
		t.Errorf("export without a session: %d", res.code)
	}
}

func TestTenantBackupsRefuseWithoutSessionOrCSRF(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ten := f.create("Acme", "acme.test")
	base := tenantURL(ten)
	anon := newBrowser(t, f.srv)
	for _, c := range []struct {
		name   string
		client *http.Client
		header http.Header
		code   int
	}{
		{"not signed in", anon, nil, http.StatusUnauthorized},
		{"cross-site", f.client, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"foreign origin", f.client, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
	} {
		if res := f.do(c.client, http.MethodPost, base+"/backups", url.Values{}, c.header); res.code != c.code {
			t.Errorf("back up now, %s: %d, want %d", c.name, res.code, c.code)
		}
	}
	if n := len(f.backupList(ten)); n != 0 {
		t.Fatalf("%d backups taken by refused requests", n)
	}
}

// downDestination is a destination that is down: every call fails with
// errDown.
type downDestination struct{}

var errDown = errors.New("dial tcp 10.0.0.9:443: connection refused")

func (downDestination) Put(context.Context, string, io.Reader) (int64, error) { return 0, errDown }
func (downDestination) Get(context.Context, string) (io.ReadCloser, error)    { return nil, errDown }
func (downDestination) Delete(context.Context, string) error                  { return errDown }
func (downDestination) String() string                                        { return "s3://backups" }
func (downDestination) Close() error                                          { return nil }

// flash is the text of the page's flash message.
func flash(body string) string {
	const open = `<p class="flash" role="status">`
	i := strings.Index(body, open)
	if i < 0 {
		return ""
	}
	rest := body[i+len(open):]
	return rest[:strings.Index(rest, "</p>")]
}

func TestTenantBackupFailureIsFlashed(t *testing.T) {
	t.Parallel()
	f := newDashFixtureWith(t, func(f *dashFixture, c *Config) {
		c.Backups = f.backupService(backups.Config{
			Open:        func(context.Context, string) (backups.Destination, error) { return downDestination{}, nil },
			Destination: "s3://backups",
			Unavailable: func(err error) bool { return errors.Is(err, errDown) },
		})
	})
	ten := f.create("Acme", "acme.test")
	page := f.postFollow(tenantURL(ten)+"/backups", url.Values{}, tenantURL(ten))
	if got, want := flash(page.body), "The backup of Acme failed. The backup destination is unavailable; try again later."; got != want {
		t.Errorf("flash %q, want %q", got, want)
	}
	// The failed backup is listed with its error, and offers nothing.
	mustContain(t, page.body, `status-failed`, "connection refused")
	mustNotContain(t, page.body, "/download", "/restore")
}

func TestTenantBackupsNotConfigured(t *testing.T) {
	t.Parallel()
	f := newDashFixtureWith(t, func(_ *dashFixture, c *Config) { c.Backups = nil })
	ten := f.create("Acme", "acme.test")
	base := tenantURL(ten)
	page := f.get(base)
	if page.code != http.StatusOK {
		t.Fatalf("tenant page: %d\n%s", page.code, clip(page.body))
	}
	mustContain(t, page.body, `id="backups-off"`, "Backups are not configured on this server.", `id="status-form"`, `id="domains-table"`)
	mustNotContain(t, page.body, `id="backup-form"`, `id="export-form"`, `name="confirm"`)
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, base + "/backups"},
		{http.MethodPost, base + "/backups/20260301T020000Z-abcdefghij/restore"},
		{http.MethodGet, base + "/backups/20260301T020000Z-abcdefghij/download"},
		{http.MethodPost, base + "/export"},
	} {
		var form url.Values
		if r.method == http.MethodPost {
			form = url.Values{"confirm": {"acme.test"}, "format": {"json"}}
		}
		res := f.do(f.client, r.method, r.path, form, nil)
		if res.code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d, want 503", r.method, r.path, res.code)
		}
		mustContain(t, res.body, "Backups are not configured on this server.")
	}
}
