package pgdriver

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sharedPool is one shard's server connections, shared by every tenant
// handle of the shard (postgres-schema and postgres-rls). A connection
// carries no tenant: each transaction that runs on it binds its tenant
// first (see binding), so the pool is safe behind a proxy in transaction
// pooling mode, which may hand the next transaction another server
// connection.
type sharedPool struct {
	pool  *pgxpool.Pool
	shard string
	// named is true when the URL's default_query_exec_mode is
	// cache_statement (pgx's default): statements are prepared once per
	// server connection. In any other mode every statement is sent as an
	// unnamed one, as pgx's exec mode does, which is what a proxy without
	// protocol-level prepared statements (PgBouncer before 1.21) needs.
	named bool
}

// newSharedPool opens (without connecting) a pool of at most maxConns
// connections over cfg, closing connections idle for idle.
func newSharedPool(cfg *pgx.ConnConfig, shard string, maxConns int, idle time.Duration) (*sharedPool, error) {
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pc.ConnConfig = cfg
	pc.MaxConns = int32(maxConns)
	pc.MinConns = 0
	if idle > 0 {
		pc.MaxConnIdleTime = idle
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, err
	}
	return &sharedPool{pool: pool, shard: shard, named: cfg.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement}, nil
}

// sharedMaxOpen is MaxOpenTenants of the shared-pool modes: their handles
// hold no connection, so the budget does not bound them; each costs a few
// kilobytes and a goroutine.
const sharedMaxOpen = 16384

// sharedPools opens one shared pool per shard, the budget split evenly
// between them; config gives shard i's connection settings.
func (b *pgBase) sharedPools(config func(i int) *pgx.ConnConfig) ([]*sharedPool, error) {
	perShard := max(1, b.budget/len(b.shards))
	pools := make([]*sharedPool, 0, len(b.shards))
	for i, s := range b.shards {
		sp, err := newSharedPool(config(i), s.name, perShard, b.idle)
		if err != nil {
			closeSharedPools(pools)
			return nil, fmt.Errorf("tenantdb: %s: shard %q: %w", b.what, s.name, err)
		}
		pools = append(pools, sp)
	}
	return pools, nil
}

// closeSharedPools closes the pools, waiting for their connections to be
// given back.
func closeSharedPools(pools []*sharedPool) {
	for _, sp := range pools {
		sp.pool.Close()
	}
}

// handle returns a tenant handle over the pool: a *sql.DB that holds no
// connection of its own (it borrows one from the pool per statement or
// transaction) and binds b in every transaction.
func (sp *sharedPool) handle(b *binding) *sql.DB {
	db := sql.OpenDB(&sharedConnector{pool: sp, bind: b})
	db.SetMaxIdleConns(0) // a connection goes back to the shard's pool at once
	return db
}

// binding is the statement that binds a transaction to its tenant, with
// set_config(…, true): the settings last until the transaction ends. It
// returns one row when the tenant is there, none when its schema or
// registration is missing.
type binding struct {
	sql    string
	params [][]byte
	oids   []uint32
	what   string // names the tenant in errors
}

// schemaBinding binds search_path to the schema alone, if it exists.
func schemaBinding(schema string) *binding {
	return &binding{
		sql:    `SELECT set_config('search_path', $1, true) FROM pg_catalog.pg_namespace WHERE nspname = $2`,
		params: [][]byte{[]byte(pgIdent(schema)), []byte(schema)},
		oids:   []uint32{pgtype.TextOID, pgtype.TextOID},
		what:   fmt.Sprintf("postgres schema %q", schema),
	}
}

// rlsBinding binds app.tenant_id to tenant (if registered) and search_path
// to the shared tables' schema; with tenant "" it binds no tenant, so
// that the transaction sees no tenant rows until it binds one itself.
func rlsBinding(tenant, schema string) *binding {
	if tenant == "" {
		return &binding{
			sql:    `SELECT set_config('` + RLSSetting + `', '', true), set_config('search_path', $1, true)`,
			params: [][]byte{[]byte(pgIdent(schema))},
			oids:   []uint32{pgtype.TextOID},
			what:   "postgres-rls shard",
		}
	}
	return &binding{
		sql:    `SELECT set_config('` + RLSSetting + `', $1, true), set_config('search_path', $2, true) WHERE ` + rlsRegistered + `($1)`,
		params: [][]byte{[]byte(tenant), []byte(pgIdent(schema))},
		oids:   []uint32{pgtype.TextOID, pgtype.TextOID},
		what:   fmt.Sprintf("postgres-rls tenant %q", tenant),
	}
}

