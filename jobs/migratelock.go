package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrationLockKey is the PostgreSQL advisory lock key that serialises
// River's migrations between the nodes sharing a database.
var migrationLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("tenancy/jobs: river migrations"))
	return int64(h.Sum64())
}()

// migratePostgres brings River's tables in pool's database up to date,
// holding a session advisory lock meanwhile: nodes started at the same
// moment run the migrations one after the other, and those that come
// second find nothing left to do. (River's migrator checks which versions
// are applied before it takes any lock of its own, so without this every
// node applies version 1 at once and all but one fail.) The lock is held
// on a connection of its own, outside the pool, so that the migrator
// never waits for a connection the lock holds, whatever the pool's size.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("jobs: river migrations: lock: %w", err)
	}
	// Closing the connection releases the lock, also when ctx ended while
	// it was being granted.
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("jobs: river migrations: lock: %w", err)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	return nil
}

// sqliteFile returns the path of db's main database file ("" for an
// in-memory database).
func sqliteFile(ctx context.Context, db *sql.DB) (string, error) {
	var file string
	if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return "", fmt.Errorf("jobs: sqlite database file: %w", err)
	}
	return file, nil
}
