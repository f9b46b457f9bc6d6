package pgstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxConns is the pool size when Config.MaxConns is zero.
const DefaultMaxConns = 10

// Config configures a Store.
type Config struct {
	// URL is the catalog database, as a postgres:// URL (or a key=value
	// connection string) that pgx understands; required.
	URL string
	// MaxConns bounds the connection pool; default DefaultMaxConns. It
	// replaces a pool_max_conns given in URL. Watch uses one more
	// connection of its own while it runs, and each tenant lock the store
	// holds one more (taken from the pool, which then opens another).
	MaxConns int32
	// Now is the clock of the times the store stamps (created, updated,
	// lease expiry); nil means time.Now. Tests pass a manual clock.
	Now func() time.Time
}

// Store is the PostgreSQL implementation of model.Store: the shared SQL
// catalog with PostgreSQL's dialect over the pgx pool, advisory tenant
// locks and a LISTEN/NOTIFY change watcher.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	// closing is cancelled by Close, which stops running Watch calls.
	closing context.Context
	close   context.CancelFunc

	// locksMu guards locks, the tenant locks held by this store by
	// lockHeld name; nil once the store is closed.
	locksMu sync.Mutex
	locks   map[string]*heldLock
}

var _ model.Store = (*Store)(nil)

// Open connects to the catalog at cfg.URL and brings its schema up to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.URL == "" {
		return nil, errors.New("pgstore: Config.URL is required")
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("pgstore: negative MaxConns %d", cfg.MaxConns)
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error quotes the connection string, password included.
		return nil, errors.New("pgstore: Config.URL is not a valid PostgreSQL connection string")
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns == 0 {
		pc.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", describe(pc), err)
	}
	// Connections stay in the pool (the view keeps none idle), which
	// caches each one's prepared statements.
	db := stdlib.OpenDBFromPool(pool)
	if err := migrateSchema(ctx, db); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("pgstore: catalog schema in %s: %w", describe(pc), err)
	}
	s, err := sqlstore.New(ctx, db, &dialect, cfg.Now)
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	closing, closeFn := context.WithCancel(context.Background())
	return &Store{Store: s, pool: pool, closing: closing, close: closeFn, locks: map[string]*heldLock{}}, nil
}

// describe names the catalog database for error messages, without secrets.
func describe(pc *pgxpool.Config) string {
	return fmt.Sprintf("database %q on %s:%d", pc.ConnConfig.Database, pc.ConnConfig.Host, pc.ConnConfig.Port)
}

// migrationLockID is the advisory lock held while the catalog schema is
// migrated: crc32 of "tenancy catalog", apart from goose's default so tenant
// migrations in the same database do not queue behind it.
const migrationLockID = 0x0f2b5349

// migrateSchema applies the migrations; nodes starting together take
// turns: the first migrates, the others find the schema up to date.
func migrateSchema(ctx context.Context, db *sql.DB) error {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	return sqlstore.Migrate(ctx, db, goose.DialectPostgres, migrations, "migrations", goose.WithSessionLocker(locker))
}

// Pool returns the pgx connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops running Watch calls (they return ErrClosed), releases the
// tenant locks the store holds and closes the pool.
func (s *Store) Close() error {
	s.close()
	s.closeLocks()
	err := s.Store.Close()
	s.pool.Close()
	return err
}