// searchPathBinding binds search_path only (the owner's migrations).
func searchPathBinding(schema string) *binding {
	return &binding{
		sql:    `SELECT set_config('search_path', $1, true)`,
		params: [][]byte{[]byte(pgIdent(schema))},
		oids:   []uint32{pgtype.TextOID},
		what:   fmt.Sprintf("postgres schema %q", schema),
	}
}

// sharedConnector makes the driver connections of a tenant handle: each is
// a connection borrowed from the shard's pool, given back when database/sql
// closes it.
type sharedConnector struct {
	pool *sharedPool
	bind *binding
}

// Connect implements driver.Connector.
func (c *sharedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := c.pool.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("tenantdb: %s: shard %q: %w: %w", c.bind.what, c.pool.shard, tenantdb.ErrUnavailable, err)
	}
	return &boundConn{pool: c.pool, bind: c.bind, pc: pc, conn: pc.Conn()}, nil
}

// Driver implements driver.Connector.
func (c *sharedConnector) Driver() driver.Driver { return sharedDriver{} }

// sharedDriver is the driver.Driver of shared-pool handles, which are only
// made through their connector.
type sharedDriver struct{}

func (sharedDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("tenantdb: shared-pool handles open through their connector")
}

// boundConn is a pooled server connection lent to one tenant handle. It
// runs every statement in a transaction bound to the handle's tenant:
// outside an explicit transaction the binding and the statement travel in
// one pipeline ending in one Sync, so they form one implicit transaction
// and one round trip; BeginTx sends BEGIN and the binding together, and
// the statements of the transaction run as they are. Statements are
// prepared once per server connection (named mode), the first time inside
// a bound transaction so that their names resolve in the tenant's schema;
// PostgreSQL re-plans them when a later transaction's search_path differs.
type boundConn struct {
	pool   *sharedPool
	bind   *binding
	pc     *pgxpool.Conn
	conn   *pgx.Conn
	eqb    pgx.ExtendedQueryBuilder
	inTx   bool
	txCtx  context.Context
	broken bool // never give it back to the pool
}

var (
	_ driver.Conn               = (*boundConn)(nil)
	_ driver.ConnBeginTx        = (*boundConn)(nil)
	_ driver.ExecerContext      = (*boundConn)(nil)
	_ driver.QueryerContext     = (*boundConn)(nil)
	_ driver.ConnPrepareContext = (*boundConn)(nil)
	_ driver.NamedValueChecker  = (*boundConn)(nil)
	_ driver.Pinger             = (*boundConn)(nil)
	_ driver.SessionResetter    = (*boundConn)(nil)
	_ driver.Validator          = (*boundConn)(nil)
)

// maxPreparedPerConn bounds the statements prepared on one server
// connection; past it the connection deallocates one to prepare another.
const maxPreparedPerConn = 256

// preparedKey is the CustomData key of a connection's prepared statements.
const preparedKey = "tenancy.prepared"

// prepared is the statements prepared on one server connection by
// boundConn, by SQL text.
type prepared struct {
	m       map[string]*pgconn.StatementDescription
	stale   []string        // names to deallocate before the next prepare
	scripts map[string]bool // statements that are several: run as scripts
	// binds holds the bindings' statements, prepared once per server
	// connection and never evicted (there are at most three texts).
	binds map[string]*pgconn.StatementDescription
}

// forget drops query's statement, to be deallocated before the next prepare.
func (p *prepared) forget(query string) {
	if sd, ok := p.m[query]; ok {
		delete(p.m, query)
		p.stale = append(p.stale, sd.Name)
	}
}

