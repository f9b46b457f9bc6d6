package sqlitedriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Provisioner defaults, used for zero values in ProvisionerConfig.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultMaxOpenConns = 4
	DefaultMaxIdleConns = 2
)

const (
	sqliteDriver = "sqlite"
	sqliteExt    = ".sqlite"
	sqliteFile   = 0o600 // tenant data is private to the process's user
	sqliteDir    = 0o755
)

// sqliteSidecars are the suffixes of the files Provisioner keeps next to a
// database file.
var sqliteSidecars = [...]string{"-wal", "-shm", "-journal"}

// ProvisionerConfig configures Provisioner. Zero values mean the defaults.
type ProvisionerConfig struct {
	// Dir is the directory holding the <name>.sqlite files. It is required
	// and created (0o755) if missing.
	Dir string
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection before failing with SQLITE_BUSY; default 5s.
	BusyTimeout time.Duration
	// MaxOpenConns is the connection pool size of each tenant *sql.DB;
	// default 4.
	MaxOpenConns int
	// MaxIdleConns is the number of idle connections each tenant *sql.DB
	// keeps; default 2. It may not exceed MaxOpenConns. With 1, two
	// overlapping requests to one tenant open a second connection (and
	// re-prepare its statements) only to close it again at once.
	MaxIdleConns int
}

// Provisioner is the tenantdb.Provisioner that stores each tenant in one file,
// <Dir>/<name>.sqlite. Handles are opened with the WAL journal, the configured
// busy_timeout, foreign_keys on, synchronous NORMAL and immediate
// transactions, and with the Provisioner URI parameter mode=rw, so that opening
// never creates a missing database. It is safe for concurrent use.
type Provisioner struct {
	dir       string // absolute
	dsnPrefix string // "file:///abs/dir/" escaped as a URI path
	dsnQuery  string // "?mode=rw&_pragma=..."
	maxOpen   int
	maxIdle   int
}

var _ tenantdb.Provisioner = (*Provisioner)(nil)

// NewProvisioner returns a Provisioner provisioner for cfg, creating cfg.Dir if needed.
// A nil cfg is rejected because Dir is required.
func NewProvisioner(cfg *ProvisionerConfig) (*Provisioner, error) {
	if cfg == nil || cfg.Dir == "" {
		return nil, errors.New("tenantdb: sqlite config: Dir is required")
	}
	c := *cfg
	if c.BusyTimeout < 0 {
		return nil, fmt.Errorf("tenantdb: sqlite config: BusyTimeout %v is negative", c.BusyTimeout)
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	if c.MaxOpenConns < 0 {
		return nil, fmt.Errorf("tenantdb: sqlite config: MaxOpenConns %d is negative", c.MaxOpenConns)
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.MaxIdleConns < 0 {
		return nil, fmt.Errorf("tenantdb: sqlite config: MaxIdleConns %d is negative", c.MaxIdleConns)
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxIdleConns > c.MaxOpenConns {
		return nil, fmt.Errorf("tenantdb: sqlite config: MaxIdleConns %d exceeds MaxOpenConns %d", c.MaxIdleConns, c.MaxOpenConns)
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("tenantdb: sqlite config: Dir %q: %w", c.Dir, err)
	}
	if err := os.MkdirAll(dir, sqliteDir); err != nil {
		return nil, fmt.Errorf("tenantdb: sqlite config: create Dir: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("tenantdb: sqlite config: Dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("tenantdb: sqlite config: Dir %q is not a directory", dir)
	}

	// The DSN is a Provisioner URI (modernc passes names starting with "file:" to
	// sqlite3_open_v2 with SQLITE_OPEN_URI), so the directory is
	// percent-escaped as a URI path; names need no escaping once validated.
	// mode=rw makes Provisioner refuse to create a missing file, so a handle never
	// resurrects a dropped database, not even when its pool dials later.
	uriPath := filepath.ToSlash(dir)
	if !strings.HasPrefix(uriPath, "/") {
		uriPath = "/" + uriPath // Windows: C:/x -> /C:/x
	}
	if !strings.HasSuffix(uriPath, "/") {
		uriPath += "/"
	}
	busyMS := (c.BusyTimeout + time.Millisecond - 1) / time.Millisecond
	return &Provisioner{
		dir:       dir,
		dsnPrefix: (&url.URL{Scheme: "file", Path: uriPath}).String(),
		dsnQuery: "?mode=rw" +
			"&_pragma=busy_timeout(" + strconv.FormatInt(int64(busyMS), 10) + ")" +
			"&_pragma=journal_mode(WAL)" +
			"&_pragma=foreign_keys(1)" +
			"&_pragma=synchronous(NORMAL)" +
			"&_txlock=immediate",
		maxOpen: c.MaxOpenConns,
		maxIdle: c.MaxIdleConns,
	}, nil
}

// Dialect returns "sqlite3", goose's name for Provisioner.
func (s *Provisioner) Dialect() string { return "sqlite3" }

// Dir returns the absolute directory holding the database files.
func (s *Provisioner) Dir() string { return s.dir }

// Path returns the file path of the named database, <Dir>/<name>.sqlite. It
// does not validate name.
func (s *Provisioner) Path(name string) string {
	return filepath.Join(s.dir, name+sqliteExt)
}

func (s *Provisioner) dsn(name string) string {
	return s.dsnPrefix + name + sqliteExt + s.dsnQuery
}

// Create makes a new empty Provisioner database file in WAL mode. The file is
// created exclusively (O_EXCL), so an existing database is never clobbered
// (tenantdb.ErrExists); if anything fails after that the file is removed again.
func (s *Provisioner) Create(ctx context.Context, name string) (err error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	path := s.Path(name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, sqliteFile)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, tenantdb.ErrExists)
		}
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, removeSQLiteFiles(path))
		}
	}()
	if err := f.Close(); err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, err)
	}
	// Leftovers of an earlier database of the same name would be replayed
	// into the new one (a hot journal or WAL); the main file did not exist,
	// so they belong to nothing.
	if err := removeSidecars(path); err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, err)
	}
	db, err := sql.Open(sqliteDriver, s.dsn(name))
	if err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, err)
	}
	db.SetMaxOpenConns(1)
	// Switching the empty file to WAL writes the database header, making it
	// a valid Provisioner database of its own.
	var mode string
	err = db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
	if err == nil && !strings.EqualFold(mode, "wal") {
		err = fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, err)
	}
	return nil
}

