package mysqldriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gotenancy/tenancy/tenantdb"
)

// MySQL error numbers the provisioner acts on.
const (
	mysqlDBCreateExists = 1007 // ER_DB_CREATE_EXISTS
	mysqlBadDB          = 1049 // ER_BAD_DB_ERROR: unknown database
	mysqlUnknownVar     = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
)

func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// mysqlIdent quotes an identifier with backticks, as MySQL and MariaDB
// expect whatever the sql_mode.
func mysqlIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// mysqlSystemSchemas are the server's own databases.
var mysqlSystemSchemas = []string{"information_schema", "mysql", "performance_schema", "sys"}

// Config configures Database. Zero values mean the defaults.
// The connection budget works as for PostgreSQL (see PostgresConfig):
// tenantdb.ConnConfig.MaxOpen = MaxOpenTenants() = Budget / MaxConnsPerTenant.
type Config struct {
	// Shards are the servers; at least one. Each URL is an administrative
	// connection, either mysql://user:password@host:port/db?params or a
	// go-sql-driver/mysql DSN (user:password@tcp(host:port)/db?params); its
	// database may be empty. Tenant connections use the same server,
	// credentials and parameters with the tenant's database.
	Shards []tenantdb.Shard
	// MaxConnsPerTenant is the pool size of each tenant *sql.DB; default 2.
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
}

// mysqlShard is one configured MySQL or MariaDB server.
type mysqlShard struct {
	name    string
	cfg     *mysql.Config // administrative; Clone before changing
	admin   *sql.DB
	adminDB string
}

// Database is the mysql-database tenantdb.Provisioner: one database (schema)
// per tenant on a MySQL or MariaDB server, created with CHARACTER SET
// utf8mb4. Shards work as for PostgresDatabase: Create uses the shard
// named by tenantdb.WithShard or PickShard's (which counts every database but the
// server's own and the administrative one); the other methods find the
// database wherever it is. Tenant handles connect with the shard's
// credentials and parameters plus multiStatements=true and
// parseTime=true. It is safe for concurrent use.
type Database struct {
	shards   []*mysqlShard
	set      *tenantdb.ShardSet
	maxConns int
	budget   int
	idle     time.Duration
}

var (
	_ tenantdb.Provisioner = (*Database)(nil)
	_ tenantdb.Sharded     = (*Database)(nil)
	_ tenantdb.Budgeted    = (*Database)(nil)
)

