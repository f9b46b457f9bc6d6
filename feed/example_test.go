package feed_test

import (
	"context"
	"log"
	"os"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/feed"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// One node's wiring: its own changes are announced on Redis, and its
// resolve.Cache reloads on the announcements of every node and on commits
// to the catalog. (The example needs a Redis server, so it is compiled but
// not run; TestTwoNodes runs the same wiring.)
func ExampleRedis() {
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: "data/catalog.sqlite"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: "data/tenants"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenancy.NewManager(&tenancy.Config{Store: store, Provisioner: prov})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	changes, err := feed.NewRedis(ctx, &feed.RedisConfig{URL: os.Getenv("TENANCY_REDIS_URL")})
	if err != nil {
		log.Fatal(err)
	}
	defer changes.Close()
	for _, kind := range []tenancy.EventKind{
		tenancy.EventCreated, tenancy.EventUpdated, tenancy.EventStatusChanged,
		tenancy.EventDeleted, tenancy.EventDomainAdded, tenancy.EventDomainRemoved,
	} {
		m.On(kind, changes.Hook())
	}

	tenants, err := resolve.NewCache(ctx, m, &resolve.CacheConfig{
		Watcher: feed.Multi(store, changes),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tenants.Close()
}