func (c *boundConn) prepared() *prepared {
	data := c.conn.PgConn().CustomData()
	if p, ok := data[preparedKey].(*prepared); ok {
		return p
	}
	p := &prepared{m: map[string]*pgconn.StatementDescription{}, scripts: map[string]bool{}, binds: map[string]*pgconn.StatementDescription{}}
	data[preparedKey] = p
	return p
}

// statementName names query's prepared statement.
func statementName(query string) string {
	sum := sha256.Sum256([]byte(query))
	return "tenancy_" + hex.EncodeToString(sum[:16])
}

// Prepare implements driver.Conn. Statements are prepared on the server
// when first run on a connection, so this makes no round trip.
func (c *boundConn) Prepare(query string) (driver.Stmt, error) {
	return &boundStmt{conn: c, query: query}, nil
}

// PrepareContext implements driver.ConnPrepareContext.
func (c *boundConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return c.Prepare(query)
}

// CheckNamedValue implements driver.NamedValueChecker: pgx encodes every
// argument itself (driver.Valuer and sql.Scanner included).
func (c *boundConn) CheckNamedValue(*driver.NamedValue) error { return nil }

// Close gives the connection back to the shard's pool, or, when it is in
// an unknown state, closes it (waiting until the server has ended its
// backend, so that the connection count holds on the server).
func (c *boundConn) Close() error {
	pc := c.pc
	if pc == nil {
		return nil
	}
	c.pc = nil
	if c.broken || c.inTx {
		return terminate(pc.Hijack().PgConn())
	}
	pc.Release() // the pool itself destroys a connection left busy or in a transaction
	return nil
}

// IsValid implements driver.Validator.
func (c *boundConn) IsValid() bool { return !c.broken && !c.conn.IsClosed() }

// ResetSession implements driver.SessionResetter.
func (c *boundConn) ResetSession(context.Context) error {
	if c.broken || c.inTx || c.conn.IsClosed() || c.conn.PgConn().TxStatus() != 'I' {
		return driver.ErrBadConn
	}
	return nil
}

// Ping implements driver.Pinger.
func (c *boundConn) Ping(ctx context.Context) error {
	if err := c.conn.Ping(ctx); err != nil {
		c.broken = true
		return driver.ErrBadConn
	}
	return nil
}

// Begin implements driver.Conn.
func (c *boundConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx: BEGIN and the binding go in one
// round trip.
func (c *boundConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.conn.IsClosed() {
		return nil, driver.ErrBadConn
	}
	begin, err := beginStatement(opts)
	if err != nil {
		return nil, err
	}
	bind, err := c.bindStatement(ctx)
	if err != nil {
		return nil, c.classify(ctx, err, true)
	}
	p := c.conn.PgConn().StartPipeline(ctx)
	p.SendQueryParams(begin, nil, nil, nil, nil)
	c.sendBinding(p, bind)
	err = p.Sync()
	if err == nil {
		err = readResult(p)
	}
	if err == nil {
		err = c.readBinding(p)
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if c.conn.PgConn().TxStatus() != 'I' {
			c.rollback(ctx)
		}
		return nil, c.classify(ctx, err, true)
	}
	c.inTx, c.txCtx = true, ctx
	return &boundTx{conn: c}, nil
}

// beginStatement is the BEGIN of opts.
func beginStatement(opts driver.TxOptions) (string, error) {
	s := "BEGIN"
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		s += " ISOLATION LEVEL READ UNCOMMITTED"
	case sql.LevelReadCommitted:
		s += " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		s += " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		s += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return "", fmt.Errorf("tenantdb: unsupported isolation level %v", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		s += " READ ONLY"
	}
	return s, nil
}

// rollback ends the transaction after a failure; if even that fails the
// connection is closed instead of reused (the server then rolls back).
func (c *boundConn) rollback(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if _, err := c.conn.PgConn().Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		c.broken = true
	}
}

// readResult reads one statement's result and discards its rows.
func readResult(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("tenantdb: unexpected pipeline result %T", res)
	}
	_, err = rr.Close()
	return err
}

