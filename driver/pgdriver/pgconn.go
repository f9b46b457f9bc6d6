package pgdriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL error codes the provisioners act on.
const (
	pgInvalidCatalogName = "3D000" // database does not exist
	pgDuplicateDatabase  = "42P04"
	pgDuplicateSchema    = "42P06"
	pgDuplicateObject    = "42710" // e.g. a role
	pgUniqueViolation    = "23505" // also raised by concurrent catalog inserts
	pgForeignKey         = "23503"
)

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgQuoteLiteral quotes s as an escape string constant (E'...'), which
// means the same whatever standard_conforming_strings is. Only used for
// values that cannot be bind parameters (COMMENT, PASSWORD in DDL).
func pgQuoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}

// pgIdent quotes a schema-qualified or plain identifier.
func pgIdent(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// closeTimeout bounds how long closing a tenant connection waits for the
// server to end its backend.
const closeTimeout = 5 * time.Second

// pgConnector opens tenant connections: pgx connections (through pgx's
// database/sql adapter) that close gracefully, and, when tenant is set,
// bind that tenant in every transaction.
type pgConnector struct {
	inner  driver.Connector
	tenant string // "" for no binding; else a validated name
}

func newPGConnector(cfg *pgx.ConnConfig, tenant string) *pgConnector {
	return &pgConnector{inner: stdlib.GetConnector(*cfg), tenant: tenant}
}

// Connect implements driver.Connector.
func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("tenantdb: unexpected pgx driver connection %T", dc)
	}
	pc := &pgConn{Conn: sc}
	if c.tenant == "" {
		return pc, nil
	}
	return &pgTenantConn{
		pgConn:   pc,
		bindSQL:  c.bindSQL(),
		beginSQL: "BEGIN; " + c.bindSQL(),
	}, nil
}

// bindSQL binds the tenant for the current transaction. The tenant is
// inlined (as a quoted literal) so that BEGIN and the binding travel in one
// simple-protocol round trip.
func (c *pgConnector) bindSQL() string {
	return "SELECT set_config('" + RLSSetting + "', " + pgQuoteLiteral(c.tenant) + ", true)"
}

// Driver implements driver.Connector.
func (c *pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is a pgx database/sql connection whose Close waits until the
// server has ended the connection's backend, so that a closed connection
// no longer counts in pg_stat_activity: the connection budget holds on the
// server, not just in the client.
type pgConn struct {
	*stdlib.Conn
	broken bool // a wrapper transaction could not be ended; never reuse
}

// Close sends Terminate and reads until the server closes the socket, which
// a backend does only after removing itself from pg_stat_activity. A
// connection pgx already closed after an error is waited for through pgx's
// cleanup (which drains the socket the same way) when it closed it
// asynchronously.
func (c *pgConn) Close() error {
	pc := c.Conn.Conn().PgConn()
	if pc.IsClosed() {
		select {
		case <-pc.CleanupDone():
		case <-time.After(closeTimeout):
		}
		return nil
	}
	hc, err := pc.Hijack()
	if err != nil { // busy: cannot happen for a connection database/sql closes
		return c.Conn.Close()
	}
	defer hc.Conn.Close()
	_ = hc.Conn.SetDeadline(time.Now().Add(closeTimeout))
	hc.Frontend.Send(&pgproto3.Terminate{})
	if err := hc.Frontend.Flush(); err != nil {
		return nil // the connection is gone already
	}
	_, _ = io.Copy(io.Discard, hc.Conn) // until EOF: the backend has exited
	return nil
}

// serverEnded reports whether err says the server ended the connection's
// backend (an administrator's pg_terminate_backend, a DROP DATABASE …
// WITH (FORCE), a shutdown or restart: SQLSTATE class 57P). The statement
// that got it was not executed, or was rolled back with the backend.
func serverEnded(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "57P")
}

// retryable turns the error of a statement run outside a transaction on a
// connection the server had ended into driver.ErrBadConn, so that
// database/sql runs it once more on a fresh connection instead of failing
// the caller's request.
func (c *pgConn) retryable(err error, idle bool) error {
	if err != nil && idle && serverEnded(err) {
		c.broken = true
		return driver.ErrBadConn
	}
	return err
}

