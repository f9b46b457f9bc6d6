package pgdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
)

// Defaults of the server provisioners (PostgreSQL and MySQL), used for
// zero values in their configurations.
const (
	// DefaultTemplate is the template of CREATE DATABASE.
	DefaultTemplate = "template0"
)

// Config configures the PostgreSQL provisioners (Database,
// Schema, and RLS through RLSConfig). Zero values
// mean the defaults.
//
// Schema and RLS share one pool per shard among all tenants, of at most
// Budget / len(Shards) connections; MaxConnsPerTenant does not apply to
// them. What follows is postgres-database's budget.
//
// The connection budget works with a tenantdb.ConnManager: set its
// tenantdb.ConnConfig.MaxOpen to the provisioner's MaxOpenTenants(), which is
// Budget / MaxConnsPerTenant. The manager never has more than that many
// tenant pools open (closing idle ones to make room, cold tenants first,
// never one in use) and each pool holds at most MaxConnsPerTenant
// connections, so the tenant connections of the process never exceed
// Budget, however many tenants there are. The count holds on the server
// too: closing a tenant connection waits until the server has ended its
// backend. The administrative pools (AdminConns per shard) come on top.
type Config struct {
	// Shards are the servers; at least one. Each URL is an administrative
	// connection (any URL or keyword/value string pgx accepts): for
	// postgres-database its database is where CREATE/DROP DATABASE run and
	// tenant databases are made on its server; for postgres-schema and
	// postgres-rls its database holds the tenants. Tenant connections use
	// the same host, port, user and TLS settings.
	Shards []tenantdb.Shard
	// MaxConnsPerTenant is the pool size (MaxOpenConns and MaxIdleConns)
	// of each tenant *sql.DB; default 2.
	MaxConnsPerTenant int
	// Budget caps the connections of every tenant pool together; default
	// 80. It must be at least MaxConnsPerTenant.
	Budget int
	// AdminConns is the pool size of each shard's administrative
	// connection, outside the budget; default 4.
	AdminConns int
	// ConnMaxIdleTime closes pooled connections idle that long; default
	// 30s, negative for never.
	ConnMaxIdleTime time.Duration
	// Template is the template database of CREATE DATABASE
	// (postgres-database only); default template0, which nobody connects
	// to, so creation never fails because another session uses it.
	Template string
	// Strategy is CREATE DATABASE's STRATEGY (postgres-database only,
	// PostgreSQL 15 and later): "wal_log" or "file_copy"; empty for the
	// server's default (wal_log). file_copy is faster on small templates
	// but forces two checkpoints per database.
	Strategy string
}

// pgBase is what the PostgreSQL provisioners share: shards, shard lookup,
// and tenant pool settings.
type pgBase struct {
	what     string // "postgres-database" etc., for messages
	shards   []*pgShard
	set      *tenantdb.ShardSet
	maxConns int
	budget   int
	idle     time.Duration
}

// newPGBase validates cfg's common fields and opens the shards.
func newPGBase(what string, cfg *Config) (*pgBase, error) {
	if cfg == nil {
		return nil, fmt.Errorf("tenantdb: %s config: Shards are required", what)
	}
	if _, err := tenantdb.CheckShards(what, cfg.Shards); err != nil {
		return nil, err
	}
	maxConns, budget, admin, idle, err := tenantdb.CheckBudget(what, cfg.MaxConnsPerTenant, cfg.Budget, cfg.AdminConns, cfg.ConnMaxIdleTime)
	if err != nil {
		return nil, err
	}
	shards, err := openPGShards(what, cfg.Shards, admin, idle)
	if err != nil {
		return nil, err
	}
	return &pgBase{what: what, shards: shards, maxConns: maxConns, budget: budget, idle: idle}, nil
}

// Shards lists the shard names in configuration order.
func (b *pgBase) Shards() []string { return append([]string(nil), b.set.Names...) }

// PickShard returns the shard holding the fewest tenants, the earliest in
// configuration order on a tie. The counts are taken now, so concurrent
// creations may all pick the same shard.
func (b *pgBase) PickShard(ctx context.Context) (string, error) { return b.set.PickShard(ctx) }

