package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Store.
type Config struct {
	// Path is the catalog file; required. Open creates its directory.
	Path string
	// BusyTimeout is how long a writer waits for a lock; default 10s.
	BusyTimeout time.Duration
	// Now is the clock of the times the store stamps (created, updated,
	// lease expiry); nil means time.Now. Tests pass a manual clock.
	Now func() time.Time
}

// Store is the SQLite implementation of model.Store: the shared SQL
// catalog with SQLite's dialect, and a change watcher.
type Store struct {
	*sqlstore.Store
	db   *sql.DB
	path string
}

var _ model.Store = (*Store)(nil)

// Open opens (creating it and its directory if needed) the catalog at
// cfg.Path and brings its schema up to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.Path == "" {
		return nil, errors.New("sqlitestore: Config.Path is required")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: catalog directory: %w", err)
	}
	busy := cfg.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	if busy < 0 {
		return nil, fmt.Errorf("sqlitestore: negative BusyTimeout %s", busy)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: cfg.Path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := migrateLocked(ctx, db, cfg.Path+".lock"); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: catalog schema at %s: %w", cfg.Path, err)
	}
	s, err := sqlstore.New(ctx, db, &dialect, cfg.Now)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{Store: s, db: db, path: cfg.Path}, nil
}

// migrateLocked applies the migrations while holding an exclusive lock on
// the file lockPath, so that processes opening a new catalog together take
// turns: the first migrates, the others find the schema current.
func migrateLocked(ctx context.Context, db *sql.DB, lockPath string) error {
	unlock, err := lockFile(lockPath)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer unlock()
	return sqlstore.Migrate(ctx, db, goose.DialectSQLite3, migrations, "migrations")
}

// Path returns the catalog file path.
func (s *Store) Path() string { return s.path }
