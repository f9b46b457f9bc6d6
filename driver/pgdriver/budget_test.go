package pgdriver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
)

// TestPostgresDatabaseConnectionBudget proves the connection cap: 300
// tenant databases, used concurrently at random through a real
// ConnManager whose MaxOpen is the provisioner's MaxOpenTenants, never hold
// more than Budget connections on the server, sampled from pg_stat_activity
// all along. Both shards live on the first server (in different
// administrative databases) so that one sample counts every tenant
// connection at one instant.
func TestPostgresDatabaseConnectionBudget(t *testing.T) {
	t.Parallel()
	const (
		tenants  = 300
		budget   = 20
		perPool  = 2
		workers  = 40
		acquires = 600
	)
	ctx := t.Context()
	server := testenv.PostgresURL(t)
	p := newPostgresDatabase(t, &pgdriver.Config{
		Shards: []tenantdb.Shard{
			{Name: "a", URL: testenv.NewPostgresDatabase(t, server)},
			{Name: "b", URL: testenv.NewPostgresDatabase(t, server)},
		},
		MaxConnsPerTenant: perPool,
		Budget:            budget,
		Strategy:          "file_copy",
	})
	if got := p.MaxOpenTenants(); got != budget/perPool {
		t.Fatalf("MaxOpenTenants = %d, want %d", got, budget/perPool)
	}

	prefix := testenv.Name("cap")
	names := make([]string, tenants)
	for i := range names {
		names[i] = fmt.Sprintf("%s_%03d", prefix, i)
	}
	t.Cleanup(func() {
		defer func(start time.Time) { t.Logf("dropped in %v", time.Since(start)) }(time.Now())
		// One at a time, newest first: concurrent DROP DATABASEs on one
		// server slow each other down, and PostgreSQL 15 drops hundreds of
		// databases in creation order many times slower than in reverse.
		for _, name := range slices.Backward(names) {
			if err := p.Drop(context.Background(), name); err != nil {
				t.Errorf("Drop(%s): %v", name, err)
			}
		}
	})
	m, err := tenantdb.NewConnManager(p, &tenantdb.ConnConfig{MaxOpen: p.MaxOpenTenants()})
	if err != nil {
		t.Fatal(err)
	}

	// The sampler counts the server's connections to the tenant databases.
	sampler := pgOpen(t, server)
	sampler.SetMaxOpenConns(1)
	stop := make(chan struct{})
	// Autovacuum workers visit the new databases too; they are the
	// server's, not connections of ours, so only client backends count.
	var maxSeen, maxAll, samples int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var clients, all int
			if err := sampler.QueryRowContext(context.Background(), `
SELECT count(*) FILTER (WHERE backend_type = 'client backend'), count(*)
FROM pg_stat_activity WHERE starts_with(datname, $1)`, prefix+"_").Scan(&clients, &all); err != nil {
				t.Errorf("sample: %v", err)
				return
			}
			samples++
			maxSeen, maxAll = max(maxSeen, clients), max(maxAll, all)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	// Tenants are created one after the other (concurrent CREATE DATABASEs
	// on one server slow each other down) while the workers already use
	// those created so far, until all are created and the workers have
	// made at least `acquires` acquires over all of them.
	start := time.Now()
	var created atomic.Int64
	createDone := make(chan struct{})
	go func() {
		defer close(createDone)
		for i, name := range names {
			if err := p.Create(tenantdb.WithShard(ctx, []string{"a", "b"}[i%2]), name); err != nil {
				t.Errorf("Create(%s): %v", name, err)
				return
			}
			created.Add(1)
		}
		t.Logf("created %d databases in %v", tenants, time.Since(start).Round(time.Millisecond))
	}()
	for created.Load() < 2*int64(p.MaxOpenTenants()) {
		select {
		case <-createDone:
			t.FailNow()
		case <-time.After(10 * time.Millisecond):
		}
	}
	allCreated := func() bool {
		select {
		case <-createDone:
			return true
		default:
			return false
		}
	}

	var queries, next atomic.Int64
	var qwg sync.WaitGroup
	for range workers {
		qwg.Go(func() {
			for next.Add(1) <= acquires || !allCreated() {
				name := names[rand.IntN(int(created.Load()))]
				h, err := m.Acquire(ctx, name)
				if err != nil {
					t.Errorf("Acquire(%s): %v", name, err)
					return
				}
				// Two concurrent queries use both of the pool's connections.
				var inner sync.WaitGroup
				for range perPool {
					inner.Go(func() {
						var got string
						if err := h.DB().QueryRowContext(ctx, `SELECT current_database() FROM pg_sleep(0.001)`).Scan(&got); err != nil {
							t.Errorf("query %s: %v", name, err)
						} else if got != name {
							t.Errorf("handle of %s queried %s", name, got)
						}
						queries.Add(1)
					})
				}
				inner.Wait()
				h.Release()
			}
		})
	}
	qwg.Wait()
	<-createDone
	if created.Load() != tenants {
		t.FailNow()
	}
	t.Logf("queries done after %v", time.Since(start).Round(time.Millisecond))
	if err := m.Close(); err != nil {
		t.Errorf("ConnManager.Close: %v", err)
	}
	// After Close every pool is closed, and so is every server backend.
	var after int
	if err := sampler.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, '`+prefix+`_')`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled

	st := m.Stats()
	t.Logf("%d queries over %d acquires of %d tenants; %d samples, at most %d client connections (budget %d; %d with autovacuum workers); %d opens, %d evictions",
		queries.Load(), next.Load()-workers, tenants, samples, maxSeen, budget, maxAll, st.Misses, st.Evictions)
	if maxSeen > budget {
		t.Errorf("the server held %d tenant connections at once, above the budget of %d", maxSeen, budget)
	}
	if maxSeen < budget/2 {
		t.Errorf("at most %d tenant connections seen: the test did not load the budget (%d)", maxSeen, budget)
	}
	if st.Evictions == 0 {
		t.Errorf("no evictions with %d tenants over %d slots", tenants, p.MaxOpenTenants())
	}
	if after != 0 {
		t.Errorf("%d tenant connections left on the server after ConnManager.Close", after)
	}
}