// ShardOf returns the shard holding the named tenant, asking the servers
// (the remembered shard first); the answer is remembered.
func (b *pgBase) ShardOf(ctx context.Context, name string) (string, error) {
	return b.set.ShardOf(ctx, name)
}

// MaxOpenTenants returns Budget / MaxConnsPerTenant, the tenantdb.ConnConfig.MaxOpen
// that keeps every tenant connection together within Budget.
func (b *pgBase) MaxOpenTenants() int { return b.budget / b.maxConns }

// MaxConnsPerTenant returns the pool size of each tenant handle.
func (b *pgBase) MaxConnsPerTenant() int { return b.maxConns }

// Budget returns the cap on all tenant connections together.
func (b *pgBase) Budget() int { return b.budget }

// Dialect returns "postgres", goose's name for PostgreSQL.
func (b *pgBase) Dialect() string { return "postgres" }

// Close closes the shards' administrative pools. Tenant handles are the
// caller's (the tenantdb.ConnManager's) to close.
func (b *pgBase) Close() error {
	if err := closePGShards(b.shards); err != nil {
		return fmt.Errorf("tenantdb: close %s: %w", b.what, err)
	}
	return nil
}

// openPool returns a private tenant pool over cfg (postgres-database),
// without connecting.
func (b *pgBase) openPool(cfg *pgx.ConnConfig) *sql.DB {
	db := sql.OpenDB(newPGConnector(cfg))
	db.SetMaxOpenConns(b.maxConns)
	db.SetMaxIdleConns(b.maxConns)
	if b.idle > 0 {
		db.SetConnMaxIdleTime(b.idle)
	}
	return db
}

// queryExists runs a "SELECT EXISTS (...)" query on shard i.
func (b *pgBase) queryExists(ctx context.Context, i int, query string, args ...any) (bool, error) {
	var ok bool
	if err := b.shards[i].admin.QueryRowContext(ctx, query, args...).Scan(&ok); err != nil {
		return false, err
	}
	return ok, nil
}

