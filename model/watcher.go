package model

import (
	"context"
	"time"
)

// Watcher reports changes to the central catalog made by any process: each
// engine's catalog implements it (SQLite by polling PRAGMA data_version,
// PostgreSQL with LISTEN/NOTIFY, MySQL by polling a change counter), and so
// does the Redis change feed.
type Watcher interface {
	// Watch calls onChange after each detected change, checking every
	// interval, until ctx is done.
	Watch(ctx context.Context, interval time.Duration, onChange func()) error
}