// Drop removes the database file and its -wal, -shm and -journal files.
// Dropping a missing database returns nil. Handles still open on it keep
// working on the unlinked file (POSIX) until closed, but cannot dial new
// connections; callers normally tenantdb.ConnManager.Forget the name first.
func (s *Provisioner) Drop(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := removeSQLiteFiles(s.Path(name)); err != nil {
		return fmt.Errorf("tenantdb: drop sqlite database %q: %w", name, err)
	}
	return nil
}

// removeSQLiteFiles removes a database file, then its sidecars, ignoring
// those that are missing.
func removeSQLiteFiles(path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, removeSidecars(path))
}

func removeSidecars(path string) error {
	var errs []error
	for _, suffix := range sqliteSidecars {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether the database file exists.
func (s *Provisioner) Exists(ctx context.Context, name string) (bool, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := os.Stat(s.Path(name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("tenantdb: sqlite database %q: %w", name, err)
	}
}

// Open returns a pooled handle to an existing database, checked with a ping.
// A missing database gives tenantdb.ErrNotExist and is not created.
func (s *Provisioner) Open(ctx context.Context, name string) (*sql.DB, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return nil, err
	}
	ok, err := s.Exists(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("tenantdb: open sqlite database %q: %w", name, tenantdb.ErrNotExist)
	}
	db, err := sql.Open(sqliteDriver, s.dsn(name))
	if err != nil {
		return nil, fmt.Errorf("tenantdb: open sqlite database %q: %w", name, err)
	}
	db.SetMaxOpenConns(s.maxOpen)
	db.SetMaxIdleConns(s.maxIdle)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		// Dropped between the check and the ping: mode=rw refused to
		// create it.
		if ok, serr := s.Exists(context.WithoutCancel(ctx), name); serr == nil && !ok {
			return nil, fmt.Errorf("tenantdb: open sqlite database %q: %w", name, tenantdb.ErrNotExist)
		}
		return nil, fmt.Errorf("tenantdb: open sqlite database %q: %w", name, err)
	}
	return db, nil
}

// Size reports the bytes the database occupies on disk: its file plus the
// -wal and -shm files. A missing database gives tenantdb.ErrNotExist.
func (s *Provisioner) Size(ctx context.Context, name string) (int64, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path := s.Path(name)
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("tenantdb: size of sqlite database %q: %w", name, tenantdb.ErrNotExist)
		}
		return 0, fmt.Errorf("tenantdb: size of sqlite database %q: %w", name, err)
	}
	total := fi.Size()
	for _, suffix := range [...]string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		switch {
		case err == nil:
			total += fi.Size()
		case !errors.Is(err, fs.ErrNotExist):
			return 0, fmt.Errorf("tenantdb: size of sqlite database %q: %w", name, err)
		}
	}
	return total, nil
}

// Wipe drops every table, view, trigger and index in db (Provisioner's internal
// sqlite_* objects aside), in one transaction with foreign key enforcement
// off, and resets user_version to 0, leaving the database empty.
func (s *Provisioner) Wipe(ctx context.Context, db *sql.DB) (err error) {
	if db == nil {
		return errors.New("tenantdb: wipe sqlite database: nil *sql.DB")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
	}
	defer conn.Close()
	// foreign_keys cannot change inside a transaction, and with it on a DROP
	// TABLE of a referenced table fails.
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); rerr != nil {
			// Never give the pool a connection without foreign keys.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("tenantdb: wipe sqlite database: restore foreign_keys: %w", rerr))
		}
	}()

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Dropping one object can take others with it (a table its indexes and
	// triggers, a virtual table its shadow tables), and a shadow table may
	// refuse to be dropped before its virtual table; so drop in passes until
	// nothing is left or a pass makes no progress.
	for {
		objs, err := sqliteObjects(ctx, tx)
		if err != nil {
			return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
		}
		if len(objs) == 0 {
			break
		}
		var lastErr error
		dropped := 0
		for _, o := range objs {
			stmt := "DROP " + strings.ToUpper(o.typ) + " IF EXISTS " + tenantdb.QuoteIdent(o.name)
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("tenantdb: wipe sqlite database: %w", ctx.Err())
				}
				lastErr = fmt.Errorf("drop %s %s: %w", o.typ, tenantdb.QuoteIdent(o.name), err)
				continue
			}
			dropped++
		}
		if dropped == 0 {
			return fmt.Errorf("tenantdb: wipe sqlite database: %w", lastErr)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = 0"); err != nil {
		return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenantdb: wipe sqlite database: %w", err)
	}
	return nil
}

