package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Watch calls onChange whenever a connection other than its own commits a
// change to how tenants are served (tenants or domains added, changed or
// removed) or to the API keys (created, revoked, removed), in this process
// or another; it returns nil when ctx is done, or the error that stopped
// it.
//
// Every interval it polls PRAGMA data_version on one dedicated connection,
// which changes when any other connection commits; only then does it read
// the catalog_version counter that triggers bump on tenant, domain and API
// key changes, so last-access flushes and operation records never call
// onChange. Watch also calls onChange once as soon as it has read the first
// versions, because commits made before that (but after the caller last
// read the catalog) cannot be detected. onChange runs on Watch's goroutine
// and should return quickly. The dedicated connection is taken from the
// Store's pool for as long as Watch runs.
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	if interval <= 0 {
		return fmt.Errorf("sqlitestore: watch interval must be positive, got %s", interval)
	}
	if onChange == nil {
		return errors.New("sqlitestore: watch needs an onChange function")
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sqlitestore: watch: %w", err)
	}
	defer conn.Close()
	dataVersion := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
		return v, err
	}
	catalogVersion := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, `SELECT version FROM catalog_version WHERE id = 1`).Scan(&v)
		return v, err
	}
	last, err := dataVersion()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sqlitestore: watch: read data_version: %w", err)
	}
	lastCatalog, err := catalogVersion()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sqlitestore: watch: read catalog version: %w", err)
	}
	// Commits made before the first read cannot be told apart from older
	// ones: report them once, so the caller can catch up with what it read
	// before Watch started.
	onChange()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v, err := dataVersion()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sqlitestore: watch: read data_version: %w", err)
		}
		if v == last {
			continue
		}
		last = v
		cv, err := catalogVersion()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sqlitestore: watch: read catalog version: %w", err)
		}
		if cv != lastCatalog {
			lastCatalog = cv
			onChange()
		}
	}
}
