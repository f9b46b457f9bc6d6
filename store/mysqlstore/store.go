package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Connection pool limits.
const (
	maxOpenConns    = 10
	connMaxLifetime = 3 * time.Minute
)

// Config configures a Store.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name that selects the
	// catalog database ("user:pass@tcp(host:3306)/catalog"); required.
	// Open sets parseTime, multiStatements, loc=UTC and clientFoundRows
	// whatever it says.
	DSN string
	// Now is the clock of the times the store stamps (created, updated,
	// lease expiry); nil means time.Now. Tests pass a manual clock.
	Now func() time.Time
}

// Store is the MySQL/MariaDB implementation of model.Store: the shared
// SQL catalog with MySQL's dialect, and a change watcher.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ model.Store = (*Store)(nil)

// Open connects to the catalog that cfg.DSN selects and brings its schema up
// to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.DSN == "" {
		return nil, errors.New("mysqlstore: Config.DSN is required")
	}
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: Config.DSN: %w", err)
	}
	if mc.DBName == "" {
		return nil, errors.New("mysqlstore: Config.DSN must select a database (…/dbname)")
	}
	mc.ParseTime = true
	mc.MultiStatements = true
	mc.Loc = time.UTC
	mc.ClientFoundRows = true
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	where := fmt.Sprintf("database %q on %s", mc.DBName, mc.Addr)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: connect to %s: %w", where, err)
	}
	if err := migrateSchema(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: catalog schema in %s: %w", where, err)
	}
	s, err := sqlstore.New(ctx, db, &dialect, cfg.Now)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{Store: s, db: db}, nil
}

// migrateSchema applies the migrations while holding a named lock
// (GET_LOCK) per database, so nodes starting together take turns: the
// first migrates, the others find the schema current. The lock covers all
// of goose's work, its unlocked first look at the version table included
// (in MySQL, creating that table commits before its first row does, so
// goose's own session locker, taken later, leaves a gap).
func migrateSchema(ctx context.Context, db *sql.DB) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	// When Open fails, it closes the pool, and the session and its lock
	// with it.
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+migrationLockName+`, ?)`,
		int(migrationLockWait.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take the migration lock: still held by another session after %s", migrationLockWait)
	}
	defer func() {
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(`+migrationLockName+`)`); uerr != nil {
			err = errors.Join(err, fmt.Errorf("release the migration lock: %w", uerr))
		}
	}()
	return sqlstore.Migrate(ctx, db, goose.DialectMySQL, migrations, "migrations")
}

// migrationLockName names the migration lock after the database (at most
// 64 characters).
const migrationLockName = `LEFT(CONCAT('tenancy_catalog:', DATABASE()), 64)`

// migrationLockWait is how long Open waits for another node's migrations.
const migrationLockWait = 5 * time.Minute
