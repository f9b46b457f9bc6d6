package bench

import (
	"context"
	"fmt"
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

// BenchmarkCreateWith5MigrationsUnlocked is BenchmarkCreateWith5Migrations
// without per-tenant locks, its baseline in the same run: the ratio of
// their p50s is what the lock around a create costs.
func BenchmarkCreateWith5MigrationsUnlocked(b *testing.B) {
	set, err := migrate.LoadDir("migrations5", true)
	if err != nil {
		b.Fatal(err)
	}
	mgr, _ := testenv.NewManager(b, b.TempDir(), &testenv.ManagerConfig{Migrations: set,
		WrapStore: func(s tenancy.Store) tenancy.Store { return unlockedStore{s} }})
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.bench.test", i), Migrate: true}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples)
}
