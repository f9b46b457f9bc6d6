package feed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/feed"
)

// fakeWatcher calls onChange when told to, and returns when told to.
type fakeWatcher struct {
	change  chan struct{}
	fail    chan error
	started chan struct{}
	stopped chan struct{}
}

func newFakeWatcher() *fakeWatcher {
	return &fakeWatcher{
		change:  make(chan struct{}),
		fail:    make(chan error),
		started: make(chan struct{}, 10),
		stopped: make(chan struct{}, 10),
	}
}

func (w *fakeWatcher) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	w.started <- struct{}{}
	defer func() { w.stopped <- struct{}{} }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.fail:
			return err
		case <-w.change:
			onChange()
		}
	}
}

// receive waits for a value on ch, failing t after a while.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestMulti(t *testing.T) {
	t.Parallel()
	a, b := newFakeWatcher(), newFakeWatcher()
	m := feed.Multi(a, nil, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx, time.Second, func() { calls <- struct{}{} }) }()
	receive(t, a.started, "watcher a to start")
	receive(t, b.started, "watcher b to start")

	a.change <- struct{}{}
	receive(t, calls, "onChange from watcher a")
	b.change <- struct{}{}
	receive(t, calls, "onChange from watcher b")

	// One watcher failing stops the other and returns its error.
	boom := errors.New("boom")
	b.fail <- boom
	receive(t, a.stopped, "watcher a to be stopped")
	if err := receive(t, done, "Multi to return"); !errors.Is(err, boom) {
		t.Fatalf("Multi returned %v, want the failing watcher's error", err)
	}
	receive(t, b.stopped, "watcher b to return")

	// A watcher returning nil before it was stopped is an error too.
	go func() { done <- m.Watch(ctx, time.Second, func() {}) }()
	receive(t, a.started, "watcher a to restart")
	receive(t, b.started, "watcher b to restart")
	a.fail <- nil
	if err := receive(t, done, "Multi to return"); err == nil {
		t.Fatal("Multi returned nil when a watcher stopped by itself")
	}
	receive(t, a.stopped, "watcher a to return")
	receive(t, b.stopped, "watcher b to be stopped")

	// Cancelling the context returns nil.
	go func() { done <- m.Watch(ctx, time.Second, func() {}) }()
	receive(t, a.started, "watcher a to restart")
	receive(t, b.started, "watcher b to restart")
	cancel()
	if err := receive(t, done, "Multi to return"); err != nil {
		t.Fatalf("Multi after cancel: %v, want nil", err)
	}
}

func TestMultiEmpty(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Multi(nil).Watch(ctx, time.Second, func() {}) }()
	cancel()
	if err := receive(t, done, "Multi to return"); err != nil {
		t.Fatalf("empty Multi after cancel: %v, want nil", err)
	}
}
