package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// Run runs the conformance suite. Its subtests run in parallel, each on its
// own backend from newBackend, which must therefore return an empty backend
// that shares no entries or counters with any other it returned (a Redis
// backend: its own key prefix or database), and that has no default TTL.
func Run(t *testing.T, newBackend func(t *testing.T) cache.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b cache.Backend)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"EmptyAndBinary", testEmptyAndBinary},
		{"TTL", testTTL},
		{"ValuesAreCopied", testValuesAreCopied},
		{"SameTenantSameNamespace", testSameNamespace},
		{"AdversarialKeys", testAdversarialKeys},
		{"ConcurrentIsolation", testConcurrentIsolation},
		{"FlushTenant", testFlushTenant},
		{"FlushAll", testFlushAll},
		{"Stats", testStats},
		{"NoTenant", testNoTenant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBackend(t))
		})
	}
}

// tenantA and tenantB are UUID-shaped tenant ids.
const (
	tenantA = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"
	tenantB = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819202"
)

// get returns the value of key in c, failing t on an error.
func get(t *testing.T, c tenancy.TenantCache, key string) ([]byte, bool) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

// set stores value under key in c, failing t on an error.
func set(t *testing.T, c tenancy.TenantCache, key, value string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// wantValue fails t unless key holds want in c.
func wantValue(t *testing.T, c tenancy.TenantCache, key, want string) {
	t.Helper()
	v, ok := get(t, c, key)
	if !ok {
		t.Fatalf("Get(%q): missing, want %q", key, want)
	}
	if string(v) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, v, want)
	}
}

// wantMissing fails t if key holds a value in c.
func wantMissing(t *testing.T, c tenancy.TenantCache, key string) {
	t.Helper()
	if v, ok := get(t, c, key); ok {
		t.Fatalf("Get(%q) = %q, want missing", key, v)
	}
}

func testGetSetDelete(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	c := b.For(tenantA)
	wantMissing(t, c, "k")
	set(t, c, "k", "v1", 0)
	wantValue(t, c, "k", "v1")
	set(t, c, "k", "v2", 0)
	wantValue(t, c, "k", "v2")
	set(t, c, "other", "o", 0)
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, c, "k")
	wantValue(t, c, "other", "o")
	if err := c.Delete(ctx, "never-set"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	set(t, c, "k", "v3", 0)
	wantValue(t, c, "k", "v3")
}

func testEmptyAndBinary(t *testing.T, b cache.Backend) {
	c := b.For(tenantA)
	set(t, c, "empty", "", 0)
	v, ok := get(t, c, "empty")
	if !ok || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty value", v, ok)
	}
	if v == nil {
		t.Fatal("Get(empty) returned a nil slice; want empty and non-nil")
	}

	bin := string([]byte{0, 1, 2, 0xff, 0xfe, 0, '\n', ':'})
	set(t, c, bin, bin, 0)
	wantValue(t, c, bin, bin)

	set(t, c, "", "empty key", 0)
	wantValue(t, c, "", "empty key")

	long := strings.Repeat("k", 4096)
	big := strings.Repeat("v", 1<<20)
	set(t, c, long, big, 0)
	wantValue(t, c, long, big)
}

func testTTL(t *testing.T, b cache.Backend) {
	c := b.For(tenantA)
	const short = 50 * time.Millisecond
	set(t, c, "short", "s", short)
	set(t, c, "long", "l", time.Hour)
	set(t, c, "forever", "f", 0)
	set(t, c, "negative", "n", -time.Second)
	// A later Set without a TTL makes the key persistent, whether or not
	// the short-lived value had expired in between.
	set(t, c, "renewed", "r1", short)
	set(t, c, "renewed", "r2", 0)

	// A real server expires keys on its own clock: wait for that.
	testwait.Eventually(t, "the short-lived key to expire", func() bool {
		_, ok := get(t, c, "short")
		return !ok
	})
	wantValue(t, c, "long", "l")
	wantValue(t, c, "forever", "f")
	wantValue(t, c, "negative", "n")
	wantValue(t, c, "renewed", "r2")

	// An expired key can be set again.
	set(t, c, "short", "again", 0)
	wantValue(t, c, "short", "again")
}

func testValuesAreCopied(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	c := b.For(tenantA)
	in := []byte("hello")
	if err := c.Set(ctx, "k", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'j'
	out, ok := get(t, c, "k")
	if !ok || string(out) != "hello" {
		t.Fatalf("after changing the caller's slice, Get = %q, %v; want hello", out, ok)
	}
	out[0] = 'x'
	wantValue(t, c, "k", "hello")
	again, _ := get(t, c, "k")
	if &again[0] == &out[0] {
		t.Fatal("two Gets returned the same backing array")
	}
}

func testSameNamespace(t *testing.T, b cache.Backend) {
	set(t, b.For(tenantA), "k", "v", 0)
	wantValue(t, b.For(tenantA), "k", "v")
	if err := b.For(tenantA).Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, b.For(tenantA), "k")
}

// collisions are (tenant, key) pairs that naive encodings of the stored key
// (concatenation, with or without a separator, or a badly chosen length
// prefix) map to the same string.
var collisions = [][2][2]string{
	{{"x", "a:b"}, {"x:a", "b"}},
	{{"x", "ab"}, {"xa", "b"}},
	{{"x", ":a"}, {"x:", "a"}},
	{{"1", "11"}, {"11", "1"}},
	{{"a", "\x00b"}, {"a\x00", "b"}},
	{{"t", "1:gen:k"}, {"t:1", "gen:k"}},
	{{"3:abc", "k"}, {"3", "abc:k"}},
	{{"x", "1:k"}, {"x:1", "k"}},
}

