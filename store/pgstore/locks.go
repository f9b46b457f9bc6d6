package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gotenancy/tenancy/model"
)

// Tenant locks are session advisory locks, each held on a connection of
// its own that is taken out of the pool for as long as the lock is held.
// The server releases a lock when its session ends, so the lock of a
// crashed process is free as soon as its connections are gone. Holders are
// told apart by the application_name of the holding session, which is how
// a conflicting TryLockTenant names the holder.

// lockKeyPrefix namespaces the advisory lock keys of tenant locks.
const lockKeyPrefix = "model.tenant:"

// maxAppName is the longest application_name the server keeps
// (NAMEDATALEN - 1 bytes).
const maxAppName = 63

// heldLock is a tenant lock this store holds.
type heldLock struct {
	// mu serialises the use of conn, which is not safe for concurrent use.
	mu   sync.Mutex
	conn *pgx.Conn
}

// lockHeld names a held lock in Store.locks.
func lockHeld(tenantUUID, holder string) string { return tenantUUID + "\x00" + holder }

// appName returns holder as application_name keeps it: printable ASCII
// (the server would replace other characters) of at most maxAppName bytes.
// A conflicting TryLockTenant names the holder so.
func appName(holder string) string {
	b := make([]byte, 0, min(len(holder), maxAppName))
	for _, r := range holder {
		if len(b) == maxAppName {
			break
		}
		if r < ' ' || r > '~' {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// TryLockTenant implements model.Store with a session advisory lock on a
// dedicated connection. ttl is not used: the lock lasts as long as the
// session. A holder that holds the lock already keeps it.
func (s *Store) TryLockTenant(ctx context.Context, tenantUUID, holder string, _ time.Duration) error {
	name := lockHeld(tenantUUID, holder)
	if l := s.heldLock(name); l != nil {
		if l.alive(ctx) == nil {
			return nil
		}
		s.dropLock(name, l)
	}
	// A lock released between the failed attempt and the look-up of its
	// holder is tried again, a few times.
	for range 3 {
		ok, err := s.tryLock(ctx, name, tenantUUID, holder)
		if err != nil || ok {
			return err
		}
		cur, err := s.lockHolder(ctx, tenantUUID)
		if err != nil {
			return err
		}
		if cur != "" {
			return &model.LockedError{Tenant: tenantUUID, Holder: cur}
		}
	}
	return &model.LockedError{Tenant: tenantUUID, Holder: "unknown"}
}

// tryLock makes one attempt at the lock on a connection of the pool, which
// it keeps as the lock's connection on success.
func (s *Store) tryLock(ctx context.Context, name, tenantUUID, holder string) (bool, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	_, err = c.Exec(ctx, `SELECT set_config('application_name', $1, false)`, appName(holder))
	if err == nil {
		err = c.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, lockKeyPrefix+tenantUUID).Scan(&got)
	}
	if err != nil || !got {
		// The connection goes back to the pool with its own name again,
		// or is closed when that fails.
		if _, rerr := c.Exec(ctx, `RESET application_name`); rerr != nil {
			c.Hijack().Close(context.WithoutCancel(ctx))
		} else {
			c.Release()
		}
		return false, err
	}
	conn := c.Hijack()
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	if s.locks == nil {
		conn.Close(context.WithoutCancel(ctx))
		return false, errors.New("pgstore: store is closed")
	}
	if s.locks[name] != nil {
		// The same holder took it concurrently on another connection,
		// which cannot have succeeded while this one holds it; keep the
		// one already recorded.
		conn.Close(context.WithoutCancel(ctx))
		return true, nil
	}
	s.locks[name] = &heldLock{conn: conn}
	return true, nil
}

// lockHolder returns the application_name of the session holding the
// tenant's lock, "" when none does. For an advisory lock on one bigint key,
// pg_locks shows the key's high 32 bits as classid, its low 32 bits as objid
// and 1 as objsubid.
func (s *Store) lockHolder(ctx context.Context, tenantUUID string) (string, error) {
	var names []string
	rows, err := s.pool.Query(ctx, `SELECT a.application_name
		FROM (SELECT hashtextextended($1, 0) AS key) k
		JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid
		JOIN pg_stat_activity a ON a.pid = l.pid`, lockKeyPrefix+tenantUUID)
	if err != nil {
		return "", err
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("find the holder of tenant %s's lock: %w", tenantUUID, err)
	}
	if len(names) == 0 {
		return "", nil
	}
	if names[0] == "" {
		return "unknown", nil
	}
	return names[0], nil
}

// RenewTenantLock implements model.Store: the lock holds while its
// session lives, so renewing checks that the session still answers.
func (s *Store) RenewTenantLock(ctx context.Context, tenantUUID, holder string, _ time.Duration) error {
	name := lockHeld(tenantUUID, holder)
	l := s.heldLock(name)
	if l == nil {
		return model.ErrLockLost
	}
	if err := l.alive(ctx); err != nil {
		// A session that does not answer is given up: closing it makes
		// sure the server releases the lock.
		s.dropLock(name, l)
		return fmt.Errorf("%w: %v", model.ErrLockLost, err)
	}
	return nil
}

// UnlockTenant implements model.Store. It releases the lock and closes its
// connection; a lock this store does not hold for holder is left alone.
func (s *Store) UnlockTenant(ctx context.Context, tenantUUID, holder string) error {
	name := lockHeld(tenantUUID, holder)
	l := s.heldLock(name)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	// Closing the session releases the lock in any case; the explicit
	// unlock releases it without waiting for the server to notice.
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, lockKeyPrefix+tenantUUID)
	l.mu.Unlock()
	s.dropLock(name, l)
	return nil
}

// heldLock returns the held lock called name, or nil.
func (s *Store) heldLock(name string) *heldLock {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	return s.locks[name]
}

// dropLock forgets l and closes its connection, which releases the lock.
func (s *Store) dropLock(name string, l *heldLock) {
	s.locksMu.Lock()
	if s.locks[name] == l {
		delete(s.locks, name)
	}
	s.locksMu.Unlock()
	l.close()
}

// alive reports whether the lock's session still answers.
func (l *heldLock) alive(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.conn.Exec(ctx, `SELECT 1`)
	return err
}

// close closes the lock's connection.
func (l *heldLock) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.conn.Close(ctx)
}

// closeLocks releases every lock the store holds; TryLockTenant fails
// afterwards.
func (s *Store) closeLocks() {
	s.locksMu.Lock()
	locks := s.locks
	s.locks = nil
	s.locksMu.Unlock()
	for _, l := range locks {
		l.close()
	}
}
