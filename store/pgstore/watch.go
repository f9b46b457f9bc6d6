package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the LISTEN/NOTIFY channel on which the catalog's triggers
// announce changes to how tenants are served, and to the API keys. The
// payload is the tenant's uuid, or "" when the tenant is already gone or
// the change is to an API key.
const Channel = "tenancy_catalog"

// ErrClosed is returned by Watch when the Store is closed while it runs.
var ErrClosed = errors.New("pgstore: store closed")

// Watch timings.
const (
	// drainWindow is how long Watch waits for more notifications after
	// one arrives, so a burst ends in one call of onChange.
	drainWindow = 5 * time.Millisecond
	// maxDrain bounds the notifications folded into one call, so a steady
	// stream of changes still calls onChange.
	maxDrain = 100
	// minPingTimeout is the least time a keepalive ping may take.
	minPingTimeout = 5 * time.Second
)

// Watch calls onChange whenever a change to how tenants are served (tenants
// or domains added, changed or removed) or to the API keys (created,
// revoked, removed) is committed, by any connection from any node; it
// returns nil when ctx is done, or the error that stopped it.
//
// Watch takes one connection out of the pool for as long as it runs and
// LISTENs on [Channel]. It calls onChange once as soon as it listens,
// because commits made before that cannot be detected, then once per burst
// of notifications (notifications arriving within a few milliseconds of
// each other are folded into one call). Last-access updates and operation
// records do not notify. When the connection is idle for interval, Watch
// pings the server, so a dead connection is noticed within about interval
// (at least 5s for the ping itself). When the connection is lost, Watch
// returns an error; the caller restarts it (and, since Watch calls
// onChange on start, catches up on what it missed). onChange runs on
// Watch's goroutine and should return quickly.
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	if interval <= 0 {
		return fmt.Errorf("pgstore: watch interval must be positive, got %s", interval)
	}
	if onChange == nil {
		return errors.New("pgstore: watch needs an onChange function")
	}
	if ctx.Err() != nil {
		return nil
	}
	if s.closing.Err() != nil {
		return ErrClosed
	}
	// wctx ends with ctx or when the Store is closed.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	stopped := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return nil
		case s.closing.Err() != nil:
			return ErrClosed
		}
		return fmt.Errorf("pgstore: watch: %w", err)
	}

	pc, err := s.pool.Acquire(wctx)
	if err != nil {
		return stopped(err)
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(wctx, `LISTEN `+Channel); err != nil {
		return stopped(fmt.Errorf("listen: %w", err))
	}
	onChange()
	pingTimeout := max(interval, minPingTimeout)
	for {
		err := waitNotification(wctx, conn, interval)
		switch {
		case err == nil:
			if err := drain(wctx, conn); err != nil {
				return stopped(err)
			}
			onChange()
		case isIdle(wctx, conn, err):
			pctx, cancel := context.WithTimeout(wctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return stopped(fmt.Errorf("keepalive: %w", err))
			}
		default:
			return stopped(err)
		}
	}
}

// waitNotification waits at most d for a notification on conn.
func waitNotification(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := conn.WaitForNotification(ctx)
	return err
}

// isIdle reports whether err only says that no notification came in time:
// the wait timed out, the connection is still open and ctx is not done.
func isIdle(ctx context.Context, conn *pgx.Conn, err error) bool {
	return ctx.Err() == nil && pgconn.Timeout(err) && !conn.IsClosed()
}

// drain reads the notifications that follow one within drainWindow of each
// other, up to maxDrain of them.
func drain(ctx context.Context, conn *pgx.Conn) error {
	for range maxDrain {
		err := waitNotification(ctx, conn, drainWindow)
		if err == nil {
			continue
		}
		if isIdle(ctx, conn, err) {
			return nil
		}
		return err
	}
	return nil
}