// idle reports whether no transaction is open on the connection.
func (c *pgConn) idle() bool { return c.Conn.Conn().PgConn().TxStatus() == 'I' }

// ExecContext implements driver.ExecerContext, retrying on a fresh
// connection when the server had ended this one.
func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	idle := c.idle()
	res, err := c.Conn.ExecContext(ctx, query, args)
	return res, c.retryable(err, idle)
}

// QueryContext implements driver.QueryerContext, retrying on a fresh
// connection when the server had ended this one.
func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	idle := c.idle()
	rows, err := c.Conn.QueryContext(ctx, query, args)
	return rows, c.retryable(err, idle)
}

// PrepareContext implements driver.ConnPrepareContext, retrying on a
// fresh connection when the server had ended this one.
func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	idle := c.idle()
	st, err := c.Conn.PrepareContext(ctx, query)
	return st, c.retryable(err, idle)
}

// IsValid implements driver.Validator: database/sql discards a connection
// that is closed or was left in an unknown transaction state.
func (c *pgConn) IsValid() bool {
	return !c.broken && !c.Conn.Conn().IsClosed()
}

// pgTenantConn binds its tenant, with set_config('app.tenant_id', tenant,
// true), in every transaction it runs: at the start of explicit
// transactions, and around every statement outside one (BEGIN, bind,
// statement, COMMIT). The setting is transaction-local, so the connection
// itself never carries a tenant between transactions.
type pgTenantConn struct {
	*pgConn
	bindSQL  string // set_config for an explicit transaction
	beginSQL string // BEGIN plus set_config, one round trip
	inTx     bool   // an explicit transaction is open
}

// begin starts a statement's own transaction and binds the tenant.
func (c *pgTenantConn) begin(ctx context.Context) error {
	if _, err := c.Conn.Conn().Exec(ctx, c.beginSQL); err != nil {
		if pgconn.SafeToRetry(err) || serverEnded(err) {
			// Nothing ran: another connection runs the statement.
			c.broken = true
			return driver.ErrBadConn
		}
		c.end(ctx, false)
		return err
	}
	return nil
}

// end commits (or rolls back) a statement's own transaction. A failure
// leaves the connection in an unknown state: it is marked broken so
// database/sql closes it (the server then rolls back).
func (c *pgTenantConn) end(ctx context.Context, commit bool) error {
	stmt := "ROLLBACK"
	if commit {
		stmt = "COMMIT"
	} else {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	tag, err := c.Conn.Conn().Exec(ctx, stmt)
	if err != nil {
		c.broken = true
		return err
	}
	if commit && tag.String() == "ROLLBACK" {
		return errors.New("tenantdb: transaction was rolled back")
	}
	return nil
}

// fail rolls back a statement's own transaction after the statement
// failed. driver.ErrBadConn (the statement was never sent) is passed on, so
// that database/sql retries on another connection; this one is discarded
// and the server rolls back with it.
func (c *pgTenantConn) fail(ctx context.Context, err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		c.broken = true
		return err
	}
	_ = c.end(ctx, false)
	return err
}

