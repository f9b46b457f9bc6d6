package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// Tenant locks are lease rows in tenant_locks, keyed by the tenant's uuid:
// a lease is taken when it is absent, expired or already the caller's, and
// lapses ttl after it was taken or last renewed, so a crashed holder's
// lock is free again in time. An engine with a better lock (PostgreSQL's
// advisory locks) overrides these methods.

// TryLockTenant implements model.Store with a lease row.
func (s *Store) TryLockTenant(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	if max := s.d.MaxLockName; max > 0 && (len(tenantUUID) > max || len(holder) > max) {
		return fmt.Errorf("%s: lock tenant %.40q for %.40q: uuid and holder are at most %d bytes", s.d.Name, tenantUUID, holder, max)
	}
	at := s.now()
	// Every assignment tests the same condition, on the lease's old
	// expiry (expires_at is assigned last) and its holder, old or new:
	// where assignments run left to right (MySQL), once holder is assigned
	// it is the caller exactly when the lease was taken.
	taken := func(proposed func(string) string) string {
		return `tenant_locks.expires_at <= ? OR tenant_locks.holder = ` + proposed("holder")
	}
	upsert := s.d.upsert(`tenant_uuid`, func(proposed func(string) string) string {
		set := ``
		for i, col := range []string{"holder", "acquired_at", "expires_at"} {
			if i > 0 {
				set += `, `
			}
			set += col + ` = CASE WHEN ` + taken(proposed) + ` THEN ` + proposed(col) + ` ELSE tenant_locks.` + col + ` END`
		}
		return set
	})
	var cur string
	err := s.inTx(ctx, func(tx runner) error {
		if _, err := tx.exec(ctx, `INSERT INTO tenant_locks (tenant_uuid, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)`+upsert,
			tenantUUID, holder, s.d.time(at), s.d.time(at.Add(ttl)), s.d.time(at), s.d.time(at), s.d.time(at)); err != nil {
			return err
		}
		// The statement left the row locked by tx: this reads its outcome.
		return tx.queryRow(ctx, `SELECT holder FROM tenant_locks WHERE tenant_uuid = ?`, tenantUUID).Scan(&cur)
	})
	if err != nil {
		return err
	}
	if cur != holder {
		return &model.LockedError{Tenant: tenantUUID, Holder: cur}
	}
	return nil
}

// RenewTenantLock implements model.Store.
func (s *Store) RenewTenantLock(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	return s.run().mustAffect(ctx, model.ErrLockLost, `UPDATE tenant_locks SET expires_at = ? WHERE tenant_uuid = ? AND holder = ?`,
		s.d.time(s.now().Add(ttl)), tenantUUID, holder)
}

// UnlockTenant implements model.Store.
func (s *Store) UnlockTenant(ctx context.Context, tenantUUID, holder string) error {
	_, err := s.run().exec(ctx, `DELETE FROM tenant_locks WHERE tenant_uuid = ? AND holder = ?`, tenantUUID, holder)
	return err
}
