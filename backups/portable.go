package backups

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/dataport"
)

// ExportOptions choose what an export holds.
type ExportOptions struct {
	// Format is json, csv or sql.
	Format string
	// Tables limits the export to these tables (nil: all).
	Tables []string
}

// Export writes a portable export of tenant t (its tables in Format, and
// its files) to w, from one consistent snapshot of its database. Unknown
// tables or formats are a *ValidationError, before anything is written.
func (s *Service) Export(ctx context.Context, t *tenancy.Tenant, w io.Writer, opts ExportOptions) (*dataport.Manifest, error) {
	if !slices.Contains(dataport.Formats, opts.Format) {
		return nil, &ValidationError{Field: "format", Reason: fmt.Sprintf("%q is not json, csv or sql", opts.Format)}
	}
	version, err := s.ops.MigrationVersion(ctx, t)
	if err != nil {
		return nil, err
	}
	filesDir := ""
	if s.cfg.Files != nil {
		if filesDir, err = s.cfg.Files(t.UUID); err != nil {
			return nil, err
		}
	}
	var m *dataport.Manifest
	err = s.readTx(ctx, t, func(ctx context.Context, tx *sql.Tx) error {
		have, err := dataport.Tables(ctx, tx, s.ops.Dialect())
		if err != nil {
			return err
		}
		if _, err := dataport.CheckTables(have, opts.Tables); err != nil {
			return &ValidationError{Field: "tables", Reason: err.Error()}
		}
		m, err = dataport.Export(ctx, tx, s.ops.Dialect(), w, dataport.ExportOptions{
			Format: opts.Format, Tables: opts.Tables, Omit: s.omit(), FilesDir: filesDir,
			Manifest: dataport.Manifest{
				Tenant: dataport.TenantInfo{UUID: t.UUID, Name: t.Name, Domain: t.PrimaryDomain()},
				Engine: s.cfg.Engine, Mode: s.cfg.Mode, MigrationVersion: version, CreatedAt: s.cfg.Now().UTC(),
			},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ImportOptions name the tenant an import creates.
type ImportOptions struct {
	// Name defaults to the exported tenant's name, Domain to its domain.
	Name, Domain string
}

// Import creates a new tenant from an export file, of this engine or
// another: it checks the whole file first, creates the tenant (inactive
// until the import is done) and migrates it, then loads every table in
// one transaction and the files. All or nothing: on any error the new
// tenant is deleted again. An export from a newer migration version than
// this installation's, or holding a table the migrations do not make, is
// a *ValidationError.
func (s *Service) Import(ctx context.Context, file string, opts ImportOptions) (*tenancy.Tenant, error) {
	a, err := dataport.Open(file)
	if err != nil {
		return nil, &ValidationError{Field: "import_file", Reason: err.Error()}
	}
	defer a.Close()
	if err := a.Verify(); err != nil {
		return nil, &ValidationError{Field: "import_file", Reason: err.Error()}
	}
	if latest := s.ops.LatestVersion(); a.MigrationVersion > latest {
		return nil, &ValidationError{Field: "import_file", Reason: fmt.Sprintf("the export is at migration version %d, newer than this installation's %d", a.MigrationVersion, latest)}
	}
	req := tenancy.CreateRequest{Name: opts.Name, Domain: opts.Domain, Status: tenancy.StatusInactive, Migrate: true}
	if req.Name == "" {
		req.Name = a.Tenant.Name
	}
	if req.Domain == "" {
		req.Domain = a.Tenant.Domain
	}
	return s.intoNewTenant(ctx, req, "import", func(ctx context.Context, t *tenancy.Tenant) error {
		dialect := s.ops.Dialect()
		err := s.ops.DB(ctx, t, func(ctx context.Context, db *sql.DB) error {
			return inTx(ctx, db, func(tx *sql.Tx) error {
				have, err := dataport.Tables(ctx, tx, dialect)
				if err != nil {
					return err
				}
				for _, tb := range a.Tables {
					if !slices.Contains(have, tb.Name) {
						return &ValidationError{Field: "import_file", Reason: fmt.Sprintf("table %s is not made by this installation's migrations", tb.Name)}
					}
				}
				for _, tb := range a.Tables {
					if _, err := a.LoadTable(ctx, tx, dialect, tb, s.ops.TenantColumn() == ""); err != nil {
						var derr *dataport.Error
						if errors.As(err, &derr) || errors.Is(err, dataport.ErrNotExport) {
							return &ValidationError{Field: "import_file", Reason: err.Error()}
						}
						return err
					}
				}
				return nil
			})
		})
		if err != nil || s.cfg.Files == nil || len(a.Files) == 0 {
			return err
		}
		dir, err := s.cfg.Files(t.UUID)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return a.ExtractFiles(dir)
	})
}

// intoNewTenant creates a tenant by req (inactive), runs fill on it under
// its lock and activates it; when anything fails the tenant is deleted.
func (s *Service) intoNewTenant(ctx context.Context, req tenancy.CreateRequest, op string, fill func(ctx context.Context, t *tenancy.Tenant) error) (*tenancy.Tenant, error) {
	mgr := s.cfg.Manager
	req.Status, req.Bare = tenancy.StatusInactive, true
	t, err := mgr.Create(ctx, req)
	if err != nil {
		return nil, err
	}
	err = s.ops.Locked(ctx, t, op, fill)
	if err == nil {
		var active *tenancy.Tenant
		if active, err = mgr.ChangeStatus(ctx, t.UUID, tenancy.StatusChange{Status: tenancy.StatusActive, Reason: op}); err == nil {
			return active, nil
		}
	}
	if _, derr := mgr.Delete(context.WithoutCancel(ctx), t.UUID); derr != nil {
		err = errors.Join(err, fmt.Errorf("delete the half-made tenant %s: %w", t.UUID, derr))
	}
	return nil, err
}

// RestoreInto makes a new tenant (named by req) from a backup of another
// tenant: ref is a backup id of the catalog or an archive file. All or
// nothing: on any error the new tenant is deleted again.
func (s *Service) RestoreInto(ctx context.Context, req tenancy.CreateRequest, ref string, opts RestoreOptions) (*tenancy.Tenant, error) {
	opts.into = true
	req.Migrate = false
	var out *tenancy.Tenant
	_, err := s.intoNewTenant(ctx, req, "restore", func(ctx context.Context, t *tenancy.Tenant) error {
		var err error
		out, err = s.restoreLocked(ctx, t, ref, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.cfg.Manager.Get(ctx, out.UUID)
}

// Clone makes a new tenant (named by req) from the latest complete
// backup of src, for staging copies.
func (s *Service) Clone(ctx context.Context, src *tenancy.Tenant, req tenancy.CreateRequest, opts RestoreOptions) (*tenancy.Tenant, error) {
	list, err := s.ds.Backups(ctx, src.UUID)
	if err != nil {
		return nil, err
	}
	for _, b := range list {
		if b.State == "complete" {
			return s.RestoreInto(ctx, req, b.ID, opts)
		}
	}
	return nil, &ValidationError{Field: "source", Reason: fmt.Sprintf("tenant %s has no complete backup: run tenancy backup %s first", src.Name, src.PrimaryDomain())}
}
