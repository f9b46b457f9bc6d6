package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/store/storetest"
)

// BenchmarkTenantByDomain looks up tenants (with their domains) by domain
// in a catalog of 100 tenants, as a resolver miss does.
func BenchmarkTenantByDomain(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, testenv.NewPostgresDatabase(b, testenv.PostgresURL(b)))
	const n = 100
	domains := make([]string, n)
	for i := range domains {
		domains[i] = fmt.Sprintf("t%d.bench.test", i)
		tn := storetest.NewTenant(fmt.Sprint("Tenant ", i), domains[i])
		tn.Settings = map[string]any{"plan": "pro"}
		if err := s.CreateTenant(ctx, tn); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := s.TenantByDomain(ctx, domains[i%n]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.TenantByDomain(ctx, domains[i%n]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
