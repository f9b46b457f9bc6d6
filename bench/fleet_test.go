package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// env is a Manager on a temporary data directory.
type env struct {
	mgr   *tenancy.Manager
	store *sqlitestore.Store
	dir   string // the data directory
}

func newEnv(b *testing.B, migrations string) *env {
	b.Helper()
	set, err := migrate.LoadDir(migrations, true)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	mgr, st := testenv.NewManager(b, dir, &testenv.ManagerConfig{Migrations: set})
	return &env{mgr: mgr, store: st, dir: dir}
}

// reportMedian adds the median and p95 of the samples, in milliseconds.
func reportMedian(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	if len(samples) == 0 {
		return
	}
	b.ReportMetric(float64(samples[len(samples)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(samples[len(samples)*95/100])/1e6, "p95-ms")
}

// BenchmarkCreateWith5Migrations creates tenants through the Manager: catalog
// record, database file, five migrations.
func BenchmarkCreateWith5Migrations(b *testing.B) {
	e := newEnv(b, "migrations5")
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if _, err := e.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.bench.test", i), Migrate: true}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples)
}

// BenchmarkCreateBaseline is the naive floor for the same work: a bare
// SQLite file with the five migrations, no catalog, no undo bookkeeping.
func BenchmarkCreateBaseline(b *testing.B) {
	ctx := context.Background()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	set, err := migrate.LoadDir("migrations5", true)
	if err != nil {
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		name := fmt.Sprintf("tenant_%d", i)
		if err := prov.Create(ctx, name); err != nil {
			b.Fatal(err)
		}
		db, err := prov.Open(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := set.Up(ctx, prov.Dialect(), db); err != nil {
			b.Fatal(err)
		}
		db.Close()
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples)
}

// fleetSize is the number of tenants of the fleet benchmarks (env BENCH_TENANTS).
func fleetSize() int {
	n := 1000
	if v := os.Getenv("BENCH_TENANTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	return n
}

// newFleet makes n migrated tenants, using a copy of the five migrations
// so a sixth can be added later.
func newFleet(b *testing.B, n int) (*env, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "migrations")
	if err := os.CopyFS(dir, os.DirFS("migrations5")); err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, dir)
	ctx := context.Background()
	tenants := make([]int, n)
	for i := range tenants {
		tenants[i] = i
	}
	_, err := migrate.RunFleet(ctx, tenants, nil, func(ctx context.Context, i int) error {
		_, err := e.mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Tenant ", i), Domain: fmt.Sprintf("t%d.fleet.test", i), Migrate: true})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return e, dir
}

// withSixthMigration returns a Manager over the same fleet whose migrations
// include one more.
func withSixthMigration(b *testing.B, e *env, dir string) *tenancy.Manager {
	b.Helper()
	sixth := "-- +goose Up\nALTER TABLE table1 ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;\n-- +goose Down\nALTER TABLE table1 DROP COLUMN pinned;\n"
	if err := os.WriteFile(filepath.Join(dir, "00006_pinned.sql"), []byte(sixth), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := migrate.LoadDir(dir, true)
	if err != nil {
		b.Fatal(err)
	}
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(e.dir, "tenants")})
	if err != nil {
		b.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: e.store, Provisioner: prov, Migrations: set})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mgr.Close() })
	return mgr
}

func migrateAll(b *testing.B, mgr *tenancy.Manager, concurrency, want int) {
	b.Helper()
	r, err := mgr.MigrateAll(context.Background(), tenancy.FleetOptions{Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	if r.Succeeded != want {
		b.Fatalf("%d of %d succeeded", r.Succeeded, want)
	}
}

// BenchmarkMigrateAllNoop runs `migrate --all` with nothing to apply over the
// fleet: with the default concurrency, and sequentially as the baseline.
func BenchmarkMigrateAllNoop(b *testing.B) {
	n := fleetSize()
	e, _ := newFleet(b, n)
	for _, c := range []struct {
		name        string
		concurrency int
	}{{"sequential", 1}, {"default", 0}} {
		b.Run(fmt.Sprintf("tenants=%d/%s", n, c.name), func(b *testing.B) {
			for b.Loop() {
				migrateAll(b, e.mgr, c.concurrency, n)
			}
		})
	}
}

// BenchmarkMigrateAllOneNew applies one new migration to every tenant of the
// fleet (and rolls it back untimed between iterations): with the default
// concurrency, and sequentially as the baseline.
func BenchmarkMigrateAllOneNew(b *testing.B) {
	n := fleetSize()
	e, dir := newFleet(b, n)
	mgr := withSixthMigration(b, e, dir)
	ctx := context.Background()
	all, err := e.store.AllTenants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		concurrency int
	}{{"sequential", 1}, {"default", 0}} {
		b.Run(fmt.Sprintf("tenants=%d/%s", n, c.name), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				for _, t := range all {
					if _, err := mgr.Migrate(ctx, t, tenancy.MigrateOptions{Rollback: 1}); err != nil {
						// The first iteration starts at version 5.
						if r, _ := mgr.MigrationStatus(ctx, t); len(r) == 6 && r[5].Applied {
							b.Fatal(err)
						}
					}
				}
				migrateAll(b, e.mgr, 1, n) // back to exactly version 5
				b.StartTimer()
				migrateAll(b, mgr, c.concurrency, n)
			}
		})
	}
}
