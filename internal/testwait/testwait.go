// Package testwait is the one way the project's tests wait for something
// that happens on another goroutine, process or server: they poll a
// condition until it holds, never sleep for time to pass.
package testwait

import (
	"testing"
	"time"
)

// DefaultTimeout bounds Eventually. It is generous because the suite runs
// on shared two-core machines; a condition that holds returns at once.
const DefaultTimeout = 30 * time.Second

// Eventually polls cond until it returns true and fails tb, naming what was
// awaited, if it has not after DefaultTimeout.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	Within(tb, DefaultTimeout, what, cond)
}

// Within is Eventually with its own timeout, for conditions whose bound is
// part of what the test checks (a retry budget, a lease).
func Within(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !poll(timeout, cond) {
		tb.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Poll reports whether cond held within timeout, for tests that assert a
// condition can become true without failing when it does not.
func Poll(timeout time.Duration, cond func() bool) bool { return poll(timeout, cond) }

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		<-timer.C
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		timer.Reset(interval)
		if interval < 50*time.Millisecond {
			interval *= 2
		}
	}
}