// ParseURL parses a shard URL for Database: a
// mysql://user:password@host[:port]/[database][?params] URL (params as in
// a go-sql-driver/mysql DSN) or such a DSN itself. The result has
// parseTime and multiStatements on. Errors do not repeat the password.
func ParseURL(s string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if len(s) >= 8 && strings.EqualFold(s[:8], "mysql://") {
		u, err := url.Parse(s)
		if err != nil {
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return nil, fmt.Errorf("invalid URL: %v", err)
		}
		if u.Host == "" {
			return nil, errors.New("URL has no host")
		}
		db := strings.TrimPrefix(u.Path, "/")
		if strings.Contains(db, "/") {
			return nil, fmt.Errorf("URL path %q is not a database name", u.Path)
		}
		cfg, err = mysql.ParseDSN("tcp(" + u.Host + ")/" + db + "?" + u.RawQuery)
		if err != nil {
			return nil, err
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
	} else {
		var err error
		if cfg, err = mysql.ParseDSN(s); err != nil {
			return nil, errors.New("invalid DSN") // its message may quote the password
		}
	}
	cfg.ParseTime = true
	cfg.MultiStatements = true
	return cfg, nil
}

// NewDatabase returns a mysql-database provisioner for cfg. It
// connects to nothing until used; Close closes its administrative pools.
func NewDatabase(cfg *Config) (*Database, error) {
	const what = "mysql-database"
	if cfg == nil {
		return nil, fmt.Errorf("tenantdb: %s config: Shards are required", what)
	}
	names, err := tenantdb.CheckShards(what, cfg.Shards)
	if err != nil {
		return nil, err
	}
	maxConns, budget, adminConns, idle, err := tenantdb.CheckBudget(what, cfg.MaxConnsPerTenant, cfg.Budget, cfg.AdminConns, cfg.ConnMaxIdleTime)
	if err != nil {
		return nil, err
	}
	p := &Database{maxConns: maxConns, budget: budget, idle: idle}
	for _, s := range cfg.Shards {
		mc, err := ParseURL(s.URL)
		if err == nil {
			var conn driver.Connector
			if conn, err = mysql.NewConnector(mc); err == nil {
				admin := sql.OpenDB(conn)
				admin.SetMaxOpenConns(adminConns)
				admin.SetMaxIdleConns(min(adminConns, 2))
				if idle > 0 {
					admin.SetConnMaxIdleTime(idle)
				}
				p.shards = append(p.shards, &mysqlShard{name: s.Name, cfg: mc, admin: admin, adminDB: mc.DBName})
				continue
			}
		}
		_ = p.Close()
		return nil, fmt.Errorf("tenantdb: %s config: shard %q: %w", what, s.Name, err)
	}
	p.set = tenantdb.NewShardSet(names, p.existsOn, p.countOn)
	return p, nil
}

// Dialect returns "mysql", goose's name for MySQL and MariaDB.
func (p *Database) Dialect() string { return "mysql" }

// Shards lists the shard names in configuration order.
func (p *Database) Shards() []string { return append([]string(nil), p.set.Names...) }

// PickShard returns the shard holding the fewest databases (the server's
// own and the administrative one aside), the earliest on a tie.
func (p *Database) PickShard(ctx context.Context) (string, error) { return p.set.PickShard(ctx) }

// ShardOf returns the shard holding the named database.
func (p *Database) ShardOf(ctx context.Context, name string) (string, error) {
	return p.set.ShardOf(ctx, name)
}

// MaxOpenTenants returns Budget / MaxConnsPerTenant.
func (p *Database) MaxOpenTenants() int { return p.budget / p.maxConns }

// MaxConnsPerTenant returns the pool size of each tenant handle.
func (p *Database) MaxConnsPerTenant() int { return p.maxConns }

// Budget returns the cap on all tenant connections together.
func (p *Database) Budget() int { return p.budget }

// Close closes the shards' administrative pools.
func (p *Database) Close() error {
	var errs []error
	for _, s := range p.shards {
		errs = append(errs, s.admin.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tenantdb: close mysql-database: %w", err)
	}
	return nil
}

func (p *Database) existsOn(ctx context.Context, i int, name string) (bool, error) {
	var n int
	err := p.shards[i].admin.QueryRowContext(ctx,
		`SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?`, name).Scan(&n)
	return n > 0, err
}

func (p *Database) countOn(ctx context.Context, i int) (int, error) {
	var n int
	err := p.shards[i].admin.QueryRowContext(ctx, `
SELECT count(*) FROM information_schema.schemata
WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys', ?)`, p.shards[i].adminDB).Scan(&n)
	return n, err
}

// reserved reports the server's own databases and the administrative ones.
func (p *Database) reserved(name string) bool {
	for _, s := range mysqlSystemSchemas {
		if name == s {
			return true
		}
	}
	for _, s := range p.shards {
		if name == s.adminDB {
			return true
		}
	}
	return false
}

// Create makes the database with CREATE DATABASE ... CHARACTER SET utf8mb4
// on the shard named by tenantdb.WithShard (or picked by PickShard), unless a
// database of that name exists on any shard (tenantdb.ErrExists).
func (p *Database) Create(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	if _, found, err := p.set.Locate(ctx, name); err != nil {
		return fmt.Errorf("tenantdb: create mysql database %q: %w", name, err)
	} else if found {
		return fmt.Errorf("tenantdb: create mysql database %q: %w", name, tenantdb.ErrExists)
	}
	i, err := p.set.Target(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: create mysql database %q: %w", name, err)
	}
	sh := p.shards[i]
	if _, err := sh.admin.ExecContext(ctx, "CREATE DATABASE "+mysqlIdent(name)+" CHARACTER SET utf8mb4"); err != nil {
		if mysqlCode(err) == mysqlDBCreateExists {
			return fmt.Errorf("tenantdb: create mysql database %q on shard %q: %w", name, sh.name, tenantdb.ErrExists)
		}
		return fmt.Errorf("tenantdb: create mysql database %q on shard %q: %w", name, sh.name, err)
	}
	p.set.Remember(name, i)
	return nil
}

// Drop drops the database on the shard holding it. It waits for
// transactions using its tables (metadata locks) to end; handles left
// open fail afterwards (no database selected, or unknown database for new
// connections) and never recreate it. Dropping a missing database returns
// nil; the server's own databases and the administrative ones are refused.
func (p *Database) Drop(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if p.reserved(name) {
		return fmt.Errorf("tenantdb: drop mysql database %q: refusing to drop a server's own database", name)
	}
	unlock := p.set.Lock(name)
	defer unlock()
	i, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return fmt.Errorf("tenantdb: drop mysql database %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	sh := p.shards[i]
	if _, err := sh.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+mysqlIdent(name)); err != nil {
		return fmt.Errorf("tenantdb: drop mysql database %q on shard %q: %w", name, sh.name, err)
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
		return false, fmt.Errorf("tenantdb: mysql database %q: %w", name, err)
	}
	return ok, nil
}

// Open returns a pool of at most MaxConnsPerTenant connections to the
// database on its shard, with multiStatements and parseTime on, checked
// with a ping. A missing database gives tenantdb.ErrNotExist.
func (p *Database) Open(ctx context.Context, name string) (*sql.DB, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return nil, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return nil, fmt.Errorf("tenantdb: open mysql database %q: %w", name, err)
		}
		if !ok {
			return nil, fmt.Errorf("tenantdb: open mysql database %q: %w", name, tenantdb.ErrNotExist)
		}
		cfg := p.shards[i].cfg.Clone()
		cfg.DBName = name
		cfg.MultiStatements = true
		cfg.ParseTime = true
		conn, cerr := mysql.NewConnector(cfg)
		if cerr != nil {
			return nil, fmt.Errorf("tenantdb: open mysql database %q: %w", name, cerr)
		}
		db := sql.OpenDB(conn)
		db.SetMaxOpenConns(p.maxConns)
		db.SetMaxIdleConns(p.maxConns)
		if p.idle > 0 {
			db.SetConnMaxIdleTime(p.idle)
		}
		perr := db.PingContext(ctx)
		if perr == nil {
			return db, nil
		}
		_ = db.Close()
		if mysqlCode(perr) != mysqlBadDB || attempt > 0 {
			return nil, fmt.Errorf("tenantdb: open mysql database %q on shard %q: %w", name, p.shards[i].name, perr)
		}
		i, ok, err = p.set.Locate(ctx, name)
	}
}