// bindStatement returns the binding's statement prepared on this server
// connection (preparing it on first use, one round trip per connection),
// or nil when statements are not prepared (exec modes, for poolers): then
// the binding is sent as an unnamed statement each time.
func (c *boundConn) bindStatement(ctx context.Context) (*pgconn.StatementDescription, error) {
	if !c.pool.named {
		return nil, nil
	}
	ps := c.prepared()
	if sd := ps.binds[c.bind.sql]; sd != nil {
		return sd, nil
	}
	sd, err := c.conn.PgConn().Prepare(ctx, "tenancy_bind_"+strings.TrimPrefix(statementName(c.bind.sql), "tenancy_"), c.bind.sql, c.bind.oids)
	if err != nil {
		return nil, err
	}
	ps.binds[c.bind.sql] = sd
	return sd, nil
}

// sendBinding queues the binding on p: the prepared statement bind when
// there is one, else the binding's text.
func (c *boundConn) sendBinding(p *pgconn.Pipeline, bind *pgconn.StatementDescription) {
	if bind != nil {
		p.SendQueryStatement(bind, c.bind.params, nil, nil)
		return
	}
	p.SendQueryParams(c.bind.sql, c.bind.params, c.bind.oids, nil, nil)
}

// readBinding reads the binding's result: no row means the tenant's schema
// or registration is gone.
func (c *boundConn) readBinding(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("tenantdb: unexpected pipeline result %T", res)
	}
	rows := 0
	for rr.NextRow() {
		rows++
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	if rows == 0 {
		return fmt.Errorf("tenantdb: %s does not exist on shard %q: %w", c.bind.what, c.pool.shard, tenantdb.ErrUnavailable)
	}
	return nil
}

// classify turns err, from a statement that did not complete, into what
// database/sql and the caller should see. autocommit says the statement
// ran in its own transaction, which the server then rolled back whole.
func (c *boundConn) classify(ctx context.Context, err error, autocommit bool) error {
	switch {
	case errors.Is(err, tenantdb.ErrUnavailable):
		return err
	case pgconn.SafeToRetry(err):
		// Nothing was sent: database/sql retries on another connection.
		c.broken = true
		return driver.ErrBadConn
	case autocommit && (serverEnded(err) || pgCode(err) == pgStatementMissing):
		// The server ended the backend, or the statements this connection
		// prepared are gone (DEALLOCATE or DISCARD ALL); nothing of the
		// statement was kept: run it again on a fresh connection.
		c.broken = true
		return driver.ErrBadConn
	case c.conn.IsClosed():
		c.broken = true
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("tenantdb: %s: connection to shard %q lost: %w: %w", c.bind.what, c.pool.shard, tenantdb.ErrUnavailable, err)
	}
	return err
}

// pgStatementMissing is SQLSTATE invalid_sql_statement_name: a prepared
// statement that does not exist.
const pgStatementMissing = "26000"

// pgResultTypeChanged is SQLSTATE feature_not_supported, raised as "cached
// plan must not change result type" when a prepared statement's result
// differs in another schema.
const pgResultTypeChanged = "0A000"

// started is a statement whose results are being read: its pipeline is
// open until finish.
type started struct {
	p  *pgconn.Pipeline
	rr *pgconn.ResultReader
}

// finish reads the rest of the statement's result and closes its pipeline.
func (s *started) finish() (pgconn.CommandTag, error) {
	tag, err := s.rr.Close()
	if perr := s.p.Close(); err == nil {
		err = perr
	}
	return tag, err
}

