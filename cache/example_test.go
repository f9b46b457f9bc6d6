package cache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gotenancy/tenancy/cache"
)

// Two tenants use the same key without seeing each other's values.
func ExampleNewMemory() {
	ctx := context.Background()
	backend, err := cache.NewMemory(&cache.MemoryConfig{MaxEntries: 10_000})
	if err != nil {
		log.Fatal(err)
	}
	acme := backend.For("0190a6f2-7c1e-7a3b-8c4d-5e6f70819201")
	globex := backend.For("0190a6f2-7c1e-7a3b-8c4d-5e6f70819202")

	if err := acme.Set(ctx, "plan", []byte("gold"), time.Hour); err != nil {
		log.Fatal(err)
	}
	v, ok, _ := acme.Get(ctx, "plan")
	fmt.Printf("acme: %s %v\n", v, ok)
	_, ok, _ = globex.Get(ctx, "plan")
	fmt.Println("globex has a plan:", ok)
	// Output:
	// acme: gold true
	// globex has a plan: false
}

// Flushing one tenant leaves the others' entries.
func ExampleMemory_FlushTenant() {
	ctx := context.Background()
	backend, err := cache.NewMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	const acme, globex = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201", "0190a6f2-7c1e-7a3b-8c4d-5e6f70819202"
	backend.For(acme).Set(ctx, "k", []byte("a"), 0)
	backend.For(globex).Set(ctx, "k", []byte("g"), 0)

	if err := backend.FlushTenant(ctx, acme); err != nil {
		log.Fatal(err)
	}
	_, acmeHas, _ := backend.For(acme).Get(ctx, "k")
	_, globexHas, _ := backend.For(globex).Get(ctx, "k")
	fmt.Println(acmeHas, globexHas)
	s := backend.Stats()
	fmt.Println("hits:", s.Hits, "misses:", s.Misses, "flushes:", s.Flushes)
	// Output:
	// false true
	// hits: 1 misses: 1 flushes: 1
}
