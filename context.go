package tenancy

import (
	"context"
	"database/sql"
	"sync"

	"github.com/gotenancy/tenancy/tenantdb"
)

// scopeKey is the context key of the current tenant's scope.
type scopeKey struct{}

// scope is what a context carries for one tenant: the tenant and its
// lazily acquired database handle.
type scope struct {
	tenant *Tenant
	// dialect is the goose dialect of the tenant's database.
	dialect string
	open    func(ctx context.Context, t *Tenant) (*tenantdb.Handle, error)

	// boots are the bootstrappers that ran, reverted by finish; ctx is the
	// context they made, passed to Revert.
	boots []Bootstrapper
	ctx   context.Context

	res resources
	// basePath is the path prefix that identified the tenant ("" for hosts).
	basePath string

	mu     sync.Mutex
	db     *sql.DB
	handle *tenantdb.Handle // nil when db was given, not acquired
	// stmts are statements prepared by Stmt that no handle keeps, closed
	// when the scope ends.
	stmts  []*sql.Stmt
	closed bool
}

// ended reports whether the code the scope was made for has returned.
func (s *scope) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// FromContext returns the tenant the context belongs to, if any.
func FromContext(ctx context.Context) (*Tenant, bool) {
	s, ok := ctx.Value(scopeKey{}).(*scope)
	if !ok {
		return nil, false
	}
	return s.tenant, true
}

// MustFromContext returns the context's tenant or ErrNoTenant.
func MustFromContext(ctx context.Context) (*Tenant, error) {
	if t, ok := FromContext(ctx); ok {
		return t, nil
	}
	return nil, ErrNoTenant
}

// DB returns the current tenant's database, opened on first use. Without a
// tenant in the context it returns ErrNoTenant: it never falls back to the
// central database.
func DB(ctx context.Context) (*sql.DB, error) {
	s, ok := ctx.Value(scopeKey{}).(*scope)
	if !ok {
		return nil, ErrNoTenant
	}
	return s.database(ctx)
}

func (s *scope) database(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	if s.closed || s.open == nil {
		return nil, ErrNoTenant
	}
	h, err := s.open(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	s.db, s.handle = h.DB(), h
	return s.db, nil
}

// Stmt returns query prepared on the current tenant's database. The
// statement is prepared once per open tenant database and reused by every
// request after it, so a query that each request runs is not parsed again
// each time; it is valid until the code the tenant context was made for
// returns, and the caller must not close it. Without a tenant in the
// context it returns ErrNoTenant.
func Stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s, ok := ctx.Value(scopeKey{}).(*scope)
	if !ok {
		return nil, ErrNoTenant
	}
	db, err := s.database(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	h := s.handle
	s.mu.Unlock()
	if h != nil {
		st, keep, err := h.Stmt(ctx, query)
		if err != nil || keep {
			return st, err
		}
		return s.track(st)
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.track(st)
}

// track keeps a statement for closing when the scope ends.
func (s *scope) track(st *sql.Stmt) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = st.Close()
		return nil, ErrNoTenant
	}
	s.stmts = append(s.stmts, st)
	return st, nil
}

// finish reverts the bootstrappers in reverse order and ends the scope.
func (s *scope) finish(ctx context.Context) {
	for i := len(s.boots) - 1; i >= 0; i-- {
		s.boots[i].Revert(ctx)
	}
	s.end()
}

// end releases the database handle, if one was taken; later DB calls on
// the scope fail.
func (s *scope) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, st := range s.stmts {
		_ = st.Close()
	}
	s.stmts = nil
	if s.handle != nil {
		s.handle.Release()
		s.handle = nil
	}
	s.db = nil
}

// withTenantDB returns ctx carrying t with an already open database, for
// seeders and other code the Manager runs on a tenant's behalf.
func withTenantDB(ctx context.Context, t *Tenant, dialect string, db *sql.DB) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{tenant: t, dialect: dialect, db: db})
}

// Dialect returns the SQL dialect of the current tenant's database, as
// goose names it ("sqlite3", "postgres", "mysql"), or "" without a tenant,
// for code that must write dialect-specific SQL.
func Dialect(ctx context.Context) string {
	if s := scopeOf(ctx); s != nil {
		return s.dialect
	}
	return ""
}