// queryCount runs a "SELECT count(*) ..." query on shard i.
func (b *pgBase) queryCount(ctx context.Context, i int, query string, args ...any) (int, error) {
	var n int
	if err := b.shards[i].admin.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// Database is the postgres-database tenantdb.Provisioner: one PostgreSQL
// database per tenant, named after the tenant's database name, made with
// CREATE DATABASE on one of the shards and dropped with DROP DATABASE ...
// WITH (FORCE).
//
// Shards: Create puts the database on the shard named by tenantdb.WithShard in its
// context, or, without one, on the shard PickShard chooses (the one with
// the fewest tenant databases; the only one if there is one). The other
// methods find the database on whichever shard holds it, remembering the
// answer, so names must be unique across shards (the catalog ensures it;
// Create also refuses a name another shard holds). Tenant databases are
// counted by a comment Create puts on them naming the shard's
// administrative database.
//
// Tenant handles connect to the tenant database with the shard URL's
// credentials; see Config for the connection budget. It is safe for
// concurrent use.
type Database struct {
	*pgBase
	template string
	strategy string
}

var (
	_ tenantdb.Provisioner = (*Database)(nil)
	_ tenantdb.Sharded     = (*Database)(nil)
	_ tenantdb.Budgeted    = (*Database)(nil)
)

// NewDatabase returns a postgres-database provisioner for cfg. It
// connects to nothing until used; Close closes its administrative pools.
func NewDatabase(cfg *Config) (*Database, error) {
	const what = "postgres-database"
	template := DefaultTemplate
	strategy := ""
	if cfg != nil {
		if cfg.Template != "" {
			if err := tenantdb.ValidateName(cfg.Template); err != nil {
				return nil, fmt.Errorf("tenantdb: %s config: Template: %w", what, err)
			}
			template = cfg.Template
		}
		switch s := strings.ToLower(cfg.Strategy); s {
		case "", "wal_log", "file_copy":
			strategy = s
		default:
			return nil, fmt.Errorf("tenantdb: %s config: Strategy %q is not wal_log or file_copy", what, cfg.Strategy)
		}
	}
	b, err := newPGBase(what, cfg)
	if err != nil {
		return nil, err
	}
	p := &Database{pgBase: b, template: template, strategy: strategy}
	names := make([]string, len(b.shards))
	for i, s := range b.shards {
		names[i] = s.name
	}
	b.set = tenantdb.NewShardSet(names, p.existsOn, p.countOn)
	return p, nil
}

// marker is the comment Create puts on the databases it makes on shard i.
func (p *Database) marker(i int) string {
	return "tenancy tenant database; admin database " + p.shards[i].adminDB
}

func (p *Database) existsOn(ctx context.Context, i int, name string) (bool, error) {
	return p.queryExists(ctx, i, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name)
}

func (p *Database) countOn(ctx context.Context, i int) (int, error) {
	return p.queryCount(ctx, i, `
SELECT count(*) FROM pg_database d
JOIN pg_shdescription c ON c.objoid = d.oid AND c.classoid = 'pg_database'::regclass
WHERE c.description = $1`, p.marker(i))
}

// reserved reports names Drop refuses: the shards' administrative
// databases, templates and postgres.
func (p *Database) reserved(name string) bool {
	switch name {
	case "postgres", "template0", "template1", p.template:
		return true
	}
	for _, s := range p.shards {
		if s.adminDB == name {
			return true
		}
	}
	return false
}

// Create makes the database with CREATE DATABASE ... TEMPLATE template0 on
// the shard named by tenantdb.WithShard (or picked by PickShard), unless a database
// of that name exists on any shard (tenantdb.ErrExists).
func (p *Database) Create(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	if _, found, err := p.set.Locate(ctx, name); err != nil {
		return fmt.Errorf("tenantdb: create postgres database %q: %w", name, err)
	} else if found {
		return fmt.Errorf("tenantdb: create postgres database %q: %w", name, tenantdb.ErrExists)
	}
	i, err := p.set.Target(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: create postgres database %q: %w", name, err)
	}
	sh := p.shards[i]
	stmt := "CREATE DATABASE " + pgIdent(name) + " TEMPLATE " + pgIdent(p.template)
	if p.strategy != "" {
		stmt += " STRATEGY " + p.strategy
	}
	if _, err := sh.admin.ExecContext(ctx, stmt); err != nil {
		switch pgCode(err) {
		case pgDuplicateDatabase, pgUniqueViolation:
			return fmt.Errorf("tenantdb: create postgres database %q on shard %q: %w", name, sh.name, tenantdb.ErrExists)
		}
		return fmt.Errorf("tenantdb: create postgres database %q on shard %q: %w", name, sh.name, err)
	}
	comment := "COMMENT ON DATABASE " + pgIdent(name) + " IS " + pgQuoteLiteral(p.marker(i))
	if _, err := sh.admin.ExecContext(ctx, comment); err != nil {
		undo := context.WithoutCancel(ctx)
		_, derr := sh.admin.ExecContext(undo, "DROP DATABASE IF EXISTS "+pgIdent(name)+" WITH (FORCE)")
		return errors.Join(fmt.Errorf("tenantdb: create postgres database %q on shard %q: %w", name, sh.name, err), derr)
	}
	p.set.Remember(name, i)
	return nil
}

// Drop drops the database on the shard that holds it, WITH (FORCE), so
// open handles lose their connections (and cannot make new ones). Dropping
// a missing database returns nil. It refuses the shards' administrative
// databases, the templates and postgres.
func (p *Database) Drop(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if p.reserved(name) {
		return fmt.Errorf("tenantdb: drop postgres database %q: refusing to drop a server's own database", name)
	}
	unlock := p.set.Lock(name)
	defer unlock()
	i, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return fmt.Errorf("tenantdb: drop postgres database %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	sh := p.shards[i]
	if _, err := sh.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgIdent(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("tenantdb: drop postgres database %q on shard %q: %w", name, sh.name, err)
	}
	p.set.Forget(name)
	return nil
}

// Exists reports whether any shard holds the database.
func (p *Database) Exists(ctx context.Context, name string) (bool, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return false, err
	}
	_, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return false, fmt.Errorf("tenantdb: postgres database %q: %w", name, err)
	}
	return ok, nil
}

