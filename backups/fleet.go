package backups

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/model"
)

// Result is the outcome of one tenant's backup in BackupAll.
type Result struct {
	TenantUUID string        `json:"tenant_uuid"`
	Tenant     string        `json:"tenant"`
	Backup     *model.Backup `json:"backup,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// BackupAll backs up every tenant (those being created or deleted
// aside), concurrency at a time (at least 1), and reports each; one
// tenant's failure does not stop the others. progress, if not nil, is
// called after each tenant.
func (s *Service) BackupAll(ctx context.Context, concurrency int, opts Options, progress func(done, total int, r Result)) ([]Result, error) {
	if concurrency < 1 {
		return nil, &ValidationError{Field: "concurrency", Reason: "must be at least 1"}
	}
	if _, err := parseRecipients(opts.Recipients); err != nil {
		return nil, err
	}
	all, err := s.cfg.Manager.AllTenants(ctx)
	if err != nil {
		return nil, err
	}
	var tenants []*tenancy.Tenant
	for _, t := range all {
		if !t.Status.Lifecycle() {
			tenants = append(tenants, t)
		}
	}
	results := make([]Result, len(tenants))
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, t := range tenants {
		g.Go(func() error {
			r := Result{TenantUUID: t.UUID, Tenant: t.Name}
			b, err := s.Backup(gctx, t, opts)
			if err != nil {
				r.Error = oneLine(err)
			}
			r.Backup = b
			results[i] = r
			mu.Lock()
			done++
			if progress != nil {
				progress(done, len(tenants), r)
			}
			mu.Unlock()
			return ctx.Err()
		})
	}
	err = g.Wait()
	return results, err
}

// Erasure is what an erase removed: no personal data, only identifiers,
// counts and checksums, so that it can stay in the audit log.
type Erasure struct {
	TenantUUID string          `json:"tenant_uuid"`
	Database   string          `json:"database"`
	Backups    []ErasedBackup  `json:"backups"`
	Exports    []ErasedFile    `json:"exports"`
	Files      int             `json:"files"`
	FileBytes  int64           `json:"file_bytes"`
	Note       string          `json:"note"`
	Tenant     *tenancy.Tenant `json:"-"`
}

// ErasedBackup is a backup an erase deleted.
type ErasedBackup struct {
	ID          string `json:"id"`
	Destination string `json:"destination"`
	Key         string `json:"key"`
	SHA256      string `json:"sha256"`
}

// ErasedFile is an export file an erase deleted.
type ErasedFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Erase deletes tenant t for good (GDPR erasure): its backups at every
// destination and in the catalog, its exports, then the tenant itself
// (its database, files and records, see Manager.Delete; serving nodes
// drop its cache entries when they hear of the delete, and its queued
// jobs are cancelled when they come up, finding no tenant). It records
// the erasure in the audit log. When a step fails Erase stops and says
// so; running it again finishes the job.
func (s *Service) Erase(ctx context.Context, t *tenancy.Tenant) (*Erasure, error) {
	e := &Erasure{TenantUUID: t.UUID, Database: t.DatabaseName, Backups: []ErasedBackup{}, Exports: []ErasedFile{},
		Note: "the tenant, its database, files, domains, backups and exports were deleted"}
	err := s.erase(ctx, t, e)
	if s.cfg.Audit != nil {
		after, _ := json.Marshal(e)
		entry := tenancy.NewAuditEntry(ctx, "tenant.erase", t.UUID, nil, after, err)
		if aerr := s.cfg.Audit.RecordAudit(context.WithoutCancel(ctx), entry); aerr != nil && err == nil {
			err = aerr
		}
	}
	if err != nil {
		return e, s.classify(err)
	}
	return e, nil
}

func (s *Service) erase(ctx context.Context, t *tenancy.Tenant, e *Erasure) error {
	list, err := s.ds.Backups(ctx, t.UUID)
	if err != nil {
		return err
	}
	for _, b := range list {
		if err := s.Delete(ctx, b); err != nil {
			return err
		}
		e.Backups = append(e.Backups, ErasedBackup{ID: b.ID, Destination: b.Destination, Key: b.Key, SHA256: b.SHA256})
	}
	if dir := s.exportDir(t.UUID); dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, en := range entries {
			sum, err := fileSHA256(filepath.Join(dir, en.Name()))
			if err != nil {
				return err
			}
			e.Exports = append(e.Exports, ErasedFile{Name: en.Name(), SHA256: sum})
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if s.cfg.Files != nil {
		dir, err := s.cfg.Files(t.UUID)
		if err != nil {
			return err
		}
		_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					e.Files++
					e.FileBytes += info.Size()
				}
			}
			return nil
		})
	}
	deleted, err := s.cfg.Manager.Delete(ctx, t.UUID)
	e.Tenant = deleted
	return err
}

// exportDir is where the API keeps tenant's export files ("" : nowhere).
func (s *Service) exportDir(tenantUUID string) string {
	if s.cfg.ExportDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.ExportDir, tenantUUID)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrNoExportDir is returned when the service keeps no export files.
var ErrNoExportDir = errors.New("backups: no export directory is configured")

// ExportFile is the path under which the export file name of a tenant is
// kept (in ExportDir), its directory made.
func (s *Service) ExportFile(tenantUUID, name string) (string, error) {
	dir := s.exportDir(tenantUUID)
	if dir == "" {
		return "", ErrNoExportDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(name)), nil
}
