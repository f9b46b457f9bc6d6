package admin

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/dataport"
	"github.com/gotenancy/tenancy/model"
)

// noBackups is the answer to the backup routes when the dashboard has no
// backup service.
const noBackups = "Backups are not configured on this server."

// longOperation bounds the write of the answer to a request that runs a
// backup or a restore before it answers: the server's write timeout (a
// minute in serve) would otherwise cut off the answer to one that takes
// longer.
const longOperation = time.Hour

// downloadStall is how long a download may go without the client taking
// any of it before it is cut off. The write deadline moves on as the
// client reads, so a large archive is not cut off by the server's write
// timeout.
const downloadStall = time.Minute

// registerBackupRoutes adds a tenant's backups: back up now, restore,
// download, export.
func (a *Admin) registerBackupRoutes(mux *http.ServeMux) {
	mux.Handle("POST /admin/tenants/{uuid}/backups", a.signedIn(a.backupNow))
	mux.Handle("POST /admin/tenants/{uuid}/backups/{id}/restore", a.signedIn(a.restoreBackup))
	mux.Handle("GET /admin/tenants/{uuid}/backups/{id}/download", a.signedIn(a.downloadBackup))
	mux.Handle("POST /admin/tenants/{uuid}/export", a.signedIn(a.exportTenant))
}

// backupsOn answers 503 and returns false when the dashboard has no
// backup service.
func (a *Admin) backupsOn(w http.ResponseWriter, r *http.Request) bool {
	if a.cfg.Backups != nil {
		return true
	}
	a.renderError(w, r, http.StatusServiceUnavailable, noBackups)
	return false
}

