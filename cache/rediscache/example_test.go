package rediscache_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/cache/rediscache"
)

// A Redis backend is used like any cache.Backend: here, behind the
// Bootstrapper that gives each tenant context its namespace. (The example
// needs a Redis server, so it is compiled but not run; the tests cover the
// same calls.)
func ExampleNew() {
	url := os.Getenv("TENANCY_REDIS_URL") // redis://127.0.0.1:6379/0
	ctx := context.Background()
	backend, err := rediscache.New(ctx, &rediscache.Config{
		URL:        url,
		DefaultTTL: time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()
	_ = cache.NewBootstrapper(backend) // register with Manager.Use

	acme := backend.For("0190a6f2-7c1e-7a3b-8c4d-5e6f70819201")
	if err := acme.Set(ctx, "plan", []byte("gold"), time.Minute); err != nil {
		log.Fatal(err)
	}
	v, ok, _ := acme.Get(ctx, "plan")
	fmt.Printf("acme: %s %v\n", v, ok)

	if err := backend.FlushTenant(ctx, "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"); err != nil {
		log.Fatal(err)
	}
	_, ok, _ = acme.Get(ctx, "plan")
	fmt.Println("after the flush:", ok)
}
