package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/migrate"
)

type backupBody struct {
	Compression  bool   `json:"compression" doc:"Compress the archive with zstd."`
	IncludeData  *bool  `json:"include_data" doc:"Must be true or absent: a backup always holds the tenant's data."`
	IncludeFiles *bool  `json:"include_files" doc:"Must be true or absent: a backup always holds the tenant's files."`
	StorageDisk  string `json:"storage_disk" doc:"Destination URL (file:///dir or s3://bucket?endpoint=…&region=…); default the server's."`
}

type restoreBody struct {
	BackupID string `json:"backup_id" api:"required" doc:"Id of the backup, from GET /tenancy/tenants/{uuid}/backups."`
	Confirm  bool   `json:"confirm" api:"required" doc:"Must be true: the tenant's data is replaced."`
}

// errNoBackups answers when the server has no backup service.
var errNoBackups = &apiError{Status: http.StatusServiceUnavailable, Message: "Backups are not configured on this server."}

// backupTenant serves POST /tenancy/tenants/{uuid}/backup: the backup
// runs as a job; its result is the backup record.
func (a *API) backupTenant(w http.ResponseWriter, r *http.Request) error {
	var b backupBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if b.IncludeData != nil && !*b.IncludeData {
		errs.add("include_data", "a backup always holds the tenant's data")
	}
	if b.IncludeFiles != nil && !*b.IncludeFiles {
		errs.add("include_files", "a backup always holds the tenant's files")
	}
	if err := errs.err(); err != nil {
		return err
	}
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	j, err := a.jobs.startTask(r.Context(), "backup", a.now(), func(ctx context.Context) (any, error) {
		return a.cfg.Backups.Backup(ctx, t, backups.Options{Destination: strings.TrimSpace(b.StorageDisk), Compress: b.Compression})
	})
	if err != nil {
		return err
	}
	url := "/tenancy/jobs/" + j.id
	w.Header().Set("Location", url)
	return a.respond(w, http.StatusAccepted, map[string]string{"job_id": j.id, "status_url": url}, nil, "Backup started")
}

// listBackups serves GET /tenancy/tenants/{uuid}/backups.
func (a *API) listBackups(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	list, err := a.cfg.Backups.List(r.Context(), t)
	if err != nil {
		return err
	}
	return a.ok(w, map[string]any{"tenant_uuid": t.UUID, "backups": list}, "")
}

// restoreTenant serves POST /tenancy/tenants/{uuid}/restore.
func (a *API) restoreTenant(w http.ResponseWriter, r *http.Request) error {
	if isMultipart(r) {
		return a.restoreUpload(w, r)
	}
	var b restoreBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if !b.Confirm {
		errs.add("confirm", "must be true: the tenant's data is replaced")
	}
	if strings.TrimSpace(b.BackupID) == "" {
		errs.add("backup_id", "is required")
	} else if strings.ContainsAny(b.BackupID, `/\`) || strings.Contains(b.BackupID, "..") {
		// Only catalog ids: the API never reads files of the server.
		errs.add("backup_id", "is not a backup id")
	}
	if err := errs.err(); err != nil {
		return err
	}
	if a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	after, err := a.cfg.Backups.Restore(r.Context(), t, b.BackupID, backups.RestoreOptions{})
	if err != nil {
		return backupError(err)
	}
	return a.ok(w, map[string]any{"tenant": after, "backup_id": b.BackupID}, "Tenant restored")
}

// backupError maps the backup service's errors to answers.
func backupError(err error) error {
	var ve *backups.ValidationError
	switch {
	case errors.As(err, &ve):
		return invalid(ve.Field, ve.Reason)
	case errors.Is(err, backups.ErrUnknownBackup):
		return &apiError{Status: http.StatusNotFound, Message: "Unknown backup."}
	case errors.Is(err, backup.ErrCorrupt), errors.Is(err, backup.ErrIdentity):
		return &apiError{Status: http.StatusUnprocessableEntity, Message: err.Error()}
	case errors.Is(err, backups.ErrDestinationUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Message: "The backup destination is unavailable; try again later.", Err: err}
	}
	return err
}

// startTask runs fn as a job of one step; its result is the job's result.
func (reg *jobRegistry) startTask(reqCtx context.Context, operation string, now time.Time, fn func(ctx context.Context) (any, error)) (*job, error) {
	var j *job
	ready := make(chan struct{})
	j, err := reg.start(reqCtx, operation, now, func(ctx context.Context, _ func(migrate.Progress)) (*tenancy.FleetReport, error) {
		<-ready
		res, err := fn(ctx)
		j.mu.Lock()
		j.result = res
		j.mu.Unlock()
		return nil, err
	})
	if err == nil {
		close(ready)
	}
	return j, err
}