// ExecContext implements driver.ExecerContext.
func (c *pgTenantConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.inTx {
		return c.Conn.ExecContext(ctx, query, args)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	res, err := c.Conn.ExecContext(ctx, query, args)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	if err := c.end(ctx, true); err != nil {
		return nil, err
	}
	return res, nil
}

// QueryContext implements driver.QueryerContext. Outside a transaction the
// statement's transaction ends when the rows are closed.
func (c *pgTenantConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.inTx {
		return c.Conn.QueryContext(ctx, query, args)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	rows, err := c.Conn.QueryContext(ctx, query, args)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	return &pgTenantRows{pgRows: pgRows{rows}, conn: c, ctx: ctx}, nil
}

// Prepare implements driver.Conn.
func (c *pgTenantConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext implements driver.ConnPrepareContext; the statement binds
// the tenant around each execution outside a transaction.
func (c *pgTenantConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &pgTenantStmt{Stmt: st, conn: c}, nil
}

// Begin implements driver.Conn.
func (c *pgTenantConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx: the transaction starts bound to
// the tenant.
func (c *pgTenantConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.Conn.Conn().Exec(ctx, c.bindSQL); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			c.broken = true
		}
		return nil, err
	}
	c.inTx = true
	return &pgTenantTx{tx: tx, conn: c}, nil
}

// ResetSession implements driver.SessionResetter.
func (c *pgTenantConn) ResetSession(ctx context.Context) error {
	if c.broken || c.inTx {
		return driver.ErrBadConn
	}
	return c.Conn.ResetSession(ctx)
}

// pgTenantTx ends an explicit transaction.
type pgTenantTx struct {
	tx   driver.Tx
	conn *pgTenantConn
}

func (t *pgTenantTx) Commit() error {
	t.conn.inTx = false
	return t.tx.Commit()
}

func (t *pgTenantTx) Rollback() error {
	t.conn.inTx = false
	return t.tx.Rollback()
}

// pgTenantStmt runs a prepared statement in its own bound transaction
// outside an explicit one.
type pgTenantStmt struct {
	driver.Stmt
	conn *pgTenantConn
}

func (s *pgTenantStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	st := s.Stmt.(driver.StmtExecContext)
	if s.conn.inTx {
		return st.ExecContext(ctx, args)
	}
	if err := s.conn.begin(ctx); err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	if err != nil {
		return nil, s.conn.fail(ctx, err)
	}
	if err := s.conn.end(ctx, true); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *pgTenantStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	st := s.Stmt.(driver.StmtQueryContext)
	if s.conn.inTx {
		return st.QueryContext(ctx, args)
	}
	if err := s.conn.begin(ctx); err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		return nil, s.conn.fail(ctx, err)
	}
	return &pgTenantRows{pgRows: pgRows{rows}, conn: s.conn, ctx: ctx}, nil
}

// Exec implements the legacy driver.Stmt method through ExecContext.
func (s *pgTenantStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

// Query implements the legacy driver.Stmt method through QueryContext.
func (s *pgTenantStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func namedValues(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// pgRows forwards the optional column type interfaces of pgx's rows.
type pgRows struct{ driver.Rows }

func (r pgRows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r pgRows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r pgRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r pgRows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

// pgTenantRows ends the statement's transaction when closed.
type pgTenantRows struct {
	pgRows
	conn   *pgTenantConn
	ctx    context.Context
	closed bool
}

func (r *pgTenantRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	if eerr := r.conn.end(r.ctx, err == nil); err == nil {
		err = eerr
	}
	return err
}

// pgShard is one configured PostgreSQL server: its administrative
// connection settings and pool.
type pgShard struct {
	name  string
	cfg   *pgx.ConnConfig // administrative; Copy before changing
	admin *sql.DB
	// adminDB is the administrative database's name (the server's default,
	// the user name, when the URL names none).
	adminDB string
}

// openPGShards parses every shard URL and opens (lazily: no connection is
// made yet) its administrative pool.
func openPGShards(what string, shards []tenantdb.Shard, adminConns int, idle time.Duration) ([]*pgShard, error) {
	out := make([]*pgShard, 0, len(shards))
	for _, s := range shards {
		cfg, err := pgx.ParseConfig(s.URL)
		if err != nil {
			closePGShards(out)
			// pgx's parse errors redact the password.
			return nil, fmt.Errorf("tenantdb: %s config: shard %q: %w", what, s.Name, err)
		}
		adminDB := cfg.Database
		if adminDB == "" {
			adminDB = cfg.User
		}
		admin := stdlib.OpenDB(*cfg)
		admin.SetMaxOpenConns(adminConns)
		admin.SetMaxIdleConns(min(adminConns, 2))
		if idle > 0 {
			admin.SetConnMaxIdleTime(idle)
		}
		out = append(out, &pgShard{name: s.Name, cfg: cfg, admin: admin, adminDB: adminDB})
	}
	return out, nil
}

func closePGShards(shards []*pgShard) error {
	var errs []error
	for _, s := range shards {
		errs = append(errs, s.admin.Close())
	}
	return errors.Join(errs...)
}
