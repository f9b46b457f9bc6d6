package pgdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/gotenancy/tenancy/tenantdb/tenantdbtest"
)

func newPostgresSchema(t testing.TB, cfg *pgdriver.Config) *pgdriver.Schema {
	t.Helper()
	p, err := pgdriver.NewSchema(cfg)
	if err != nil {
		t.Fatalf("NewPostgresSchema: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// schemaInventory lists the non-system schemas of the shards' databases
// (each test has databases of its own).
func schemaInventory(shards []tenantdb.Shard, dbs []*sql.DB) func(ctx context.Context, _ tenantdb.Provisioner) ([]string, error) {
	return func(ctx context.Context, _ tenantdb.Provisioner) ([]string, error) {
		var all []string
		for i, db := range dbs {
			names, err := tenantdbtest.QueryNames(ctx, db, `
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%'`)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				all = append(all, shards[i].Name+"/"+n)
			}
		}
		return all, nil
	}
}

func TestPostgresSchemaConformance(t *testing.T) {
	t.Parallel()
	shards := pgShards(t, 2)
	dbs := []*sql.DB{pgOpen(t, shards[0].URL), pgOpen(t, shards[1].URL)}
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
		return newPostgresSchema(t, &pgdriver.Config{Shards: shards})
	}, &tenantdbtest.Options{CountObjects: pgCountObjects(true), Inventory: schemaInventory(shards, dbs)})
}

func TestPostgresSchemaShardsAndReservedNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shards := pgShards(t, 2)
	p := newPostgresSchema(t, &pgdriver.Config{Shards: shards})
	if got, err := p.PickShard(ctx); err != nil || got != "a" {
		t.Fatalf("PickShard = %q, %v; want a", got, err)
	}
	for _, n := range []string{"t1", "t2"} {
		if err := p.Create(tenantdb.WithShard(ctx, "a"), n); err != nil {
			t.Fatal(err)
		}
	}
	// Schemas without the marker (made by hand, or public) do not count.
	if _, err := pgOpen(t, shards[1].URL).ExecContext(ctx, `CREATE SCHEMA other1; CREATE SCHEMA other2; CREATE SCHEMA other3`); err != nil {
		t.Fatal(err)
	}
	if got, err := p.PickShard(ctx); err != nil || got != "b" {
		t.Fatalf("PickShard = %q, %v; want b", got, err)
	}
	if err := p.Create(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	if got, err := p.ShardOf(ctx, "t3"); err != nil || got != "b" {
		t.Errorf("ShardOf(t3) = %q, %v; want b", got, err)
	}
	if err := p.Create(tenantdb.WithShard(ctx, "b"), "t1"); !errors.Is(err, tenantdb.ErrExists) {
		t.Errorf("Create of a name shard a holds, on b: err = %v, want ErrExists", err)
	}
	for _, n := range []string{"public", "information_schema", "pg_catalog", "pg_toast", "tenancy_rls"} {
		if err := p.Create(ctx, n); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Create(%q): err = %v, want ErrInvalidName", n, err)
		}
		if err := p.Drop(ctx, n); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Drop(%q): err = %v, want ErrInvalidName", n, err)
		}
	}
	// Wipe refuses a schema Create did not make.
	cfgURL := shards[1].URL + "&search_path=other1"
	other := pgOpen(t, cfgURL)
	if err := p.Wipe(ctx, other); err == nil {
		t.Error("Wipe of a schema that is not a tenant's succeeded")
	}
}

// TestPostgresSchemaNoSearchPathLeak: 50 tenants used concurrently, sharing
// 8 server connections (4 per shard), through a ConnManager that keeps
// fewer handles open than there are tenants (so handles are closed and
// opened all along), insert rows with
// current_schema() into an unqualified table and check current_schema()
// on every statement; afterwards every row in every schema belongs to that
// schema's tenant and no row is missing.
func TestPostgresSchemaNoSearchPathLeak(t *testing.T) {
	t.Parallel()
	const (
		tenants = 50
		workers = 16
		rounds  = 40
	)
	ctx := t.Context()
	shards := pgShards(t, 2)
	p := newPostgresSchema(t, &pgdriver.Config{Shards: shards, Budget: 8})
	names := make([]string, tenants)
	for i := range names {
		names[i] = fmt.Sprintf("leak_%02d", i)
		if err := p.Create(ctx, names[i]); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tenantdb.NewConnManager(p, &tenantdb.ConnConfig{MaxOpen: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range names {
		h, err := m.Acquire(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.DB().ExecContext(ctx, `CREATE TABLE items (id bigserial PRIMARY KEY, tenant text NOT NULL, seen text NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		h.Release()
	}

	inserted := make([]int, tenants)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				i := rand.IntN(tenants)
				name := names[i]
				h, err := m.Acquire(ctx, name)
				if err != nil {
					t.Errorf("Acquire(%s): %v", name, err)
					return
				}
				db := h.DB()
				// Several statements at once, on the pool's connections.
				var inner sync.WaitGroup
				for range 3 {
					inner.Go(func() {
						if _, err := db.ExecContext(ctx, `INSERT INTO items (tenant, seen) VALUES ($1, current_schema())`, name); err != nil {
							t.Errorf("insert into %s: %v", name, err)
							return
						}
						mu.Lock()
						inserted[i]++
						mu.Unlock()
						var cur string
						if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
							t.Errorf("current_schema in %s: %v", name, err)
						} else if cur != name {
							t.Errorf("a connection of %s runs in schema %s", name, cur)
						}
					})
				}
				inner.Wait()
				h.Release()
			}
		})
	}
	wg.Wait()

	// Every schema holds exactly its own tenant's rows.
	admin := map[string]*sql.DB{"a": pgOpen(t, shards[0].URL), "b": pgOpen(t, shards[1].URL)}
	total := 0
	for i, n := range names {
		shard, err := p.ShardOf(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		var rows, foreign int
		if err := admin[shard].QueryRowContext(ctx,
			`SELECT count(*), count(*) FILTER (WHERE tenant <> $1 OR seen <> $1) FROM `+n+`.items`, n).Scan(&rows, &foreign); err != nil {
			t.Fatal(err)
		}
		if foreign != 0 {
			t.Errorf("schema %s holds %d rows of other tenants", n, foreign)
		}
		if rows != inserted[i] {
			t.Errorf("schema %s holds %d rows, %d were inserted", n, rows, inserted[i])
		}
		total += rows
	}
	st := m.Stats()
	t.Logf("%d rows in %d schemas on 2 shards; %d handles opened, %d evicted", total, tenants, st.Misses, st.Evictions)
	if st.Evictions == 0 {
		t.Error("no evictions: the test did not cycle handles")
	}
}
