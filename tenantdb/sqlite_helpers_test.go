package tenantdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"
)

// SQLite is a minimal file-per-database provisioner for this package's own
// tests: the real one lives in driver/sqlitedriver, which imports tenantdb
// and so cannot be used from its internal tests.
type SQLite struct {
	dir              string
	maxOpen, maxIdle int
}

// SQLiteConfig configures the test SQLite provisioner.
type SQLiteConfig struct{ Dir string }

var _ Provisioner = (*SQLite)(nil)

func NewSQLite(cfg *SQLiteConfig) (*SQLite, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	return &SQLite{dir: cfg.Dir, maxOpen: 4, maxIdle: 2}, nil
}

func (s *SQLite) path(name string) string { return filepath.Join(s.dir, name+".sqlite") }

func (s *SQLite) dsn(name string) string {
	u := url.URL{Scheme: "file", Path: s.path(name)}
	return u.String() + "?mode=rw&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

func (s *SQLite) Dialect() string { return "sqlite3" }

func (s *SQLite) Create(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path(name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %q: %w", name, ErrExists)
	} else if err != nil {
		return err
	}
	return f.Close()
}

func (s *SQLite) Drop(ctx context.Context, name string) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(s.path(name) + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *SQLite) Exists(ctx context.Context, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	_, err := os.Stat(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *SQLite) Open(ctx context.Context, name string) (*sql.DB, error) {
	if ok, err := s.Exists(ctx, name); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("open %q: %w", name, ErrNotExist)
	}
	db, err := sql.Open("sqlite", s.dsn(name))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(s.maxOpen)
	db.SetMaxIdleConns(s.maxIdle)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func (s *SQLite) Wipe(ctx context.Context, db *sql.DB) error { return errors.New("not supported") }

func (s *SQLite) Size(ctx context.Context, name string) (int64, error) {
	fi, err := os.Stat(s.path(name))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
