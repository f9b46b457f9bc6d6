package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy/model"
)

// Store is the catalog (model.Store) over a *sql.DB whose schema the
// engine's migrations have brought up to date.
type Store struct {
	db *sql.DB
	d  *Dialect
	// byDomain and byUUID are the lookups a resolver's misses make,
	// prepared once when the dialect asks for it.
	byDomain, byUUID *sql.Stmt
	// clock stamps created, updated and lease times.
	clock func() time.Time
}

var _ model.Store = (*Store)(nil)

// New returns the store over db, which the engine has opened and migrated;
// Close closes db. The dialect must set UniqueViolation and
// ForeignKeyViolation. now is the clock of the times the store stamps
// (created, updated, lease expiry); nil means time.Now.
func New(ctx context.Context, db *sql.DB, d *Dialect, now func() time.Time) (*Store, error) {
	if d == nil || d.UniqueViolation == nil || d.ForeignKeyViolation == nil {
		return nil, errors.New("sqlstore: the dialect must tell unique and foreign-key violations")
	}
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, d: d, clock: now}
	if d.PrepareLookups {
		var err error
		if s.byDomain, err = db.PrepareContext(ctx, d.rebind(tenantByDomain)); err == nil {
			s.byUUID, err = db.PrepareContext(ctx, d.rebind(tenantByUUID))
		}
		if err != nil {
			s.closeLookups()
			return nil, fmt.Errorf("%s: prepare lookups: %w", d.Name, err)
		}
	}
	return s, nil
}

// Migrate applies the migrations in fsys (a tree whose dir holds them) to
// db with goose, in the given goose dialect.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, dir string, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, db, sub, append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, opts...)...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// DB returns the underlying handle.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the store's handle.
func (s *Store) Close() error {
	s.closeLookups()
	return s.db.Close()
}

func (s *Store) closeLookups() {
	for _, st := range []*sql.Stmt{s.byDomain, s.byUUID} {
		if st != nil {
			st.Close()
		}
	}
}

// handle is what runner runs queries on: the pool or a transaction.
type handle interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// runner runs queries written with ? placeholders on a handle, in the
// dialect's own placeholders.
type runner struct {
	h handle
	d *Dialect
}

// run returns the runner on the pool.
func (s *Store) run() runner { return runner{s.db, s.d} }

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.h.ExecContext(ctx, r.d.rebind(query), args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.h.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.h.QueryRowContext(ctx, r.d.rebind(query), args...)
}

func (r runner) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return r.h.PrepareContext(ctx, r.d.rebind(query))
}

// affected runs a statement and returns how many rows it matched.
func (r runner) affected(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := r.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// mustAffect runs a statement and returns notFound when it matched no row.
func (r runner) mustAffect(ctx context.Context, notFound error, query string, args ...any) error {
	n, err := r.affected(ctx, query, args...)
	if err == nil && n == 0 {
		return notFound
	}
	return err
}

// insert runs an INSERT into a table with an id column and returns the id
// of the new row.
func (r runner) insert(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	if !r.d.LastInsertID {
		err := r.queryRow(ctx, query+` RETURNING id`, args...).Scan(&id)
		return id, err
	}
	res, err := r.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// inTx runs fn in a transaction, committing when it returns nil; a
// transaction that fails with a retryable error is run again.
func (s *Store) inTx(ctx context.Context, fn func(tx runner) error) error {
	for try := 1; ; try++ {
		err := s.tryTx(ctx, fn)
		if err == nil || s.d.Retryable == nil || !s.d.Retryable(err) || try == maxTxTries || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx runner) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(runner{tx, s.d}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mapConstraint turns unique violations of domains and database names
// into the catalog's sentinels.
func (s *Store) mapConstraint(err error) error {
	switch key, _ := s.d.UniqueViolation(err); key {
	case "domains_domain":
		return fmt.Errorf("%w: %v", model.ErrDomainTaken, err)
	case "tenants_database_name":
		return fmt.Errorf("%w: %v", model.ErrDatabaseTaken, err)
	}
	return err
}

// truncate converts t to the catalog's precision (microseconds) in UTC.
func truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// now reads the store's clock at the catalog's precision.
func (s *Store) now() time.Time { return truncate(s.clock()) }

// timeColumn scans a time column, stored either way a Dialect allows, into
// dst in UTC.
type timeColumn struct{ dst *time.Time }

// Scan implements sql.Scanner.
func (c timeColumn) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*c.dst = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot read a time from %T", src)
	}
	return nil
}

// nullTimeColumn scans a time column that may be NULL into dst (nil for
// NULL).
type nullTimeColumn struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeColumn) Scan(src any) error {
	if src == nil {
		*c.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeColumn{&t}).Scan(src); err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

// encodeObject encodes a tenant's settings or data as JSON text.
func encodeObject(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeObject decodes a tenant's settings or data; empty text and a JSON
// null are the empty object.
func decodeObject(s string) (map[string]any, error) {
	m := map[string]any{}
	if s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// nullJSON passes an audit snapshot as JSON text, or NULL when there is
// none.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }
