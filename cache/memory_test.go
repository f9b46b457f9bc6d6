package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/cache/cachetest"
	"github.com/gotenancy/tenancy/internal/testclock"
)

func newMemory(t testing.TB, cfg *cache.MemoryConfig) *cache.Memory {
	t.Helper()
	m, err := cache.NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Backend { return newMemory(t, nil) })
}

func TestNewMemoryConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     *cache.MemoryConfig
		wantErr bool
	}{
		{"nil", nil, false},
		{"zero", &cache.MemoryConfig{}, false},
		{"set", &cache.MemoryConfig{MaxEntries: 10, DefaultTTL: time.Minute}, false},
		{"negative entries", &cache.MemoryConfig{MaxEntries: -1}, true},
		{"negative ttl", &cache.MemoryConfig{DefaultTTL: -time.Second}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := cache.NewMemory(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewMemory(%+v) error = %v, want error %v", tc.cfg, err, tc.wantErr)
			}
		})
	}
}

func TestMemoryDefaultTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := newMemory(t, &cache.MemoryConfig{DefaultTTL: time.Minute, Now: clk.Now})
	c := m.For("tenant")
	if err := c.Set(ctx, "default", []byte("d"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "explicit", []byte("e"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if _, ok, err := c.Get(ctx, "default"); err != nil || !ok {
		t.Fatalf("Get(default) before its TTL = %v, %v; want a hit", ok, err)
	}
	clk.Advance(2 * time.Second)
	if _, ok, err := c.Get(ctx, "default"); err != nil || ok {
		t.Fatalf("Get(default) after the default TTL = %v, %v; want a miss", ok, err)
	}
	if v, ok, err := c.Get(ctx, "explicit"); err != nil || !ok || string(v) != "e" {
		t.Fatalf("Get(explicit) = %q, %v, %v; want e", v, ok, err)
	}
	clk.Advance(time.Hour)
	if _, ok, err := c.Get(ctx, "explicit"); err != nil || ok {
		t.Fatalf("Get(explicit) after its TTL = %v, %v; want a miss", ok, err)
	}
}

// TestMemoryForDoesNotAllocate is not parallel: AllocsPerRun forbids it.
func TestMemoryForDoesNotAllocate(t *testing.T) {
	m := newMemory(t, nil)
	const tenant = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"
	m.For(tenant)
	if n := testing.AllocsPerRun(100, func() { m.For(tenant) }); n != 0 {
		t.Fatalf("For of a known tenant allocates %v times, want 0", n)
	}
}
