// Package backups backs tenants up to a destination and restores them: it
// writes backup archives (package backup) of a tenant's database and
// files, records them in the catalog, and restores a tenant from one into
// a new database that is swapped in only after it checks out
// (tenancy.DataOps.ReplaceDatabase).
package backups

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup"
	"github.com/gotenancy/tenancy/model"
)

// Destination is where archives are kept (package backup/destination
// implements it over gocloud.dev/blob).
type Destination interface {
	// Put stores r under key atomically: on error nothing is left.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
	// String is the destination's URL without secrets.
	String() string
	Close() error
}

// Config configures a Service.
type Config struct {
	Manager *tenancy.Manager
	// Open opens a destination URL; required.
	Open func(ctx context.Context, url string) (Destination, error)
	// Destination is the default destination URL; required.
	Destination string
	// Files returns the directory of a tenant's files (its storage root);
	// nil: backups hold no files.
	Files func(tenantUUID string) (string, error)
	// Engine and Mode name the tenant databases ("sqlite", "sqlite").
	Engine, Mode string
	// TempDir holds snapshots and extracted archives while they are used
	// ("" : os.TempDir()).
	TempDir string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// ExportDir keeps the export files the API makes, one directory per
	// tenant ("": none), which an erase deletes.
	ExportDir string
	// Audit records erasures (nil: not recorded).
	Audit model.AuditRecorder
	// Unavailable reports whether a destination's error means it is down
	// (nil: none does); such errors are wrapped in
	// ErrDestinationUnavailable.
	Unavailable func(error) bool
}

