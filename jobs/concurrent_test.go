package jobs_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/jobs"
)

// concurrentStarts is how many nodes start their job systems at once.
const concurrentStarts = 3

// TestConcurrentStartsPostgres: nodes started at the same moment on a
// fresh PostgreSQL database all bring River's tables up and open their
// clients; River's migrations run once, not once per node (without the
// lock, the losers fail on pg_type's unique index). One node's pool has a
// single connection.
func TestConcurrentStartsPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	mgr, _ := testenv.NewManager(t, t.TempDir(), nil)
	pools := make([]*pgxpool.Pool, concurrentStarts)
	for i := range pools {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			cfg.MaxConns = 1 // the lock must not take the migrator's only connection
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		pools[i] = pool
	}
	startTogether(t, func(i int) error {
		_, err := jobs.Open(ctx, &jobs.Config{
			Manager: mgr, Pool: pools[i], Workers: river.NewWorkers(),
			Logger: slog.New(slog.DiscardHandler), River: &river.Config{TestOnly: true},
		})
		return err
	})
}

// TestConcurrentStartsSQLite: processes sharing a data directory start
// their job systems at once on a new SQLite jobs database; all succeed.
func TestConcurrentStartsSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.sqlite")
	startTogether(t, func(int) error {
		db, err := jobs.OpenSQLite(ctx, path)
		if err != nil {
			return err
		}
		defer db.Close()
		return jobs.Migrate(ctx, db)
	})
}

// startTogether runs start(0) … start(concurrentStarts-1) at once and
// fails t with every error.
func startTogether(t *testing.T, start func(i int) error) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		ready sync.WaitGroup
		gate  = make(chan struct{})
		errs  = make([]error, concurrentStarts)
	)
	ready.Add(concurrentStarts)
	for i := range concurrentStarts {
		wg.Go(func() {
			ready.Done()
			<-gate
			errs[i] = start(i)
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("start %d of %d: %v", i+1, concurrentStarts, err)
		}
	}
}