// Open returns a pool of at most MaxConnsPerTenant connections to the
// database, on its shard, checked with a ping. A missing database gives
// tenantdb.ErrNotExist; connecting never creates one.
func (p *Database) Open(ctx context.Context, name string) (*sql.DB, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return nil, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return nil, fmt.Errorf("tenantdb: open postgres database %q: %w", name, err)
		}
		if !ok {
			return nil, fmt.Errorf("tenantdb: open postgres database %q: %w", name, tenantdb.ErrNotExist)
		}
		cfg := p.shards[i].cfg.Copy()
		cfg.Database = name
		db := p.openPool(cfg)
		perr := db.PingContext(ctx)
		if perr == nil {
			return db, nil
		}
		_ = db.Close()
		if pgCode(perr) != pgInvalidCatalogName || attempt > 0 {
			return nil, fmt.Errorf("tenantdb: open postgres database %q on shard %q: %w", name, p.shards[i].name, perr)
		}
		// Dropped, or the cache was stale: look again.
		i, ok, err = p.set.Locate(ctx, name)
	}
}

// Size reports pg_database_size of the database. A missing database gives
// tenantdb.ErrNotExist.
func (p *Database) Size(ctx context.Context, name string) (int64, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return 0, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return 0, fmt.Errorf("tenantdb: size of postgres database %q: %w", name, err)
		}
		if !ok {
			return 0, fmt.Errorf("tenantdb: size of postgres database %q: %w", name, tenantdb.ErrNotExist)
		}
		var size int64
		serr := p.shards[i].admin.QueryRowContext(ctx,
			`SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1`, name).Scan(&size)
		if serr == nil {
			return size, nil
		}
		missing := errors.Is(serr, sql.ErrNoRows) || pgCode(serr) == pgInvalidCatalogName
		if !missing {
			return 0, fmt.Errorf("tenantdb: size of postgres database %q: %w", name, serr)
		}
		if attempt > 0 {
			return 0, fmt.Errorf("tenantdb: size of postgres database %q: %w", name, tenantdb.ErrNotExist)
		}
		// Dropped, or the cache was stale: look again.
		i, ok, err = p.set.Locate(ctx, name)
	}
}

// Wipe empties the database db is connected to, in one transaction: it
// drops every schema but the system ones (pg_*, information_schema) with
// CASCADE, taking every table, view, sequence, type, function and
// extension in them along, then makes schema public again with
// PostgreSQL 15's defaults (owned by pg_database_owner, USAGE for
// PUBLIC).
func (p *Database) Wipe(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("tenantdb: wipe postgres database: nil *sql.DB")
	}
	if err := wipePGDatabase(ctx, db); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres database: %w", err)
	}
	return nil
}

func wipePGDatabase(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var version int
	var hasDBOwner bool
	if err := tx.QueryRowContext(ctx, `
SELECT current_setting('server_version_num')::int,
	EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_database_owner')`).Scan(&version, &hasDBOwner); err != nil {
		return err
	}
	schemas, err := queryStrings(ctx, tx, `
SELECT nspname FROM pg_namespace
WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'
ORDER BY nspname`)
	if err != nil {
		return err
	}
	for _, s := range schemas {
		if _, err := tx.ExecContext(ctx, "DROP SCHEMA "+pgIdent(s)+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", pgIdent(s), err)
		}
	}
	stmts := []string{"CREATE SCHEMA public", "COMMENT ON SCHEMA public IS 'standard public schema'"}
	if hasDBOwner {
		stmts = append(stmts, "ALTER SCHEMA public OWNER TO pg_database_owner")
	}
	if version >= 150000 {
		stmts = append(stmts, "GRANT USAGE ON SCHEMA public TO PUBLIC")
	} else {
		stmts = append(stmts, "GRANT ALL ON SCHEMA public TO PUBLIC")
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit()
}

// queryer is what queryStrings needs of a *sql.DB, *sql.Tx or *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryStrings returns the first column of every row.
func queryStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
