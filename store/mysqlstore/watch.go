package mysqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/store/sqlstore"
)

// Watch calls onChange whenever a change to how tenants are served (tenants
// or domains added, changed or removed) or to the API keys (created,
// revoked, removed) is committed, by any connection from any node; it
// returns nil when ctx is done, or the error that stopped it.
//
// Every interval it reads the catalog_version counter that triggers bump
// on such changes (last-access updates and operation records leave it
// alone) and calls onChange when it has moved. Watch also calls onChange
// once as soon as it has read the first value, because commits made before
// that (but after the caller last read the catalog) cannot be detected.
// When a read fails, Watch returns the error; the caller restarts it and,
// since Watch calls onChange on start, catches up on what it missed.
// onChange runs on Watch's goroutine and should return quickly.
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	return sqlstore.WatchVersion(ctx, "mysqlstore", interval, onChange, func(ctx context.Context) (int64, error) {
		var v int64
		if err := s.db.QueryRowContext(ctx, `SELECT version FROM catalog_version WHERE id = 1`).Scan(&v); err != nil {
			return 0, fmt.Errorf("read catalog version: %w", err)
		}
		return v, nil
	})
}
