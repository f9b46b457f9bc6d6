package cache

import (
	"context"
	"strconv"
	"testing"
)

// TestFlushTenantDoesNotIterate flushes a tenant of 100k entries and checks
// that the flush touched none of them: they are all still stored (to age
// out later) yet none is reachable. BenchmarkFlushTenant shows the time.
func TestFlushTenantDoesNotIterate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 100_000
	m, err := NewMemory(&MemoryConfig{MaxEntries: 4 * n})
	if err != nil {
		t.Fatal(err)
	}
	big, small := m.For("big"), m.For("small")
	for i := range n {
		if err := big.Set(ctx, strconv.Itoa(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := small.Set(ctx, "0", []byte("s"), 0); err != nil {
		t.Fatal(err)
	}
	m.store.CleanUp()
	before := m.store.EstimatedSize()
	if before != n+1 {
		t.Fatalf("stored %d entries, want %d", before, n+1)
	}

	if err := m.FlushTenant(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if after := m.store.EstimatedSize(); after != before {
		t.Fatalf("FlushTenant changed the store from %d to %d entries: it iterated", before, after)
	}
	for i := 0; i < n; i += 997 {
		if _, ok, _ := big.Get(ctx, strconv.Itoa(i)); ok {
			t.Fatalf("key %d survived the flush", i)
		}
	}
	if v, ok, _ := small.Get(ctx, "0"); !ok || string(v) != "s" {
		t.Fatalf("the other tenant's key = %q, %v after the flush; want s", v, ok)
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const maxEntries = 100
	m, err := NewMemory(&MemoryConfig{MaxEntries: maxEntries})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 * maxEntries {
		if err := m.For(strconv.Itoa(i%7)).Set(ctx, strconv.Itoa(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	m.store.CleanUp()
	if got := m.Stats().Entries; got > maxEntries {
		t.Fatalf("Entries = %d, want at most %d", got, maxEntries)
	}
}