// backupProblem maps an error of the backup service to a problem: a
// sentence for the page, without the error's own text where that can
// carry file paths or credentials' detail (it is logged instead).
func (a *Admin) backupProblem(r *http.Request, err error) problem {
	logged := func(p problem) problem {
		a.log.ErrorContext(r.Context(), "admin: backup operation failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return p
	}
	var ve *backups.ValidationError
	switch {
	case errors.As(err, &ve):
		return problem{http.StatusUnprocessableEntity, ve.Field, sentence(ve.Reason)}
	case errors.Is(err, backups.ErrUnknownBackup):
		return problem{http.StatusNotFound, "backup", noSuchBackup}
	case errors.Is(err, backup.ErrIdentity):
		return logged(problem{http.StatusUnprocessableEntity, "backup", "The backup is encrypted: restore it from the command line, with its identity."})
	case errors.Is(err, backup.ErrCorrupt):
		return logged(problem{http.StatusUnprocessableEntity, "backup", "The backup's archive is corrupt or does not match its checksum."})
	case errors.Is(err, backups.ErrDestinationUnavailable), errors.Is(err, destination.ErrUnavailable):
		return logged(problem{http.StatusServiceUnavailable, "", "The backup destination is unavailable; try again later."})
	case errors.Is(err, destination.ErrNotFound):
		return logged(problem{http.StatusGone, "backup", "The backup's archive is no longer at its destination."})
	case errors.Is(err, destination.ErrDenied):
		return logged(problem{http.StatusBadGateway, "", "The backup destination refused access; see the server log."})
	}
	p := a.classify(r, err)
	if p.Status == http.StatusInternalServerError {
		p.Msg = "See the server log."
	}
	return p
}

// noSuchBackup answers a backup id that is not one of the tenant's.
const noSuchBackup = "There is no such backup of this tenant."

// tenantGone reports whether err says the tenant itself is gone: the
// answer is the error page, not the tenant's.
func tenantGone(err error) bool { return errors.Is(err, tenancy.ErrNotFound) }

// tenantBackup returns the backup of the request's {id} among t's. When
// there is none it returns nil, having answered: the tenant's page with
// the message when page is set, else the error page. A backup of another
// tenant is none of t's.
func (a *Admin) tenantBackup(w http.ResponseWriter, r *http.Request, t *tenancy.Tenant, form actionForm, page bool) *model.Backup {
	id := r.PathValue("id")
	list, err := a.cfg.Backups.List(r.Context(), t)
	if err != nil {
		p := a.backupProblem(r, err)
		if page && !tenantGone(err) {
			a.failAction(w, r, p.Status, t, "backups", form, "The backups could not be listed. "+p.Msg)
		} else {
			a.renderError(w, r, p.Status, p.Msg)
		}
		return nil
	}
	i := slices.IndexFunc(list, func(b *model.Backup) bool { return b.ID == id && b.TenantUUID == t.UUID })
	if i < 0 {
		if page {
			a.failAction(w, r, http.StatusNotFound, t, "backups", form, noSuchBackup)
		} else {
			a.renderError(w, r, http.StatusNotFound, noSuchBackup)
		}
		return nil
	}
	return list[i]
}

// liftWriteTimeout gives the answer to the request up to d from now,
// whatever the server's write timeout (where the connection allows it).
func liftWriteTimeout(w http.ResponseWriter, d time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}

// backupNow serves POST /admin/tenants/{uuid}/backups: it backs the
// tenant up (compressed, to the service's destination) and comes back to
// the tenant's page with the backup's id, or the error, as the flash.
func (a *Admin) backupNow(w http.ResponseWriter, r *http.Request) {
	if !a.backupsOn(w, r) {
		return
	}
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	liftWriteTimeout(w, longOperation)
	b, err := a.cfg.Backups.Backup(r.Context(), t, backups.Options{Compress: true})
	var details map[string]string
	if b != nil {
		details = map[string]string{"backup_id": b.ID, "destination": b.Destination}
	}
	a.cp.RecordAction(r.Context(), "tenant.backup", t.UUID, details, err)
	if err != nil {
		p := a.backupProblem(r, err)
		if tenantGone(err) {
			a.renderError(w, r, p.Status, p.Msg)
			return
		}
		done(w, r, t, "The backup of "+t.Name+" failed. "+p.Msg)
		return
	}
	done(w, r, t, fmt.Sprintf("Backed up %s: backup %s (%s).", t.Name, b.ID, humanize.IBytes(uint64(max(b.Size, 0)))))
}

// restoreBackup serves POST /admin/tenants/{uuid}/backups/{id}/restore
// (confirm): the tenant's database and files are replaced with those of
// its backup {id}, only when confirm repeats the tenant's primary domain.
// Anything else is refused on the tenant's page with nothing changed.
func (a *Admin) restoreBackup(w http.ResponseWriter, r *http.Request) {
	if !a.backupsOn(w, r) {
		return
	}
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	form := actionForm{RestoreID: r.PathValue("id"), Confirm: r.PostForm.Get("confirm")}
	b := a.tenantBackup(w, r, t, form, true)
	if b == nil {
		return
	}
	domain := t.PrimaryDomain()
	if typed := strings.TrimSpace(form.Confirm); typed == "" || domain == "" || !strings.EqualFold(typed, domain) {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "restore", form,
			"Type the tenant's primary domain, "+domain+", exactly as shown to restore this backup. Nothing was restored.")
		return
	}
	if b.State != model.BackupComplete {
		a.failAction(w, r, http.StatusConflict, t, "restore", form, "Backup "+b.ID+" is "+b.State+": only a complete backup can be restored.")
		return
	}
	liftWriteTimeout(w, longOperation)
	after, err := a.cfg.Backups.Restore(r.Context(), t, b.ID, backups.RestoreOptions{})
	if err != nil {
		p := a.backupProblem(r, err)
		if tenantGone(err) {
			a.renderError(w, r, p.Status, p.Msg)
			return
		}
		a.failAction(w, r, p.Status, t, "restore", form, "The restore failed. "+p.Msg)
		return
	}
	done(w, r, after, fmt.Sprintf("Restored %s from backup %s (taken %s).", after.Name, b.ID, b.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")))
}

// downloadBackup serves GET /admin/tenants/{uuid}/backups/{id}/download:
// the archive of a complete backup of the tenant, as it is stored.
func (a *Admin) downloadBackup(w http.ResponseWriter, r *http.Request) {
	if !a.backupsOn(w, r) {
		return
	}
	t := a.loadTenant(w, r)
	if t == nil {
		return
	}
	b := a.tenantBackup(w, r, t, actionForm{}, false)
	if b == nil {
		return
	}
	if b.State != model.BackupComplete {
		a.renderError(w, r, http.StatusConflict, "Backup "+b.ID+" is "+b.State+": only a complete backup can be downloaded.")
		return
	}
	dw := &downloadWriter{w: w, name: archiveName(t, b), contentType: "application/octet-stream", size: b.Size}
	if r.Method == http.MethodHead {
		dw.start()
		return
	}
	rc, err := a.cfg.Backups.Open(r.Context(), b)
	if err != nil {
		p := a.backupProblem(r, err)
		a.renderError(w, r, p.Status, "The download failed. "+p.Msg)
		return
	}
	defer rc.Close()
	_, err = io.Copy(dw, rc)
	a.cp.RecordAction(r.Context(), "tenant.backup_download", t.UUID, map[string]string{"backup_id": b.ID}, err)
	if err != nil {
		a.streamFailed(w, r, dw, "downloading a backup", err)
	}
}

// archiveName is the file name a backup's archive is downloaded as.
func archiveName(t *tenancy.Tenant, b *model.Backup) string {
	ext := ".tar"
	if b.Compressed {
		ext += ".zst"
	}
	if b.Encrypted {
		ext += ".age"
	}
	return downloadPrefix(t) + "backup-" + b.ID + ext
}

// downloadPrefix starts the name of a tenant's downloads: its primary
// domain.
func downloadPrefix(t *tenancy.Tenant) string {
	if d := t.PrimaryDomain(); d != "" {
		return d + "-"
	}
	return ""
}

// exportTenant serves POST /admin/tenants/{uuid}/export (format): a
// portable export of the tenant's tables and files, streamed as a zip
// while it is made. Nothing of it is kept on the server.
func (a *Admin) exportTenant(w http.ResponseWriter, r *http.Request) {
	if !a.backupsOn(w, r) {
		return
	}
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	form := actionForm{ExportFormat: strings.TrimSpace(r.PostForm.Get("format"))}
	if !slices.Contains(dataport.Formats, form.ExportFormat) {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "export", form, "Choose an export format: "+strings.Join(dataport.Formats, ", ")+".")
		return
	}
	name := fmt.Sprintf("%sexport-%s.%s.zip", downloadPrefix(t), a.cfg.Now().UTC().Format("20060102T150405Z"), form.ExportFormat)
	dw := &downloadWriter{w: w, name: name, contentType: "application/zip", size: -1}
	_, err := a.cfg.Backups.Export(r.Context(), t, dw, backups.ExportOptions{Format: form.ExportFormat})
	a.cp.RecordAction(r.Context(), "tenant.export", t.UUID, map[string]string{"format": form.ExportFormat}, err)
	if err == nil {
		return
	}
	if dw.started {
		a.streamFailed(w, r, dw, "exporting a tenant", err)
		return
	}
	p := a.backupProblem(r, err)
	if tenantGone(err) {
		a.renderError(w, r, p.Status, p.Msg)
		return
	}
	a.failAction(w, r, p.Status, t, "export", form, "The export failed. "+p.Msg)
}

// streamFailed ends a download that failed: with an error page when
// nothing of it was sent, else by cutting the connection, so the client
// sees a failed download rather than a short file.
func (a *Admin) streamFailed(w http.ResponseWriter, r *http.Request, dw *downloadWriter, doing string, err error) {
	if !dw.started {
		p := a.backupProblem(r, err)
		a.renderError(w, r, p.Status, "The download failed. "+p.Msg)
		return
	}
	if r.Context().Err() == nil {
		a.log.ErrorContext(r.Context(), "admin: "+doing, "path", r.URL.Path, "bytes", dw.written, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// downloadWriter answers with an attachment: the headers go out with the
// first byte, so an error before it can still be answered with a page.
// Each write moves the write deadline on by downloadStall.
type downloadWriter struct {
	w           http.ResponseWriter
	name        string
	contentType string
	// size is the Content-Length, or -1 when it is not known.
	size     int64
	started  bool
	written  int64
	extended time.Time
}

// start sends the headers.
func (d *downloadWriter) start() {
	d.started = true
	h := d.w.Header()
	h.Set("Content-Type", d.contentType)
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": d.name})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	if d.size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(d.size, 10))
	}
	d.w.WriteHeader(http.StatusOK)
}

func (d *downloadWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.start()
	}
	if now := time.Now(); now.Sub(d.extended) >= time.Second {
		d.extended = now
		_ = http.NewResponseController(d.w).SetWriteDeadline(now.Add(downloadStall))
	}
	n, err := d.w.Write(p)
	d.written += int64(n)
	return n, err
}
