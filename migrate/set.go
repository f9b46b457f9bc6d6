package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

// ErrNoSource is returned (wrapped, with the path) by [LoadDir] when a
// required migrations directory does not exist.
var ErrNoSource = errors.New("migrations directory does not exist")

// Set is a set of migrations read once into memory, so that running it
// against many tenant databases does not re-read the disk each time.
//
// A Set is immutable after loading and safe for concurrent use: the same Set
// may migrate many databases at once.
type Set struct {
	// fsys holds the SQL migration files by file name; nil when there are none.
	fsys fstest.MapFS
	// goMigrations are the Go migrations passed to Load; goose only reads them.
	goMigrations []*goose.Migration
	// versions lists every migration version in ascending order.
	versions []int64
	// names maps a version to its display name (file name for SQL).
	names map[int64]string
	// err is the load error of a Set made by Failed.
	err error
}

// Load reads the migrations in fsys into memory: every goose-format *.sql
// file at the root of fsys (e.g. 00001_create_notes.sql, with
// "-- +goose Up" and "-- +goose Down" sections). Subdirectories and files
// with other extensions are ignored. A nil fsys gives an empty set.
//
// Extra Go migrations, built with [goose.NewGoMigration], may be passed and
// are combined with the SQL ones; their versions must not clash with any
// other migration.
//
// An unparseable file name (no positive numeric version before "_"), an
// unreadable file or a duplicate version is an error naming the file. The
// SQL inside the files is parsed by goose when a migration first runs, and
// a parse error then names the file too.
func Load(fsys fs.FS, goMigrations ...*goose.Migration) (*Set, error) {
	if err := rootHasNoMigrations(fsys, len(goMigrations)); err != nil {
		return nil, err
	}
	s := &Set{names: make(map[int64]string)}
	if fsys != nil {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || path.Ext(name) != ".sql" {
				continue
			}
			version, err := goose.NumericComponent(name)
			if err != nil {
				return nil, fmt.Errorf("migration file %s: invalid name: %w", name, err)
			}
			if prev, ok := s.names[version]; ok {
				return nil, fmt.Errorf("migration file %s: version %d already used by %s", name, version, prev)
			}
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("migration file %s: %w", name, err)
			}
			if s.fsys == nil {
				s.fsys = make(fstest.MapFS)
			}
			s.fsys[name] = &fstest.MapFile{Data: data, Mode: 0o444}
			s.names[version] = name
			s.versions = append(s.versions, version)
		}
	}
	for i, m := range goMigrations {
		if m == nil {
			return nil, fmt.Errorf("go migration %d of %d is nil", i+1, len(goMigrations))
		}
		name := goName(m.Version, m.Source)
		if prev, ok := s.names[m.Version]; ok {
			return nil, fmt.Errorf("%s: version %d already used by %s", name, m.Version, prev)
		}
		s.names[m.Version] = name
		s.versions = append(s.versions, m.Version)
	}
	s.goMigrations = slices.Clone(goMigrations)
	slices.Sort(s.versions)
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadDir loads a [Set] from the directory dir on disk, as [Load] does.
//
// When dir does not exist, the set is empty (nothing to apply) if required
// is false, and the error wraps [ErrNoSource] and names the path if required
// is true. A path that is not a directory, or that cannot be read, is an
// error.
func LoadDir(dir string, required bool) (*Set, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if required {
			return nil, fmt.Errorf("%w: %s", ErrNoSource, dir)
		}
		return &Set{names: make(map[int64]string)}, nil
	case err != nil:
		return nil, fmt.Errorf("migrations directory %s: %w", dir, err)
	case !info.IsDir():
		return nil, fmt.Errorf("migrations directory %s: not a directory", dir)
	}
	s, err := Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("load migrations from %s: %w", dir, err)
	}
	return s, nil
}

// Len is the number of migrations in the set.
func (s *Set) Len() int { return len(s.versions) }

// Latest is the highest migration version in the set, or 0 when it is empty.
func (s *Set) Latest() int64 {
	if len(s.versions) == 0 {
		return 0
	}
	return s.versions[len(s.versions)-1]
}

// validate builds a goose provider over a database that cannot connect, so
// that everything goose checks at construction (Go migration validity,
// duplicate versions) fails at load time rather than on the first tenant.
// Building a provider touches no database.
func (s *Set) validate() error {
	if s.Len() == 0 {
		return nil
	}
	db := sql.OpenDB(noConnector{})
	defer db.Close()
	if _, err := s.provider(goose.DialectSQLite3, db); err != nil {
		return err
	}
	return nil
}

// provider returns a goose provider for db over the in-memory migrations.
// The set must not be empty.
func (s *Set) provider(d goose.Dialect, db *sql.DB) (*goose.Provider, error) {
	var fsys fs.FS
	if s.fsys != nil {
		fsys = s.fsys
	}
	p, err := goose.NewProvider(d, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(s.goMigrations...),
	)
	if err != nil {
		return nil, fmt.Errorf("goose provider: %w", err)
	}
	return p, nil
}

// name returns the display name of a migration version.
func (s *Set) name(version int64) string {
	if n, ok := s.names[version]; ok {
		return n
	}
	return goName(version, "")
}

// goName names a Go migration: its source file when it has one.
func goName(version int64, source string) string {
	if source != "" {
		return path.Base(strings.ReplaceAll(source, "\\", "/"))
	}
	return fmt.Sprintf("go migration %d", version)
}

// noConnector is a driver.Connector that never connects; see Set.validate.
type noConnector struct{}

var errNoConnect = errors.New("validation database never connects")

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, errNoConnect }
func (noConnector) Driver() driver.Driver                        { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errNoConnect }

// rootHasNoMigrations reports the usual mistake of passing the file system
// of `//go:embed migrations/*.sql` itself: its root holds the directory,
// not the .sql files, and loading it would find no migrations at all.
func rootHasNoMigrations(fsys fs.FS, goMigrations int) error {
	if fsys == nil || goMigrations > 0 {
		return nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil // reported by Load
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() && path.Ext(e.Name()) == ".sql" {
			return nil
		}
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	return fmt.Errorf("read migrations: no .sql files at the root of the file system, only the directories %s (pass fs.Sub(fsys, %q))", strings.Join(dirs, ", "), dirs[0])
}

// Failed returns a Set that carries err: Err reports it, and
// tenancy.New refuses to start with it. It lets a loader be written
// inline in a configuration literal.
func Failed(err error) *Set { return &Set{names: map[int64]string{}, err: err} }

// Err returns the error the Set was made with by Failed, or nil; a nil Set
// has none.
func (s *Set) Err() error {
	if s == nil {
		return nil
	}
	return s.err
}
