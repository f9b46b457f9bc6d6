package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lock defaults, used for zero values in Config.
const (
	// DefaultLockTTL is how long a lease lock lives without a renewal; a
	// holder renews it every third of that.
	DefaultLockTTL = 15 * time.Second
	// DefaultLockWait is how long an operation waits for a tenant's lock
	// held by someone else before it gives up with a *LockedError.
	DefaultLockWait = 10 * time.Second
)

// holderPrefix names this process in lock holders: "host:pid".
var holderPrefix = func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return strings.ReplaceAll(host, ":", "_") + ":" + strconv.Itoa(os.Getpid())
}()

// newHolder returns a unique lock holder name for one operation of this
// process: "host:pid:op-random".
func newHolder(op string) string {
	return holderPrefix + ":" + op + "-" + strings.ToLower(rand.Text()[:8])
}

// holderDead reports whether a lock holder named by newHolder is a process
// of this host that no longer runs, so that its lease can be taken over at
// once instead of after its TTL. Holders of other hosts, or that cannot be
// parsed, are presumed alive.
func holderDead(holder string) bool {
	host, rest, ok := strings.Cut(holder, ":")
	if !ok {
		return false
	}
	self, _, _ := strings.Cut(holderPrefix, ":")
	if host != self {
		return false
	}
	pidText, _, _ := strings.Cut(rest, ":")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// tenantLock is a held per-tenant lock, renewed in the background until
// released. When a renewal finds the lock lost, the context it returned is
// cancelled, so the operation under it stops.
type tenantLock struct {
	m        *Manager
	uuid     string
	holder   string
	cancel   context.CancelCauseFunc
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	stopOnce sync.Once
}

// lockTenant takes the lock of the tenant with uuid for one operation,
// waiting up to wait (0: not at all) while someone else holds it. A holder
// on this host whose process is gone is taken over at once. It returns a
// context that ends when the lock is lost, and the lock, whose release
// must be called. A lock that stays taken is a *LockedError naming the
// holder.
func (m *Manager) lockTenant(ctx context.Context, uuid, op string, wait time.Duration, heartbeat func(context.Context)) (context.Context, *tenantLock, error) {
	holder := newHolder(op)
	deadline := time.Now().Add(wait)
	backoff := 5 * time.Millisecond
	released := ""
	for {
		err := m.store.TryLockTenant(ctx, uuid, holder, m.lockTTL)
		if err == nil {
			break
		}
		var le *LockedError
		if !errors.As(err, &le) {
			return nil, nil, fmt.Errorf("lock tenant %s: %w", uuid, err)
		}
		if le.Holder != released && holderDead(le.Holder) {
			// The holder crashed: release its lease for it and try again
			// (once: a store whose locks die with their holder has
			// nothing to release).
			released = le.Holder
			if uerr := m.store.UnlockTenant(ctx, uuid, le.Holder); uerr != nil {
				return nil, nil, fmt.Errorf("lock tenant %s: release the lock of dead holder %s: %w", uuid, le.Holder, uerr)
			}
			continue
		}
		if !time.Now().Before(deadline) {
			return nil, nil, &LockedError{Tenant: uuid, Holder: le.Holder}
		}
		t := time.NewTimer(min(backoff, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("lock tenant %s (held by %s): %w", uuid, le.Holder, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &tenantLock{m: m, uuid: uuid, holder: holder, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew(lctx, heartbeat)
	return lctx, l, nil
}

// renew renews the lease every third of its TTL until released; a lost
// lock cancels the operation's context.
func (l *tenantLock) renew(ctx context.Context, heartbeat func(context.Context)) {
	defer close(l.done)
	t := time.NewTicker(max(l.m.lockTTL/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.m.store.RenewTenantLock(context.WithoutCancel(ctx), l.uuid, l.holder, l.m.lockTTL)
		if errors.Is(err, ErrLockLost) {
			l.m.log.ErrorContext(ctx, "tenant lock lost; stopping the operation", "tenant", l.uuid, "holder", l.holder)
			l.cancel(fmt.Errorf("%w: tenant %s, holder %s", ErrLockLost, l.uuid, l.holder))
			return
		}
		if err != nil {
			// A failed renewal is retried at the next tick; the lease
			// outlives two missed renewals.
			l.m.log.WarnContext(ctx, "renewing a tenant lock failed", "tenant", l.uuid, "holder", l.holder, "err", err)
			continue
		}
		if heartbeat != nil {
			heartbeat(ctx)
		}
	}
}

// stopRenewing ends the renewals (and their heartbeats) while the lock is
// still held, so that nothing overwrites the outcome recorded before the
// release. The lease stays valid for its TTL.
func (l *tenantLock) stopRenewing() {
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// release stops the renewals and releases the lock. It is safe to call
// more than once.
func (l *tenantLock) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		l.stopRenewing()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.m.store.UnlockTenant(ctx, l.uuid, l.holder); err != nil {
			l.m.log.Warn("releasing a tenant lock failed; it lapses with its lease", "tenant", l.uuid, "holder", l.holder, "err", err)
		}
		l.cancel(nil)
	})
}