type sqliteObject struct{ typ, name string }

// sqliteObjects lists the schema objects of the main database, views and
// triggers first, then virtual tables, tables and indexes.
func sqliteObjects(ctx context.Context, tx *sql.Tx) ([]sqliteObject, error) {
	rows, err := tx.QueryContext(ctx, `
SELECT type, name FROM sqlite_schema
WHERE type IN ('view', 'trigger', 'table', 'index') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY CASE
	WHEN type = 'view' THEN 0
	WHEN type = 'trigger' THEN 1
	WHEN type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%' THEN 2
	WHEN type = 'table' THEN 3
	ELSE 4
END, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var objs []sqliteObject
	for rows.Next() {
		var o sqliteObject
		if err := rows.Scan(&o.typ, &o.name); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, rows.Err()
}

// List returns the names of the databases in the directory (the
// <name>.sqlite files with a valid name), sorted.
func (s *Provisioner) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("tenantdb: list sqlite databases: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), sqliteExt)
		if !ok || !e.Type().IsRegular() || tenantdb.ValidateName(name) != nil {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

var _ tenantdb.Lister = (*Provisioner)(nil)

// restorePrefix begins the names of the copies CreateFrom makes.
const restorePrefix = ".restore-"

// Sweep implements tenantdb.Sweeper: it removes the copies that a
// CreateFrom killed midway left (those no running CreateFrom holds
// locked) and returns their names.
func (s *Provisioner) Sweep(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("tenantdb: sweep sqlite databases: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), restorePrefix) || !strings.HasSuffix(e.Name(), sqliteExt) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, err
		}
		unlock, err := tryLockExclusive(f)
		if err != nil { // held: a CreateFrom is making it
			f.Close()
			continue
		}
		err = removeSQLiteFiles(path)
		unlock()
		f.Close()
		if err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

var _ tenantdb.Sweeper = (*Provisioner)(nil)

var _ tenantdb.Snapshotter = (*Provisioner)(nil)

// Snapshot writes a consistent copy of the database to path with VACUUM
// INTO, which reads one snapshot while writers go on (WAL), and leaves a
// compact file in rollback-journal mode.
func (s *Provisioner) Snapshot(ctx context.Context, name, path string) error {
	db, err := s.Open(ctx, name)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("tenantdb: snapshot sqlite database %q: %w", name, err)
	}
	return nil
}

// CreateFrom makes the database name from the snapshot at path: it copies
// the file under a temporary name, checks it (PRAGMA integrity_check) and
// switches it to WAL, then links it in place exclusively, so that an
// existing database is never clobbered (tenantdb.ErrExists) and a failure
// leaves nothing.
func (s *Provisioner) CreateFrom(ctx context.Context, name, path string) (err error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if ok, err := s.Exists(ctx, name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("tenantdb: create sqlite database %q: %w", name, tenantdb.ErrExists)
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q from a snapshot: %w", name, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(s.dir, restorePrefix+"*"+sqliteExt)
	if err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q from a snapshot: %w", name, err)
	}
	tmpPath := tmp.Name()
	// The copy is locked while it is made, so that Sweep tells the copy of
	// a running CreateFrom from one a dead process left.
	unlock, err := lockExclusive(tmp)
	if err != nil {
		tmp.Close()
		os.Remove(tmpPath)
		return fmt.Errorf("tenantdb: create sqlite database %q from a snapshot: %w", name, err)
	}
	defer func() {
		err = errors.Join(err, removeSQLiteFiles(tmpPath))
		unlock()
		tmp.Close()
	}()
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = checkSnapshot(ctx, s.dsnPrefix+filepath.Base(tmpPath)+s.dsnQuery)
	}
	if err == nil {
		// Link fails when name exists: an existing database is never
		// replaced, even by a concurrent create.
		if err = os.Link(tmpPath, s.Path(name)); errors.Is(err, fs.ErrExist) {
			err = tenantdb.ErrExists
		}
	}
	if err != nil {
		return fmt.Errorf("tenantdb: create sqlite database %q from a snapshot: %w", name, err)
	}
	return nil
}

// checkSnapshot opens the copied snapshot at dsn, checks its integrity and
// switches it to WAL, as Create leaves a new database.
func checkSnapshot(ctx context.Context, dsn string) error {
	db, err := sql.Open(sqliteDriver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return fmt.Errorf("not a sqlite database: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("integrity check: %s", result)
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}
