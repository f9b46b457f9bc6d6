package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/store/sqlstore"
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
// Store's pool for as long as Watch runs; closing the Store makes Watch
// return an error at its next poll (it pings the pool each time, since
// the dedicated connection alone would outlive the Store).
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	// The catalog version is read only when data_version says another
	// connection committed.
	lastData, lastCatalog := int64(-1), int64(0)
	return sqlstore.WatchVersion(ctx, "sqlitestore", interval, onChange, func(ctx context.Context) (int64, error) {
		// The dedicated connection keeps working after the Store is
		// closed; the pool says it is.
		if err := s.db.PingContext(ctx); err != nil {
			return 0, err
		}
		if conn == nil {
			c, err := s.db.Conn(ctx)
			if err != nil {
				return 0, err
			}
			conn = c
		}
		var dv int64
		if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&dv); err != nil {
			return 0, fmt.Errorf("read data_version: %w", err)
		}
		if dv == lastData {
			return lastCatalog, nil
		}
		if err := conn.QueryRowContext(ctx, `SELECT version FROM catalog_version WHERE id = 1`).Scan(&lastCatalog); err != nil {
			return 0, fmt.Errorf("read catalog version: %w", err)
		}
		lastData = dv
		return lastCatalog, nil
	})
}
