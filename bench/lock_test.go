package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
)

// unlockedStore is a catalog whose per-tenant locks cost nothing and
// exclude nothing: the baseline that shows what locking costs.
type unlockedStore struct{ tenancy.Store }

func (unlockedStore) TryLockTenant(context.Context, string, string, time.Duration) error { return nil }
func (unlockedStore) RenewTenantLock(context.Context, string, string, time.Duration) error {
	return nil
}
func (unlockedStore) UnlockTenant(context.Context, string, string) error { return nil }

// BenchmarkCreateLockCost creates tenants with five migrations through
// two Managers in turn, one with per-tenant locks and one without (its
// baseline in the same run, so that the machine's noise hits both alike),
// and reports both p50s and their ratio: what the lock around a create
// costs.
func BenchmarkCreateLockCost(b *testing.B) {
	set, err := migrate.LoadDir("migrations5", true)
	if err != nil {
		b.Fatal(err)
	}
	locked, _ := testenv.NewManager(b, b.TempDir(), &testenv.ManagerConfig{Migrations: set})
	unlocked, _ := testenv.NewManager(b, b.TempDir(), &testenv.ManagerConfig{Migrations: set,
		WrapStore: func(s tenancy.Store) tenancy.Store { return unlockedStore{s} }})
	ctx := context.Background()
	var withLock, without []time.Duration
	create := func(mgr *tenancy.Manager, i int) time.Duration {
		start := time.Now()
		if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.bench.test", i), Migrate: true}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	i := 0
	for b.Loop() {
		i++
		if i%2 == 0 {
			withLock = append(withLock, create(locked, i))
			without = append(without, create(unlocked, i))
		} else {
			without = append(without, create(unlocked, i))
			withLock = append(withLock, create(locked, i))
		}
	}
	p50 := func(s []time.Duration) float64 {
		slices.Sort(s)
		return float64(s[len(s)/2]) / 1e6
	}
	l, u := p50(withLock), p50(without)
	b.ReportMetric(l, "locked-p50-ms")
	b.ReportMetric(u, "unlocked-p50-ms")
	b.ReportMetric(l/u, "locked/unlocked")
}
