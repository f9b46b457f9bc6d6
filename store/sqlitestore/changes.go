package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Watch calls onChange whenever another connection commits to the catalog,
// detected by polling PRAGMA data_version on one dedicated connection every
// interval; it returns nil when ctx is done, or the error that stopped it.
//
// data_version changes on a connection when any other connection commits,
// whether in another process or in this one (the Store's own pool has
// several connections), so onChange also follows this process's writes,
// last-access flushes and operation records included. One call covers every
// commit since the previous poll. Watch also calls onChange once as soon as
// it has read the first data_version, because commits made before that (but
// after the caller last read the catalog) cannot be detected. onChange runs on Watch's goroutine and
// should return quickly. The dedicated connection is taken from the Store's
// pool for as long as Watch runs.
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
	version := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
		return v, err
	}
	last, err := version()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sqlitestore: watch: read data_version: %w", err)
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
		v, err := version()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sqlitestore: watch: read data_version: %w", err)
		}
		if v != last {
			last = v
			onChange()
		}
	}
}
