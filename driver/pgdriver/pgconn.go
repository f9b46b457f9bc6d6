package pgdriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// database/sql adapter) that close gracefully.
type pgConnector struct {
	inner driver.Connector
}

func newPGConnector(cfg *pgx.ConnConfig) *pgConnector {
	return &pgConnector{inner: stdlib.GetConnector(*cfg)}
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
	return &pgConn{Conn: sc}, nil
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
func (c *pgConn) Close() error { return terminate(c.Conn.Conn().PgConn()) }

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

// namedValues converts legacy driver.Stmt arguments.
func namedValues(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
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
