package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
)

var (
	// ErrUnknownSeeder is returned (wrapped, with the name) by
	// [Registry.Run] for a name no seeder has.
	ErrUnknownSeeder = errors.New("unknown seeder")
	// ErrInvalidName is returned (wrapped, with the name) when a seeder
	// name is not valid; see [Registry].
	ErrInvalidName = errors.New("invalid seeder name")
	// ErrDuplicateSeeder is returned (wrapped, with the name) when a
	// seeder name is already taken.
	ErrDuplicateSeeder = errors.New("seeder already exists")
)

// namePattern is the pattern every seeder name matches: a letter or digit
// followed by up to 99 letters, digits, '_', '.' or '-'.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// Func seeds one tenant database.
type Func func(ctx context.Context, db *sql.DB) error

// seeder is a Go function or the text of a SQL file.
type seeder struct {
	fn     Func
	sql    string
	source string // file name for SQL seeders
}

// Registry holds named seeders: Go functions registered by name and *.sql
// files loaded from a directory (name = file name without ".sql").
//
// A name is a letter or digit followed by up to 99 letters, digits, '_',
// '.' or '-' (^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$).
//
// Seeders are meant to be registered before use, but a Registry is safe for
// concurrent use at any time.
type Registry struct {
	mu      sync.RWMutex
	seeders map[string]seeder
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{seeders: make(map[string]seeder)}
}

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// Register adds a Go seeder under name. An invalid name (wrapping
// [ErrInvalidName]), a name already taken (wrapping [ErrDuplicateSeeder])
// or a nil fn is an error.
func (r *Registry) Register(name string, fn Func) error {
	if err := checkName(name); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("seeder %q: nil function", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seeders[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateSeeder, name)
	}
	r.seeders[name] = seeder{fn: fn}
	return nil
}

// LoadDir adds every *.sql file directly in dir as a SQL seeder named after
// the file without ".sql", reading the files into memory now.
// Subdirectories and other files are ignored. A missing dir adds nothing and
// is not an error. An invalid name, or a name already taken, is an error
// naming the file, and then nothing from dir is added.
func (r *Registry) LoadDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("seeders directory %s: %w", dir, err)
	case !info.IsDir():
		return fmt.Errorf("seeders directory %s: not a directory", dir)
	}
	if err := r.LoadFS(os.DirFS(dir)); err != nil {
		return fmt.Errorf("load seeders from %s: %w", dir, err)
	}
	return nil
}

// LoadFS is [Registry.LoadDir] for the root of fsys, e.g. a sub-tree of an
// embed.FS; fsys must exist.
func (r *Registry) LoadFS(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("read seeders: %w", err)
	}
	loaded := make(map[string]seeder)
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || path.Ext(file) != ".sql" {
			continue
		}
		name := strings.TrimSuffix(file, ".sql")
		if err := checkName(name); err != nil {
			return fmt.Errorf("seeder file %s: %w", file, err)
		}
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("seeder file %s: %w", file, err)
		}
		loaded[name] = seeder{sql: string(data), source: file}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, s := range loaded {
		if _, ok := r.seeders[name]; ok {
			return fmt.Errorf("seeder file %s: %w: %q", s.source, ErrDuplicateSeeder, name)
		}
	}
	for name, s := range loaded {
		r.seeders[name] = s
	}
	return nil
}

// Names lists the seeder names in sorted order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.seeders))
	for name := range r.seeders {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Has reports whether a seeder named name exists.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.seeders[name]
	return ok
}

// Run runs the named seeders against db in the given order, or every seeder
// in name order when names is empty. An unknown name is an error wrapping
// [ErrUnknownSeeder], and then nothing runs.
//
// Each SQL seeder runs in one transaction: all the statements of its file
// apply, or none do (the driver must accept several statements in one Exec,
// as modernc.org/sqlite and pgx do; MySQL needs multiStatements=true). SQL
// files must not contain their own BEGIN/COMMIT. A Go seeder receives db
// and manages its own transactions. Run stops at the first failing seeder,
// with an error naming it; seeders that ran before it stay applied.
func (r *Registry) Run(ctx context.Context, db *sql.DB, names ...string) error {
	if db == nil {
		return errors.New("run seeders: nil database")
	}
	type named struct {
		name string
		seeder
	}
	r.mu.RLock()
	if len(names) == 0 {
		names = make([]string, 0, len(r.seeders))
		for name := range r.seeders {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	plan := make([]named, 0, len(names))
	var unknown []string
	for _, name := range names {
		s, ok := r.seeders[name]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		plan = append(plan, named{name, s})
	}
	r.mu.RUnlock()
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %s", ErrUnknownSeeder, strings.Join(unknown, ", "))
	}

	for _, s := range plan {
		var err error
		if s.fn != nil {
			err = s.fn(ctx, db)
		} else {
			err = runSQL(ctx, db, s.sql)
		}
		if err != nil {
			return fmt.Errorf("seeder %s: %w", s.name, err)
		}
	}
	return nil
}

// runSQL executes the text of a SQL seeder in one transaction.
func runSQL(ctx context.Context, db *sql.DB, text string) (err error) {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if _, err := tx.ExecContext(ctx, text); err != nil {
		return err
	}
	return tx.Commit()
}

// ignoreDone drops the error of rolling back a transaction that is already
// finished (e.g. rolled back because ctx was cancelled).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
