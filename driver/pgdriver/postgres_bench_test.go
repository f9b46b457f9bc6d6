package pgdriver_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/tenantdb"
)

// fiveMigrations is a set of five small CREATE TABLE migrations.
func fiveMigrations(b testing.TB) *migrate.Set {
	b.Helper()
	fsys := fstest.MapFS{}
	for i := 1; i <= 5; i++ {
		fsys[fmt.Sprintf("%05d_table%d.sql", i, i)] = &fstest.MapFile{Data: fmt.Appendf(nil,
			"-- +goose Up\nCREATE TABLE table%d (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP);\nCREATE INDEX table%d_name ON table%d (name);\n"+
				"-- +goose Down\nDROP TABLE table%d;\n", i, i, i, i)}
	}
	set, err := migrate.Load(fsys)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// benchCreate measures creating a tenant and migrating it, as the Manager
// does (Create, Open, migrate.Set.Up with the provisioner's dialect), and
// reports the median and 95th percentile.
func benchCreate(b *testing.B, p tenantdb.Provisioner, prefix string) {
	set := fiveMigrations(b)
	ctx := context.Background()
	var names []string
	b.Cleanup(func() {
		for _, n := range slices.Backward(names) {
			if err := p.Drop(context.Background(), n); err != nil {
				b.Errorf("Drop(%s): %v", n, err)
			}
		}
	})
	var times []time.Duration
	for b.Loop() {
		name := fmt.Sprintf("%s_%d", prefix, len(names))
		names = append(names, name)
		start := time.Now()
		if err := p.Create(ctx, name); err != nil {
			b.Fatal(err)
		}
		db, err := p.Open(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		res, err := set.Up(ctx, p.Dialect(), db)
		if err != nil {
			b.Fatal(err)
		}
		_ = db.Close()
		times = append(times, time.Since(start))
		if res.Applied != 5 {
			b.Fatalf("applied %d migrations, want 5", res.Applied)
		}
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
	b.ReportMetric(ms(times[(len(times)*95+99)/100-1]), "p95-ms")
}

// BenchmarkCreatePostgresDatabase: CREATE DATABASE plus five migrations
// (issue target: median under 300 ms), with the default template0 and
// WAL_LOG strategy, and with FILE_COPY.
func BenchmarkCreatePostgresDatabase(b *testing.B) {
	for _, strategy := range []string{"", "file_copy"} {
		name := "wal_log"
		if strategy != "" {
			name = strategy
		}
		b.Run(name, func(b *testing.B) {
			p := newPostgresDatabase(b, &pgdriver.Config{
				Shards:   []tenantdb.Shard{{Name: "a", URL: testenv.NewPostgresDatabase(b, testenv.PostgresURL(b))}},
				Strategy: strategy,
			})
			benchCreate(b, p, testenv.Name("bench"))
		})
	}
}

// BenchmarkCreatePostgresSchema: CREATE SCHEMA plus five migrations (issue
// target: median under 100 ms).
func BenchmarkCreatePostgresSchema(b *testing.B) {
	p := newPostgresSchema(b, &pgdriver.Config{Shards: pgShards(b, 1)})
	benchCreate(b, p, testenv.Name("bench"))
}
