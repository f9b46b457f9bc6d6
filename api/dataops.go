package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/dataport"
)

// maxUploadBytes bounds an uploaded backup or export file.
const maxUploadBytes = 8 << 30

type exportBody struct {
	Format string   `json:"format" doc:"json (a document per table), csv (a file per table) or sql (INSERT statements); default json."`
	Tables []string `json:"tables" doc:"Export only these tables; default all."`
}

// exportResult is the result of an export job.
type exportResult struct {
	Format string `json:"format"`
	Tables int    `json:"tables"`
	Rows   int64  `json:"rows"`
	Files  int    `json:"files"`
	Size   int64  `json:"size"`

	tenantUUID, file string
}

// exportTenant serves POST /tenancy/tenants/{uuid}/export: the export
// runs as a job; GET …/export/{job-id} answers its state, then the file.
func (a *API) exportTenant(w http.ResponseWriter, r *http.Request) error {
	var b exportBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.Format == "" {
		b.Format = dataport.FormatJSON
	}
	if !slices.Contains(dataport.Formats, b.Format) {
		return invalid("format", "must be json, csv or sql")
	}
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	file, err := a.cfg.Backups.ExportFile(t.UUID, strings.ToLower(rand.Text())+"."+b.Format+".zip")
	if err != nil {
		return err
	}
	j, err := a.jobs.startTask(r.Context(), "export", a.now(), func(ctx context.Context) (any, error) {
		res := &exportResult{Format: b.Format, tenantUUID: t.UUID, file: file}
		f, err := os.OpenFile(file+".part", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		m, err := a.cfg.Backups.Export(ctx, t, f, backups.ExportOptions{Format: b.Format, Tables: b.Tables})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		if err := os.Rename(f.Name(), file); err != nil {
			return nil, err
		}
		res.Tables, res.Files = len(m.Tables), len(m.Files)
		for _, tb := range m.Tables {
			res.Rows += tb.Rows
		}
		if st, err := os.Stat(file); err == nil {
			res.Size = st.Size()
		}
		return res, nil
	})
	if err != nil {
		return err
	}
	url := "/tenancy/tenants/" + t.UUID + "/export/" + j.id
	w.Header().Set("Location", url)
	return a.respond(w, http.StatusAccepted, map[string]string{"job_id": j.id, "status_url": url}, nil, "Export started")
}

// exportDownload serves GET /tenancy/tenants/{uuid}/export/{id}: the job's
// state while it runs or when it failed, the zip when it is done.
func (a *API) exportDownload(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	j, ok := a.jobs.get(r.PathValue("id"))
	if !ok || j.operation != "export" {
		return &apiError{Status: http.StatusNotFound, Message: "Unknown export job (jobs are kept by the node that started them, for a while)."}
	}
	v := j.view()
	res, _ := v.Result.(*exportResult)
	if res != nil && res.tenantUUID != t.UUID {
		return &apiError{Status: http.StatusNotFound, Message: "Unknown export job."}
	}
	if res == nil || v.State != "succeeded" {
		return a.ok(w, v, "Export "+v.State)
	}
	f, err := os.Open(res.file)
	if errors.Is(err, os.ErrNotExist) {
		return &apiError{Status: http.StatusGone, Message: "The export file is gone (erased)."}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%s.%s.zip", t.PrimaryDomain(), j.id, res.Format)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, st.ModTime(), f)
	return nil
}

// upload is a multipart request's file, saved to a temporary file, and
// its other fields.
type upload struct {
	file   string
	fields map[string]string
}

func (u *upload) remove() {
	if u != nil && u.file != "" {
		os.Remove(u.file)
	}
}

// isMultipart reports whether the request carries a multipart form.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// readUpload reads a multipart form with the file field fileField (saved
// to a temporary file) and small text fields.
func readUpload(w http.ResponseWriter, r *http.Request, fileField string) (*upload, error) {
	if !isMultipart(r) {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Message: "Send the file as multipart/form-data, field " + fileField + "."}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "The multipart body could not be read."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	u := &upload{fields: map[string]string{}}
	fail := func(err error) (*upload, error) {
		u.remove()
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Uploads are limited to %d bytes.", int64(maxUploadBytes))}
		}
		if ae, ok := err.(*apiError); ok {
			return nil, ae
		}
		return nil, &apiError{Status: http.StatusBadRequest, Message: "The multipart body could not be read."}
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		name := p.FormName()
		switch {
		case name == fileField:
			if u.file != "" {
				return fail(invalid(fileField, "is given twice"))
			}
			f, err := os.CreateTemp("", "tenancy-upload-*")
			if err != nil {
				return fail(err)
			}
			u.file = f.Name()
			_, err = io.Copy(f, p)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fail(err)
			}
		case name != "":
			b, err := io.ReadAll(io.LimitReader(p, 64<<10))
			if err != nil {
				return fail(err)
			}
			u.fields[name] = strings.TrimSpace(string(b))
		}
		p.Close()
	}
	if u.file == "" {
		return fail(invalid(fileField, "is required"))
	}
	return u, nil
}

// importTenant serves POST /tenancy/import and /tenancy/import-tenant: a
// new tenant from an uploaded export (multipart import_file, name,
// domain).
func (a *API) importTenant(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	u, err := readUpload(w, r, "import_file")
	if err != nil {
		return err
	}
	defer u.remove()
	for name := range u.fields {
		if name != "name" && name != "domain" {
			return invalid(name, "is not a field of an import (import_file, name, domain)")
		}
	}
	t, err := a.cfg.Backups.Import(r.Context(), u.file, backups.ImportOptions{Name: u.fields["name"], Domain: u.fields["domain"]})
	if err != nil {
		return backupError(err)
	}
	return a.respond(w, http.StatusCreated, t, nil, "Tenant imported")
}

// restoreUpload is POST …/restore with a multipart backup_file.
func (a *API) restoreUpload(w http.ResponseWriter, r *http.Request) error {
	u, err := readUpload(w, r, "backup_file")
	if err != nil {
		return err
	}
	defer u.remove()
	if u.fields["confirm"] != "true" {
		return invalid("confirm", "must be true: the tenant's data is replaced")
	}
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	// A path, never a catalog id: the name of the temporary file is not
	// one (ids have no slash).
	after, err := a.cfg.Backups.Restore(r.Context(), t, filepath.Clean(u.file), backups.RestoreOptions{})
	if err != nil {
		return backupError(err)
	}
	return a.ok(w, map[string]any{"tenant": after, "backup_file": true}, "Tenant restored")
}

// backupFirst takes a backup of t before a destructive change (delete,
// reset); without a backup service it refuses with 503.
func (a *API) backupFirst(ctx context.Context, t *tenancy.Tenant) (any, error) {
	if a.cfg.Backups == nil {
		return nil, errNoBackups
	}
	rec, err := a.cfg.Backups.Backup(ctx, t, backups.Options{Compress: true})
	if err != nil {
		return nil, backupError(err)
	}
	return rec, nil
}
