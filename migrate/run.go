package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// ErrUnknownDialect is returned (wrapped, with the name) when a dialect name
// is not one of the supported ones; see [Set.Up].
var ErrUnknownDialect = errors.New("unknown migration dialect")

// Result describes one run of a [Set] against one database.
type Result struct {
	From    int64 // version before the run
	To      int64 // version after the run
	Applied int   // migrations applied (up) or rolled back (down)
}

// Status is the state of one migration of a [Set] in one database.
type Status struct {
	// Version is the migration version.
	Version int64 `json:"version"`
	// Name is the migration's file name, or "go migration N" for a Go
	// migration without a source file.
	Name string `json:"name"`
	// Applied reports whether the migration is applied to the database.
	Applied bool `json:"applied"`
	// AppliedAt is when it was applied, as recorded by the database; zero
	// when not applied.
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// dialectOf maps a dialect name to a goose dialect.
func dialectOf(name string) (goose.Dialect, error) {
	switch name {
	case "sqlite3", "sqlite":
		return goose.DialectSQLite3, nil
	case "postgres", "postgresql", "pgx":
		return goose.DialectPostgres, nil
	case "mysql":
		return goose.DialectMySQL, nil
	}
	return "", fmt.Errorf("%w: %q (want sqlite3, postgres or mysql)", ErrUnknownDialect, name)
}

func check(dialect string, db *sql.DB) (goose.Dialect, error) {
	d, err := dialectOf(dialect)
	if err != nil {
		return "", err
	}
	if db == nil {
		return "", errors.New("nil database")
	}
	return d, nil
}

// Up applies every pending migration of the set to db, each in its own
// transaction (unless a SQL file says "-- +goose NO TRANSACTION" or a Go
// migration is non-transactional). dialect is "sqlite3" (or "sqlite"),
// "postgres" (or "postgresql", "pgx") or "mysql"; any other name is an error
// wrapping [ErrUnknownDialect].
//
// On a database that is already up to date, Up applies nothing and costs a
// few small queries. With an empty set, Up is a no-op that does not touch
// db at all (no version table is created) and returns Result{}.
//
// When a migration fails, the error names its file; the failed migration is
// rolled back with its transaction, migrations applied before it stay
// applied, and the returned Result describes what was applied.
func (s *Set) Up(ctx context.Context, dialect string, db *sql.DB) (Result, error) {
	d, err := check(dialect, db)
	if err != nil {
		return Result{}, err
	}
	if s.Len() == 0 {
		return Result{}, nil
	}
	p, err := s.provider(d, db)
	if err != nil {
		return Result{}, err
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrate up: read version: %w", err)
	}
	res := Result{From: from, To: from}
	applied, err := p.Up(ctx)
	res.Applied = len(applied)
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) {
			res.Applied = len(pe.Applied)
			err = fmt.Errorf("migrate up: %s: %w", s.name(pe.Failed.Source.Version), pe.Err)
		} else {
			err = fmt.Errorf("migrate up: %w", err)
		}
		res.To = afterVersion(ctx, p, from)
		return res, err
	}
	if res.Applied > 0 {
		res.To = afterVersion(ctx, p, from)
	}
	return res, nil
}

// UpTo is Up stopping at version: migrations newer than it are left
// pending (a restore recreates the schema a backup was taken at).
func (s *Set) UpTo(ctx context.Context, dialect string, db *sql.DB, version int64) (Result, error) {
	d, err := check(dialect, db)
	if err != nil {
		return Result{}, err
	}
	if s.Len() == 0 || version <= 0 {
		return Result{}, nil
	}
	p, err := s.provider(d, db)
	if err != nil {
		return Result{}, err
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrate up: read version: %w", err)
	}
	res := Result{From: from, To: from}
	applied, err := p.UpTo(ctx, version)
	res.Applied = len(applied)
	res.To = afterVersion(ctx, p, from)
	if err != nil {
		return res, fmt.Errorf("migrate up to %d: %w", version, err)
	}
	return res, nil
}

