package api

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
)

// Two nodes with one Redis share their windows: together they allow the
// limit once, not once each.
func TestSharedRateLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	counter, err := NewRedisCounter(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	counter.prefix += testenv.Name("t") + ":"
	node := func() *sharedLimiter {
		return &sharedLimiter{counter: counter, local: newLimiter(3, time.Minute, 10), log: slog.New(slog.DiscardHandler)}
	}
	a, b := node(), node()
	now := time.Now()
	var allowed int
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		st := l.hit("key", now)
		if st.ok {
			allowed++
		}
		if st.limit != 3 || st.reset.Before(now) || st.reset.After(now.Add(time.Minute+time.Second)) {
			t.Fatalf("hit %d: %+v", i, st)
		}
	}
	if allowed != 3 {
		t.Fatalf("two nodes allowed %d requests together, want 3", allowed)
	}
}

// Without Redis a node keeps serving with local limits.
func TestSharedRateLimitFallsBackToLocal(t *testing.T) {
	t.Parallel()
	counter, err := NewRedisCounter("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	l := &sharedLimiter{counter: counter, local: newLimiter(2, time.Minute, 10), log: slog.New(slog.DiscardHandler)}
	now := time.Now()
	got := []bool{l.hit("k", now).ok, l.hit("k", now).ok, l.hit("k", now).ok}
	if !got[0] || !got[1] || got[2] {
		t.Fatalf("local fallback allowed %v, want true true false", got)
	}
}