// Size reports the data and index bytes of the database's tables from
// information_schema.tables (InnoDB's figures are estimates, at least one
// page per table and index). A missing database gives tenantdb.ErrNotExist.
func (p *Database) Size(ctx context.Context, name string) (int64, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return 0, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return 0, fmt.Errorf("tenantdb: size of mysql database %q: %w", name, err)
		}
		if !ok {
			return 0, fmt.Errorf("tenantdb: size of mysql database %q: %w", name, tenantdb.ErrNotExist)
		}
		size, found, serr := p.sizeOn(ctx, i, name)
		if serr != nil {
			return 0, fmt.Errorf("tenantdb: size of mysql database %q: %w", name, serr)
		}
		if found {
			return size, nil
		}
		if attempt > 0 {
			return 0, fmt.Errorf("tenantdb: size of mysql database %q: %w", name, tenantdb.ErrNotExist)
		}
		i, ok, err = p.set.Locate(ctx, name)
	}
}

func (p *Database) sizeOn(ctx context.Context, i int, name string) (int64, bool, error) {
	conn, err := p.shards[i].admin.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	// MySQL 8 caches table statistics for a day by default; MariaDB has no
	// such variable.
	if _, err := conn.ExecContext(ctx, "SET SESSION information_schema_stats_expiry = 0"); err != nil && mysqlCode(err) != mysqlUnknownVar {
		return 0, false, err
	}
	var size int64
	err = conn.QueryRowContext(ctx, `
SELECT COALESCE(SUM(t.data_length + t.index_length), 0)
FROM information_schema.schemata s
LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name
WHERE s.schema_name = ?
GROUP BY s.schema_name`, name).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return size, err == nil, err
}