func testAdversarialKeys(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	for _, pair := range collisions {
		t1, k1, t2, k2 := pair[0][0], pair[0][1], pair[1][0], pair[1][1]
		c1, c2 := b.For(t1), b.For(t2)
		set(t, c1, k1, "one", 0)
		set(t, c2, k2, "two", 0)
		wantValue(t, c1, k1, "one")
		wantValue(t, c2, k2, "two")
		// Neither tenant sees the other's value under the other's key.
		if v, ok := get(t, c2, k1); ok && string(v) == "one" {
			t.Fatalf("tenant %q read tenant %q's value under key %q", t2, t1, k1)
		}
		if v, ok := get(t, c1, k2); ok && string(v) == "two" {
			t.Fatalf("tenant %q read tenant %q's value under key %q", t1, t2, k2)
		}
		// Deleting or flushing one side leaves the other.
		if err := c1.Delete(ctx, k1); err != nil {
			t.Fatal(err)
		}
		wantValue(t, c2, k2, "two")
		set(t, c1, k1, "one", 0)
		if err := c2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantValue(t, c1, k1, "one")
		wantMissing(t, c2, k2)
	}
}

func testConcurrentIsolation(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	// Tenant ids that prefix one another, and keys shared by all tenants.
	var tenants []string
	for i := range 12 {
		tenants = append(tenants, fmt.Sprintf("t%s", strings.Repeat("1", i)), fmt.Sprintf("%s%02d", tenantA[:34], i))
	}
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k:%d", i)
	}
	const workersPerTenant, ops = 4, 400

	var wg sync.WaitGroup
	errs := make(chan error, len(tenants)*workersPerTenant)
	for _, tenant := range tenants {
		for w := range workersPerTenant {
			wg.Go(func() {
				c := b.For(tenant)
				for n := range ops {
					key := keys[rand.IntN(len(keys))]
					prefix := tenant + "|" + key + "|"
					var err error
					switch r := rand.IntN(100); {
					case r < 45:
						err = c.Set(ctx, key, []byte(fmt.Sprintf("%s%d-%d", prefix, w, n)), 0)
					case r < 95:
						var v []byte
						var ok bool
						v, ok, err = c.Get(ctx, key)
						if err == nil && ok && !bytes.HasPrefix(v, []byte(prefix)) {
							err = fmt.Errorf("tenant %q read %q under key %q, which it never wrote", tenant, v, key)
						}
					case r < 99:
						err = c.Delete(ctx, key)
					default:
						err = c.Flush(ctx)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testFlushTenant(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	a, other := b.For(tenantA), b.For(tenantB)
	for i := range 100 {
		set(t, a, fmt.Sprint(i), "a", 0)
		set(t, other, fmt.Sprint(i), "b", 0)
	}

	if err := b.FlushTenant(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		wantMissing(t, a, fmt.Sprint(i))
		wantValue(t, other, fmt.Sprint(i), "b")
	}
	// A namespace taken before the flush sees the new generation too.
	set(t, a, "after", "x", 0)
	wantValue(t, b.For(tenantA), "after", "x")

	// TenantCache.Flush does the same for its own tenant only.
	if err := other.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, other, "0")
	wantValue(t, a, "after", "x")

	// Flushing a tenant never seen succeeds.
	if err := b.FlushTenant(ctx, "0190a6f2-0000-7000-8000-000000000000"); err != nil {
		t.Fatalf("FlushTenant of an unknown tenant: %v", err)
	}
	wantValue(t, a, "after", "x")
}

func testFlushAll(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	tenants := []string{tenantA, tenantB, "x", "x:a"}
	for _, tn := range tenants {
		set(t, b.For(tn), "k", tn, 0)
		set(t, b.For(tn), "ttl", tn, time.Hour)
	}
	if err := b.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		wantMissing(t, b.For(tn), "k")
		wantMissing(t, b.For(tn), "ttl")
	}
	set(t, b.For(tenantA), "k", "new", 0)
	wantValue(t, b.For(tenantA), "k", "new")
}

func testStats(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	if s := b.Stats(); s != (cache.Stats{}) {
		t.Fatalf("a fresh backend's Stats = %+v, want zero", s)
	}
	c := b.For(tenantA)
	wantMissing(t, c, "k")
	set(t, c, "k", "v", 0)
	set(t, c, "k2", "v", 0)
	set(t, b.For(tenantB), "k", "v", 0)
	wantValue(t, c, "k", "v")
	wantValue(t, c, "k2", "v")
	if s := b.Stats(); s.Entries <= 0 {
		t.Fatalf("Stats().Entries = %d after three Sets, want > 0", s.Entries)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, c, "k")
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.FlushTenant(ctx, tenantB); err != nil {
		t.Fatal(err)
	}
	if err := b.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.Stats()
	got.Entries = 0 // an estimate; checked above
	want := cache.Stats{Hits: 2, Misses: 2, Sets: 3, Deletes: 1, Flushes: 3}
	if got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}

func testNoTenant(t *testing.T, b cache.Backend) {
	ctx := context.Background()
	c := b.For("")
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Get without a tenant: %v, want ErrNoTenant", err)
	}
	if err := c.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Set without a tenant: %v, want ErrNoTenant", err)
	}
	if err := c.Delete(ctx, "k"); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Delete without a tenant: %v, want ErrNoTenant", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Flush without a tenant: %v, want ErrNoTenant", err)
	}
	if err := b.FlushTenant(ctx, ""); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("FlushTenant(\"\"): %v, want ErrNoTenant", err)
	}
}
