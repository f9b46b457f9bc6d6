package feed_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/feed"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/resolve"
)

// changeEvents are the events that change how tenants are served.
var changeEvents = []tenancy.EventKind{
	tenancy.EventCreated, tenancy.EventUpdated, tenancy.EventStatusChanged,
	tenancy.EventDeleted, tenancy.EventDomainAdded, tenancy.EventDomainRemoved,
}

// openManager opens the catalog and tenant directory in dir, as one node
// of a deployment would: every node has its own Manager over the shared
// catalog.
func openManager(t *testing.T, dir string) *tenancy.Manager {
	t.Helper()
	m, _ := testenv.NewManager(t, dir, nil)
	return m
}

// node is one node of a deployment: a Manager whose changes are published,
// and a resolve.Cache that hears only the Redis feed (not the catalog: a
// change by another node can reach it through Redis alone).
type node struct {
	mgr   *tenancy.Manager
	cache *resolve.Cache
}

func newNode(t *testing.T, dir, url, channel string) *node {
	t.Helper()
	m := openManager(t, dir)
	f := newFeed(t, url, channel, nil)
	for _, kind := range changeEvents {
		m.On(kind, f.Hook())
	}
	c, err := resolve.NewCache(context.Background(), m, &resolve.CacheConfig{Watcher: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &node{mgr: m, cache: c}
}

// TestTwoNodes changes tenants through node A and watches node B's
// resolve.Cache follow within deliverWithin; node C, on the same catalog
// without a watcher, shows that nothing but the feed told B.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, url, channel := t.TempDir(), testenv.RedisURL(t), testChannel()
	a := newNode(t, dir, url, channel)
	b := newNode(t, dir, url, channel)
	// Wait for B's subscription: its confirmation triggers a reload.
	testwait.Within(t, 10*time.Second, "node B's subscription", func() bool { return b.cache.Stats().Reloads >= 2 })

	tn, err := a.mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	host := func(n *node, h string) (*tenancy.Tenant, error) { return n.cache.ByHost(ctx, h) }
	testwait.Within(t, deliverWithin, "node B to know the new tenant", func() bool {
		got, err := host(b, "acme.test")
		return err == nil && got.UUID == tn.UUID
	})
	cm := openManager(t, dir)
	c, err := resolve.NewCache(ctx, cm, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, err := a.mgr.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusBlocked, Reason: "unpaid"}); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, deliverWithin, "node B to see the tenant blocked", func() bool {
		got, err := host(b, "acme.test")
		return err == nil && got.Status == tenancy.StatusBlocked
	})
	if got, err := c.ByHost(ctx, "acme.test"); err != nil || got.Status != tenancy.StatusActive {
		t.Fatalf("the node without a watcher sees %v, %v; want the stale active tenant (else the test proves nothing)", got, err)
	}

	if _, err := a.mgr.SetMaintenance(ctx, tn.UUID, true, "back soon"); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, deliverWithin, "node B to see maintenance mode", func() bool {
		got, err := host(b, "acme.test")
		return err == nil && got.Maintenance
	})

	if _, err := a.mgr.AddDomain(ctx, tn.UUID, tenancy.DomainRequest{Domain: "www.acme.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.mgr.RemoveDomain(ctx, tn.UUID, "acme.test"); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, deliverWithin, "node B to forget the removed domain", func() bool {
		_, err := host(b, "acme.test")
		return errors.Is(err, tenancy.ErrNotFound)
	})

	if _, err := a.mgr.Delete(ctx, tn.UUID); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, deliverWithin, "node B to forget the deleted tenant", func() bool {
		_, err := host(b, "www.acme.test")
		return errors.Is(err, tenancy.ErrNotFound)
	})
	if got, err := c.ByRef(ctx, tn.UUID); err != nil || got.Status != tenancy.StatusActive {
		t.Fatalf("the node without a watcher sees %v, %v; want the stale tenant", got, err)
	}
}

// TestMultiWithCatalog runs the SQLite catalog's watcher and the Redis
// feed together: a change made behind every Manager's back (straight in
// the catalog, by another process) is seen through the catalog watcher,
// and Redis still delivers the others.
func TestMultiWithCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, url, channel := t.TempDir(), testenv.RedisURL(t), testChannel()
	m, st := testenv.NewManager(t, dir, nil)
	f := newFeed(t, url, channel, nil)
	c, err := resolve.NewCache(ctx, m, &resolve.CacheConfig{Watcher: feed.Multi(st, f), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	// Another process (no hook, no feed) changes the catalog.
	other := openManager(t, dir)
	tn, err := other.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ByHost(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 10*time.Second, "the catalog watcher to report the change", func() bool {
		got, err := c.ByHost(ctx, "acme.test")
		return err == nil && got.Status == tenancy.StatusSuspended
	})
	// A Redis message makes it reload too.
	reloads := c.Stats().Reloads
	if err := f.Publish(ctx, tn.UUID); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 10*time.Second, "a reload after a Redis message", func() bool { return c.Stats().Reloads > reloads })
}

// TestCatalogWatcherWhileRedisIsDown: a node whose Redis feed is down (it
// even started that way) still hears changes made by others, such as a
// suspension made by the CLI during the outage, through the catalog's own
// watcher that Multi runs beside the feed.
func TestCatalogWatcherWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	s.Stop()
	dir, channel := t.TempDir(), testChannel()
	m, st := testenv.NewManager(t, dir, nil)
	tn, err := m.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFeed(t, s.URL(), channel, slog.New(&testenv.LogRecorder{}))
	c, err := resolve.NewCache(ctx, m, &resolve.CacheConfig{Watcher: feed.Multi(st, f), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got, err := c.ByHost(ctx, "acme.test"); err != nil || got.Status != tenancy.StatusActive {
		t.Fatalf("ByHost = %v, %v; want the active tenant", got, err)
	}

	// Another process (the CLI) suspends the tenant and fails to announce it.
	other := openManager(t, dir)
	of := newFeed(t, s.URL(), channel, slog.New(&testenv.LogRecorder{}))
	for _, kind := range changeEvents {
		other.On(kind, of.Hook())
	}
	if _, err := other.ChangeStatus(ctx, tn.UUID, tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "outage drill"}); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 10*time.Second, "the catalog watcher to report the suspension", func() bool {
		got, err := c.ByHost(ctx, "acme.test")
		return err == nil && got.Status == tenancy.StatusSuspended
	})
}