// Wipe drops every view, table, sequence, stored routine and event of the
// database db is connected to (triggers and indexes go with their tables),
// on one connection with FOREIGN_KEY_CHECKS off, restored before the
// connection goes back to the pool (or the connection is discarded).
// MySQL's DDL is not transactional: a failure leaves the database
// partly wiped; Wipe can be run again.
func (p *Database) Wipe(ctx context.Context, db *sql.DB) (err error) {
	if db == nil {
		return errors.New("tenantdb: wipe mysql database: nil *sql.DB")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe mysql database: %w", err)
	}
	defer conn.Close()
	var schema sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&schema); err != nil {
		return fmt.Errorf("tenantdb: wipe mysql database: %w", err)
	}
	if !schema.Valid {
		return fmt.Errorf("tenantdb: wipe mysql database: no database selected: %w", tenantdb.ErrNotExist)
	}
	if _, err := conn.ExecContext(ctx, "SET FOREIGN_KEY_CHECKS = 0"); err != nil {
		return fmt.Errorf("tenantdb: wipe mysql database %q: %w", schema.String, err)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "SET FOREIGN_KEY_CHECKS = 1"); rerr != nil {
			// Never give the pool a connection without foreign keys.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("tenantdb: wipe mysql database: restore FOREIGN_KEY_CHECKS: %w", rerr))
		}
	}()
	if err := wipeMySQL(ctx, conn); err != nil {
		return fmt.Errorf("tenantdb: wipe mysql database %q: %w", schema.String, err)
	}
	return nil
}

func wipeMySQL(ctx context.Context, conn *sql.Conn) error {
	type object struct{ kind, name string }
	var objs []object
	collect := func(query string) error {
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o object
			if err := rows.Scan(&o.kind, &o.name); err != nil {
				return err
			}
			objs = append(objs, o)
		}
		return rows.Err()
	}
	for _, q := range []string{
		// Views first: they may name tables.
		`SELECT CASE table_type WHEN 'VIEW' THEN 'VIEW' WHEN 'SEQUENCE' THEN 'SEQUENCE' ELSE 'TABLE' END, table_name
		FROM information_schema.tables WHERE table_schema = DATABASE()
		ORDER BY table_type = 'VIEW' DESC, table_name`,
		`SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = DATABASE()`,
		`SELECT 'EVENT', event_name FROM information_schema.events WHERE event_schema = DATABASE()`,
	} {
		if err := collect(q); err != nil {
			return err
		}
	}
	for _, o := range objs {
		switch o.kind {
		case "VIEW", "SEQUENCE", "TABLE", "PROCEDURE", "FUNCTION", "EVENT":
		default:
			return fmt.Errorf("unexpected object type %q of %s", o.kind, mysqlIdent(o.name))
		}
		if _, err := conn.ExecContext(ctx, "DROP "+o.kind+" IF EXISTS "+mysqlIdent(o.name)); err != nil {
			return fmt.Errorf("drop %s %s: %w", strings.ToLower(o.kind), mysqlIdent(o.name), err)
		}
	}
	return nil
}