// Down rolls back the last steps applied migrations of db, most recent
// first, each in its own transaction. steps must be at least 1; asking for
// more steps than there are applied migrations stops at version 0. A
// database that was never migrated is left untouched.
//
// Every applied version being rolled back must be in the set. With an empty
// set, Down succeeds only if the database is at version 0.
func (s *Set) Down(ctx context.Context, dialect string, db *sql.DB, steps int) (Result, error) {
	d, err := check(dialect, db)
	if err != nil {
		return Result{}, err
	}
	if steps < 1 {
		return Result{}, fmt.Errorf("migrate down: steps must be at least 1, got %d", steps)
	}
	from, err := s.version(ctx, d, db)
	if err != nil {
		return Result{}, fmt.Errorf("migrate down: %w", err)
	}
	if from == 0 {
		return Result{}, nil
	}
	if s.Len() == 0 {
		return Result{From: from, To: from}, fmt.Errorf("migrate down: database is at version %d but the migration set is empty", from)
	}
	p, err := s.provider(d, db)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: from, To: from}
	for range steps {
		_, err := p.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break
		}
		if err != nil {
			res.To = afterVersion(ctx, p, from)
			var pe *goose.PartialError
			switch {
			case errors.As(err, &pe):
				err = fmt.Errorf("migrate down: %s: %w", s.name(pe.Failed.Source.Version), pe.Err)
			case errors.Is(err, goose.ErrVersionNotFound):
				err = fmt.Errorf("migrate down: applied version %d is not in the migration set: %w", res.To, err)
			default:
				err = fmt.Errorf("migrate down: %w", err)
			}
			return res, err
		}
		res.Applied++
	}
	res.To = afterVersion(ctx, p, from)
	return res, nil
}

// afterVersion reads db's version after a run, even if ctx was cancelled
// during it; on failure it returns fallback.
func afterVersion(ctx context.Context, p *goose.Provider, fallback int64) int64 {
	v, err := p.GetDBVersion(context.WithoutCancel(ctx))
	if err != nil {
		return fallback
	}
	return v
}

// Version is db's current migration version: the highest applied version,
// or 0 if db was never migrated. It only reads: no version table is created.
func (s *Set) Version(ctx context.Context, dialect string, db *sql.DB) (int64, error) {
	d, err := check(dialect, db)
	if err != nil {
		return 0, err
	}
	v, err := s.version(ctx, d, db)
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

func (s *Set) version(ctx context.Context, d goose.Dialect, db *sql.DB) (int64, error) {
	store, err := database.NewStore(d, goose.DefaultTablename)
	if err != nil {
		return 0, err
	}
	exists, err := tableExists(ctx, d, store, db)
	if err != nil || !exists {
		return 0, err
	}
	v, err := store.GetLatestVersion(ctx, db)
	if errors.Is(err, database.ErrVersionNotFound) {
		return 0, nil
	}
	return v, err
}

// tableExists reports whether goose's version table exists in db.
func tableExists(ctx context.Context, d goose.Dialect, store database.Store, db *sql.DB) (bool, error) {
	if d == goose.DialectSQLite3 {
		// goose's SQLite dialect has no table-existence query.
		var n int
		err := db.QueryRowContext(ctx,
			`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
			store.Tablename()).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("check version table: %w", err)
		}
		return n > 0, nil
	}
	if x, ok := store.(database.StoreExtender); ok {
		exists, err := x.TableExists(ctx, db)
		if !errors.Is(err, errors.ErrUnsupported) {
			return exists, err
		}
	}
	// Last resort, as goose does: the zero version row exists iff the table does.
	_, err := store.GetMigration(ctx, db, 0)
	return err == nil, nil
}

// Status lists every migration of the set, in version order, with whether
// and when it was applied to db. It only reads: on a database that was never
// migrated every migration is reported pending and no version table is
// created.
func (s *Set) Status(ctx context.Context, dialect string, db *sql.DB) ([]Status, error) {
	d, err := check(dialect, db)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, s.Len())
	if s.Len() == 0 {
		return out, nil
	}
	store, err := database.NewStore(d, goose.DefaultTablename)
	if err != nil {
		return nil, err
	}
	exists, err := tableExists(ctx, d, store, db)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		for _, v := range s.versions {
			out = append(out, Status{Version: v, Name: s.name(v)})
		}
		return out, nil
	}
	p, err := s.provider(d, db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	for _, m := range st {
		out = append(out, Status{
			Version:   m.Source.Version,
			Name:      s.name(m.Source.Version),
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		})
	}
	return out, nil
}