// Service runs backups and restores.
type Service struct {
	cfg Config
	ops tenancy.DataOps
	ds  model.DataStore
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Manager == nil || cfg.Open == nil || cfg.Destination == "" {
		return nil, errors.New("backups: Manager, Open and Destination are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ops := cfg.Manager.DataOps()
	ds, err := ops.Store()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, ops: ops, ds: ds}, nil
}

// Options choose how a backup is written.
type Options struct {
	// Destination overrides the default destination URL.
	Destination string
	Compress    bool
	// Recipients encrypt the archive (age recipients, "age1…").
	Recipients []string
}

// ValidationError is bad input; nothing was changed.
type ValidationError struct{ Field, Reason string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Backup writes a backup of tenant t under its lock and records it. On
// error nothing is left at the destination and the record, if one was
// made, says failed.
func (s *Service) Backup(ctx context.Context, t *tenancy.Tenant, opts Options) (*model.Backup, error) {
	recipients, err := parseRecipients(opts.Recipients)
	if err != nil {
		return nil, err
	}
	url := opts.Destination
	if url == "" {
		url = s.cfg.Destination
	}
	dest, err := s.cfg.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer dest.Close()
	var rec *model.Backup
	err = s.ops.Locked(ctx, t, "backup", func(ctx context.Context, t *tenancy.Tenant) error {
		version, err := s.ops.MigrationVersion(ctx, t)
		if err != nil {
			return err
		}
		now := s.cfg.Now().UTC()
		id := newID(now)
		ext := ".tar"
		if opts.Compress {
			ext += ".zst"
		}
		if len(recipients) > 0 {
			ext += ".age"
		}
		rec = &model.Backup{ID: id, TenantUUID: t.UUID, Destination: dest.String(),
			Key: "tenants/" + t.UUID + "/" + id + ext, Engine: s.cfg.Engine, Mode: s.cfg.Mode, MigrationVersion: version,
			Compressed: opts.Compress, Encrypted: len(recipients) > 0, State: model.BackupRunning, CreatedAt: now}
		if err := s.ds.SaveBackup(ctx, rec); err != nil {
			return err
		}
		size, sum, err := s.write(ctx, t, rec, dest, backup.WriterOptions{Compress: opts.Compress, Recipients: recipients})
		if err != nil {
			return err
		}
		done := s.cfg.Now().UTC()
		rec.Size, rec.SHA256, rec.State, rec.CompletedAt = size, sum, model.BackupComplete, &done
		return s.ds.SaveBackup(ctx, rec)
	})
	if err != nil {
		if rec != nil && rec.State == model.BackupRunning {
			rec.State, rec.Error = model.BackupFailed, oneLine(err)
			_ = s.ds.SaveBackup(context.WithoutCancel(ctx), rec)
		}
		return nil, s.classify(err)
	}
	return rec, nil
}

// write streams the archive of t to dest under rec.Key and returns its
// size and SHA-256.
func (s *Service) write(ctx context.Context, t *tenancy.Tenant, rec *model.Backup, dest Destination, wopts backup.WriterOptions) (int64, string, error) {
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "tenancy-backup-")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(tmp)
	parts, err := s.snapshot(ctx, t, tmp)
	if err != nil {
		return 0, "", err
	}
	pr, pw := io.Pipe()
	h := sha256.New()
	go func() {
		pw.CloseWithError(s.archive(t, rec, parts, io.MultiWriter(pw, h), wopts))
	}()
	size, err := dest.Put(ctx, rec.Key, pr)
	pr.CloseWithError(errors.New("backup: the destination stopped reading"))
	if err != nil {
		return 0, "", err
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// archive writes the archive of t's database parts (archive name → file)
// and files to w.
func (s *Service) archive(t *tenancy.Tenant, rec *model.Backup, parts []part, w io.Writer, wopts backup.WriterOptions) error {
	aw, err := backup.NewWriter(w, backup.Header{ID: rec.ID, TenantUUID: t.UUID, Engine: rec.Engine, Mode: rec.Mode,
		MigrationVersion: rec.MigrationVersion, CreatedAt: rec.CreatedAt}, wopts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := aw.AddFile(p.name, p.file); err != nil {
			return err
		}
	}
	if s.cfg.Files != nil {
		dir, err := s.cfg.Files(t.UUID)
		if err != nil {
			return err
		}
		if err := aw.AddDir(backup.FilesDir, dir); err != nil {
			return err
		}
	}
	_, err = aw.Close()
	return err
}

// List returns the tenant's backups, newest first.
func (s *Service) List(ctx context.Context, t *tenancy.Tenant) ([]*model.Backup, error) {
	return s.ds.Backups(ctx, t.UUID)
}

// RestoreOptions are what a restore needs besides the backup.
type RestoreOptions struct {
	// Identities decrypt an encrypted backup.
	Identities []age.Identity
	// into: the backup is of another tenant (RestoreInto).
	into bool
}

// ErrDestinationUnavailable marks a destination that is down (Config's
// Unavailable says which errors are); callers answer 503.
var ErrDestinationUnavailable = errors.New("the backup destination is unavailable")

// ErrUnknownBackup is a backup id the catalog does not know.
var ErrUnknownBackup = errors.New("unknown backup")

// Restore replaces tenant t's database and files with those of a backup:
// ref is a backup id of the catalog or the path of an archive file. The
// archive is read and checked whole (checksums, engine, tenant, migration
// version) before anything changes; the database is restored into a new
// database swapped in under the tenant's lock, with the tenant in
// maintenance meanwhile. A failed restore leaves the tenant as it was.
func (s *Service) Restore(ctx context.Context, t *tenancy.Tenant, ref string, opts RestoreOptions) (*tenancy.Tenant, error) {
	var out *tenancy.Tenant
	err := s.fetched(ctx, t, ref, opts, func(dir string, m *backup.Manifest) error {
		return s.ops.Locked(ctx, t, "restore", func(ctx context.Context, t *tenancy.Tenant) error {
			var err error
			out, err = s.apply(ctx, t, dir, m)
			return err
		})
	})
	return out, err
}

// restoreLocked is Restore for a caller that holds t's lock.
func (s *Service) restoreLocked(ctx context.Context, t *tenancy.Tenant, ref string, opts RestoreOptions) (*tenancy.Tenant, error) {
	var out *tenancy.Tenant
	err := s.fetched(ctx, t, ref, opts, func(dir string, m *backup.Manifest) error {
		var err error
		out, err = s.apply(ctx, t, dir, m)
		return err
	})
	return out, err
}

// fetched fetches and checks the archive of ref into a temporary
// directory and runs fn on it, removing the directory afterwards.
func (s *Service) fetched(ctx context.Context, t *tenancy.Tenant, ref string, opts RestoreOptions, fn func(dir string, m *backup.Manifest) error) error {
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "tenancy-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "archive")
	m, err := s.fetch(ctx, t, ref, dir, opts)
	if err != nil {
		return s.classify(err)
	}
	return fn(dir, m)
}

// apply restores the archive extracted into dir onto t (under its lock).
func (s *Service) apply(ctx context.Context, t *tenancy.Tenant, dir string, m *backup.Manifest) (*tenancy.Tenant, error) {
	after, err := s.restoreDatabase(ctx, t, filepath.Join(dir, "database"), m.MigrationVersion)
	if err != nil {
		return nil, err
	}
	if err := s.restoreFiles(t.UUID, filepath.Join(dir, "files")); err != nil {
		return nil, fmt.Errorf("the database was restored, its files were not: %w", err)
	}
	return after, nil
}

// fetch reads and checks the archive of ref into dir.
func (s *Service) fetch(ctx context.Context, t *tenancy.Tenant, ref, dir string, opts RestoreOptions) (*backup.Manifest, error) {
	var r io.Reader
	var want string
	var sum hash.Hash
	if rec, err := s.ds.BackupByID(ctx, ref); err == nil {
		if rec.TenantUUID != t.UUID && !opts.into {
			return nil, &ValidationError{Field: "backup", Reason: fmt.Sprintf("backup %s is of tenant %s, not of %s", ref, rec.TenantUUID, t.UUID)}
		}
		if rec.State != model.BackupComplete {
			return nil, &ValidationError{Field: "backup", Reason: fmt.Sprintf("backup %s is %s, not complete", ref, rec.State)}
		}
		dest, err := s.cfg.Open(ctx, rec.Destination)
		if err != nil {
			return nil, err
		}
		defer dest.Close()
		rc, err := dest.Get(ctx, rec.Key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		sum, want = sha256.New(), rec.SHA256
		r = io.TeeReader(rc, sum)
	} else if !errors.Is(err, model.ErrNotFound) {
		return nil, err
	} else if f, ferr := os.Open(ref); ferr == nil {
		defer f.Close()
		r = f
	} else {
		return nil, fmt.Errorf("%w %q: not a backup id of the catalog nor a file", ErrUnknownBackup, ref)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	latest := s.ops.LatestVersion()
	m, err := backup.Extract(r, dir, backup.ReadOptions{Identities: opts.Identities, Check: func(h backup.Header) error {
		switch {
		case h.Engine != s.cfg.Engine || h.Mode != s.cfg.Mode:
			return &ValidationError{Field: "backup", Reason: fmt.Sprintf("a backup of a %s tenant cannot be restored into a %s tenant", h.Mode, s.cfg.Mode)}
		case h.TenantUUID != t.UUID && !opts.into:
			return &ValidationError{Field: "backup", Reason: fmt.Sprintf("the backup is of tenant %s, not of %s", h.TenantUUID, t.UUID)}
		case h.MigrationVersion > latest:
			return &ValidationError{Field: "backup", Reason: fmt.Sprintf("the backup is at migration version %d, newer than this installation's %d", h.MigrationVersion, latest)}
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	if sum != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != want {
			return nil, fmt.Errorf("%w: checksum %s, the catalog recorded %s", backup.ErrCorrupt, got, want)
		}
	}
	if err := s.checkDatabase(filepath.Join(dir, "database")); err != nil {
		return nil, err
	}
	return m, nil
}

// restoreFiles replaces the tenant's files with those under src (which
// may be missing: no files).
func (s *Service) restoreFiles(tenantUUID, src string) error {
	if s.cfg.Files == nil {
		return nil
	}
	dir, err := s.cfg.Files(tenantUUID)
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
	}
	old := dir + ".replaced-" + strings.ToLower(rand.Text()[:6])
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}

// Prune deletes the backups created before now minus retention, at
// their destinations and in the catalog, and returns them.
func (s *Service) Prune(ctx context.Context, retention time.Duration) ([]*model.Backup, error) {
	if retention <= 0 {
		return nil, &ValidationError{Field: "retention-days", Reason: "must be at least 1"}
	}
	all, err := s.ds.Backups(ctx, "")
	if err != nil {
		return nil, err
	}
	cutoff := s.cfg.Now().Add(-retention)
	var pruned []*model.Backup
	for _, b := range all {
		if !b.CreatedAt.Before(cutoff) {
			continue
		}
		if err := s.Delete(ctx, b); err != nil {
			return pruned, err
		}
		pruned = append(pruned, b)
	}
	return pruned, nil
}

// Delete removes a backup at its destination and in the catalog.
func (s *Service) Delete(ctx context.Context, b *model.Backup) error {
	dest, err := s.cfg.Open(ctx, b.Destination)
	if err != nil {
		return err
	}
	defer dest.Close()
	if err := dest.Delete(ctx, b.Key); err != nil {
		return err
	}
	return s.ds.DeleteBackup(ctx, b.ID)
}

// classify wraps the errors of a destination that is down.
func (s *Service) classify(err error) error {
	if s.cfg.Unavailable != nil && s.cfg.Unavailable(err) {
		return fmt.Errorf("%w: %w", ErrDestinationUnavailable, err)
	}
	return err
}

// parseRecipients parses age recipients.
func parseRecipients(rs []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range rs {
		rec, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return nil, &ValidationError{Field: "encrypt-to", Reason: fmt.Sprintf("%q is not an age recipient (age1…)", r)}
		}
		out = append(out, rec)
	}
	return out, nil
}

// newID is a backup id: its time, sortable, and a random part.
func newID(now time.Time) string {
	return now.Format("20060102T150405Z") + "-" + strings.ToLower(rand.Text()[:10])
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