// start sends query with args, bound to the tenant when outside an
// explicit transaction, and returns once its result starts arriving.
func (c *boundConn) start(ctx context.Context, query string, args []driver.NamedValue) (*started, error) {
	if c.conn.IsClosed() {
		return nil, driver.ErrBadConn
	}
	autocommit := !c.inTx
	if !autocommit && c.conn.PgConn().TxStatus() == 'I' {
		return nil, errors.New("tenantdb: the transaction was ended by a COMMIT or ROLLBACK statement; end transactions with Commit or Rollback")
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	for attempt := 0; ; attempt++ {
		s, err := c.send(ctx, query, vals, autocommit)
		if err != nil && attempt == 0 && autocommit && c.pool.named && pgCode(err) == pgResultTypeChanged && !c.conn.IsClosed() {
			// The tenant's table differs from the one the statement
			// was prepared against: prepare it again for this tenant.
			c.prepared().forget(query)
			continue
		}
		if err != nil {
			return nil, c.classify(ctx, err, autocommit)
		}
		return s, nil
	}
}

// send is one attempt of start.
func (c *boundConn) send(ctx context.Context, query string, vals []any, autocommit bool) (*started, error) {
	var sd *pgconn.StatementDescription
	var resultFormats []int16
	if c.pool.named {
		sd = c.prepared().m[query]
		if sd == nil {
			var err error
			if sd, err = c.prepare(ctx, query, autocommit); err != nil {
				return nil, err
			}
		}
		if len(sd.ParamOIDs) != len(vals) {
			return nil, fmt.Errorf("tenantdb: expected %d arguments, got %d", len(sd.ParamOIDs), len(vals))
		}
		if err := c.eqb.Build(c.conn.TypeMap(), sd, vals); err != nil {
			return nil, err
		}
		resultFormats = make([]int16, len(sd.Fields))
		for i, f := range sd.Fields {
			resultFormats[i] = sqlResultFormats[f.DataTypeOID]
		}
	} else if err := c.eqb.Build(c.conn.TypeMap(), nil, vals); err != nil {
		return nil, err
	}
	var bind *pgconn.StatementDescription
	if autocommit {
		var err error
		if bind, err = c.bindStatement(ctx); err != nil {
			return nil, err
		}
	}
	p := c.conn.PgConn().StartPipeline(ctx)
	if autocommit {
		c.sendBinding(p, bind)
	}
	if sd != nil {
		p.SendQueryStatement(sd, c.eqb.ParamValues, c.eqb.ParamFormats, resultFormats)
	} else {
		p.SendQueryParams(query, c.eqb.ParamValues, nil, c.eqb.ParamFormats, nil)
	}
	err := p.Sync()
	if err == nil && autocommit {
		err = c.readBinding(p)
	}
	var rr *pgconn.ResultReader
	if err == nil {
		var res any
		if res, err = p.GetResults(); err == nil {
			var ok bool
			if rr, ok = res.(*pgconn.ResultReader); !ok {
				err = fmt.Errorf("tenantdb: unexpected pipeline result %T", res)
			}
		}
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return &started{p: p, rr: rr}, nil
}

// prepare prepares query on the connection, after binding the tenant in
// the same implicit transaction when outside an explicit one, so that its
// names resolve in the tenant's schema; it makes room first when the
// connection holds maxPreparedPerConn statements.
func (c *boundConn) prepare(ctx context.Context, query string, autocommit bool) (*pgconn.StatementDescription, error) {
	ps := c.prepared()
	if len(ps.m) >= maxPreparedPerConn {
		for q := range ps.m {
			ps.forget(q)
			break
		}
	}
	var bind *pgconn.StatementDescription
	if autocommit {
		var err error
		if bind, err = c.bindStatement(ctx); err != nil {
			return nil, err
		}
	}
	stale := ps.stale
	ps.stale = nil
	p := c.conn.PgConn().StartPipeline(ctx)
	if autocommit {
		c.sendBinding(p, bind)
	}
	for _, name := range stale {
		p.SendDeallocate(name)
	}
	name := statementName(query)
	p.SendPrepare(name, query, nil)
	err := p.Sync()
	if err == nil && autocommit {
		err = c.readBinding(p)
	}
	for range stale {
		if err == nil {
			_, err = p.GetResults()
		}
	}
	var sd *pgconn.StatementDescription
	if err == nil {
		var res any
		if res, err = p.GetResults(); err == nil {
			var ok bool
			if sd, ok = res.(*pgconn.StatementDescription); !ok {
				err = fmt.Errorf("tenantdb: unexpected pipeline result %T", res)
			}
		}
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	sd.Name, sd.SQL = name, query
	ps.m[query] = sd
	return sd, nil
}

// ExecContext implements driver.ExecerContext. A statement without
// arguments may be several separated by semicolons, as with pgx (which
// sends those with the simple protocol): such a script runs in the
// handle's transaction, or in a bound transaction of its own.
func (c *boundConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 && (c.inTx || c.prepared().scripts[query]) {
		// Inside a transaction the binding is done: run it as pgx would.
		return c.execScript(ctx, query)
	}
	s, err := c.start(ctx, query, args)
	if len(args) == 0 && isMultipleCommands(err) {
		ps := c.prepared()
		if len(ps.scripts) >= maxPreparedPerConn {
			clear(ps.scripts)
		}
		ps.scripts[query] = true
		return c.execScript(ctx, query)
	}
	if err != nil {
		return nil, err
	}
	tag, err := s.finish()
	if err != nil {
		return nil, c.classify(ctx, err, !c.inTx)
	}
	c.checkIdle()
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// isMultipleCommands reports the error of preparing several statements
// as one.
func isMultipleCommands(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgSyntaxError && strings.Contains(pe.Message, "multiple commands")
}

// pgSyntaxError is SQLSTATE syntax_error.
const pgSyntaxError = "42601"

// execScript runs several statements with the simple protocol: inside the
// explicit transaction, or in a transaction of their own that BEGIN and
// the binding open (one round trip) and COMMIT ends.
func (c *boundConn) execScript(ctx context.Context, script string) (driver.Result, error) {
	autocommit := !c.inTx
	if autocommit {
		if _, err := c.BeginTx(ctx, driver.TxOptions{}); err != nil {
			return nil, err
		}
	} else if c.conn.PgConn().TxStatus() == 'I' {
		return nil, errors.New("tenantdb: the transaction was ended by a COMMIT or ROLLBACK statement; end transactions with Commit or Rollback")
	}
	results, err := c.conn.PgConn().Exec(ctx, script).ReadAll()
	var tag pgconn.CommandTag
	if n := len(results); n > 0 {
		tag = results[n-1].CommandTag
	}
	if autocommit {
		tx := &boundTx{conn: c}
		switch {
		case c.conn.PgConn().TxStatus() == 'I':
			// The script ended the transaction itself; what followed
			// ran in transactions the binding did not open, which may
			// have changed the session: the connection is not reused.
			c.inTx, c.txCtx = false, nil
			c.broken = true
		case err != nil:
			_ = tx.Rollback()
		default:
			if err = tx.Commit(); err != nil {
				return nil, err
			}
		}
	}
	if err != nil {
		return nil, c.classify(ctx, err, false)
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// checkIdle marks the connection broken when a statement outside a
// transaction left one open (an Exec of BEGIN): its binding must not
// outlive the statement.
func (c *boundConn) checkIdle() {
	if !c.inTx && c.conn.PgConn().TxStatus() != 'I' {
		c.broken = true
	}
}

// QueryContext implements driver.QueryerContext. Like pgx's database/sql
// adapter it reads the first row before returning, so that an error of
// the statement is returned here.
func (c *boundConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.start(ctx, query, args)
	if err != nil {
		return nil, err
	}
	r := &boundRows{conn: c, ctx: ctx, s: s, fields: s.rr.FieldDescriptions()}
	r.more = s.rr.NextRow()
	if !r.more {
		if err := r.Close(); err != nil {
			return nil, err
		}
	}
	r.preloaded = true
	return r, nil
}

// boundTx is an explicit transaction of a boundConn.
type boundTx struct{ conn *boundConn }

// Commit implements driver.Tx.
func (t *boundTx) Commit() error { return t.end("COMMIT") }

// Rollback implements driver.Tx.
func (t *boundTx) Rollback() error { return t.end("ROLLBACK") }

func (t *boundTx) end(stmt string) error {
	c := t.conn
	ctx := c.txCtx
	c.inTx, c.txCtx = false, nil
	if c.conn.PgConn().TxStatus() == 'I' {
		return errors.New("tenantdb: the transaction was already ended by a COMMIT or ROLLBACK statement")
	}
	if stmt == "ROLLBACK" {
		c.rollback(ctx)
		return nil
	}
	tag, err := c.conn.PgConn().Exec(ctx, stmt).ReadAll()
	if err == nil && len(tag) == 1 && tag[0].Err != nil {
		err = tag[0].Err
	}
	if err != nil {
		c.broken = true
		return c.classify(ctx, err, false)
	}
	if len(tag) == 1 && tag[0].CommandTag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	if c.conn.PgConn().TxStatus() != 'I' {
		c.broken = true
	}
	return nil
}

// boundStmt is a statement of a boundConn; it is prepared on the server
// the first time it runs on a connection.
type boundStmt struct {
	conn  *boundConn
	query string
}

func (s *boundStmt) Close() error  { return nil }
func (s *boundStmt) NumInput() int { return -1 }

func (s *boundStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.query, args)
}

func (s *boundStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.query, args)
}

// Exec implements the legacy driver.Stmt method through ExecContext.
func (s *boundStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

// Query implements the legacy driver.Stmt method through QueryContext.
func (s *boundStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

// boundRows are the rows of a statement of a boundConn, converted to
// driver values as pgx's database/sql adapter converts them.
type boundRows struct {
	conn      *boundConn
	ctx       context.Context
	s         *started
	fields    []pgconn.FieldDescription
	values    []valueFunc
	names     []string
	preloaded bool
	more      bool
	closed    bool
	err       error
}

func (r *boundRows) Columns() []string {
	if r.names == nil {
		r.names = make([]string, len(r.fields))
		for i, f := range r.fields {
			r.names[i] = f.Name
		}
	}
	return r.names
}

func (r *boundRows) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	if _, err := r.s.finish(); err != nil {
		r.err = r.conn.classify(r.ctx, err, !r.conn.inTx)
	} else {
		r.conn.checkIdle()
	}
	return r.err
}

func (r *boundRows) Next(dest []driver.Value) error {
	if r.closed {
		if r.err != nil {
			return r.err
		}
		return io.EOF
	}
	if r.preloaded {
		r.preloaded = false
	} else {
		r.more = r.s.rr.NextRow()
	}
	if !r.more {
		if err := r.Close(); err != nil {
			return err
		}
		return io.EOF
	}
	if r.values == nil {
		r.values = valueFuncs(r.conn.conn.TypeMap(), r.fields)
	}
	for i, raw := range r.s.rr.Values() {
		if raw == nil {
			dest[i] = nil
			continue
		}
		v, err := r.values[i](raw)
		if err != nil {
			return fmt.Errorf("convert field %d failed: %w", i, err)
		}
		dest[i] = v
	}
	return nil
}

// terminate closes a connection taken out of its pool: it sends Terminate
// and reads until the server closes the socket, which a backend does only
// after removing itself from pg_stat_activity.
func terminate(pc *pgconn.PgConn) error {
	if pc.IsClosed() {
		select {
		case <-pc.CleanupDone():
		case <-time.After(closeTimeout):
		}
		return nil
	}
	hc, err := pc.Hijack()
	if err != nil {
		return pc.Close(context.Background())
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

// Tx runs fn in a transaction on the pgx connection under db, a tenant
// handle of this package (tenancy.DB(ctx) in a request of a tenant on
// PostgreSQL), for applications that want pgx's own API (CopyFrom,
// SendBatch, pgx types): in postgres-schema and postgres-rls the
// transaction is bound to the handle's tenant like every other
// transaction of the handle; in postgres-database it runs on the tenant's
// database. It commits when fn returns nil and rolls back otherwise; fn
// must not keep tx or its connection.
func Tx(ctx context.Context, db *sql.DB, fn func(tx pgx.Tx) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		var pc *pgx.Conn
		var bind *binding
		switch c := dc.(type) {
		case *boundConn:
			pc, bind = c.conn, c.bind
		case *pgConn:
			pc = c.Conn.Conn()
		default:
			return fmt.Errorf("tenantdb: pgdriver.Tx: %T is not a connection of a pgdriver tenant handle", dc)
		}
		return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
			if bind != nil {
				args := make([]any, len(bind.params))
				for i, p := range bind.params {
					args[i] = string(p)
				}
				var bound bool
				rows, err := tx.Query(ctx, bind.sql, args...)
				if err != nil {
					return err
				}
				for rows.Next() {
					bound = true
				}
				if rows.Close(); rows.Err() != nil {
					return rows.Err()
				}
				if !bound {
					return fmt.Errorf("tenantdb: %s does not exist: %w", bind.what, tenantdb.ErrUnavailable)
				}
			}
			return fn(tx)
		})
	})
}
