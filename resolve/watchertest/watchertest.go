// Package watchertest is the conformance suite every model.Watcher (the
// resolve.Watcher of a resolve.Cache) runs: the SQLite, PostgreSQL and
// MySQL catalogs and the Redis change feed. Run it from the
// implementation's tests with a Harness that makes a fresh watcher and
// changes it must report.
//
// The suite checks what model.Watcher and the implementations' Watch docs
// all promise:
//
//   - Watch refuses a non-positive interval and a nil onChange;
//   - it calls onChange once as soon as it watches (changes made before
//     cannot be told apart, so the caller catches up), and again after
//     each change made afterwards, by another connection or node;
//   - several Watch calls on one watcher run at once, and each hears every
//     change;
//   - it returns nil when ctx is done (at once if ctx is done already),
//     and onChange, which runs on Watch's goroutine, is not called after
//     it returned;
//   - run again after it returned, it calls onChange at once and hears
//     later changes: this is how callers recover from a lost connection
//     (Watch returns an error, the caller restarts it and reloads);
//   - when the watcher's owner is closed, running and later Watch calls
//     return an error (Harness.ErrClosed, when set).
//
// The model.Watcher interface carries no tenant or kind of change: a call
// of onChange means "reload", so the suite only counts calls.
package watchertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/model"
)

// Harness makes the watchers the suite tests.
type Harness struct {
	// New returns a fresh watcher with a catalog (or channel) of its own,
	// and a function that makes one change the watcher must report,
	// through another connection or node. Both are cleaned up by t.
	New func(t *testing.T) (model.Watcher, func(t *testing.T))
	// Close closes the watcher's owner (the store or feed), which the
	// suite may then call again; nil when closing does not stop Watch.
	Close func(w model.Watcher) error
	// ErrClosed is the error Watch returns once the owner is closed; nil
	// means any non-nil error.
	ErrClosed error
	// Interval is the interval the suite passes to Watch; default 10ms.
	Interval time.Duration
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.Interval <= 0 {
		h.Interval = 10 * time.Millisecond
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RejectsBadArguments", testRejectsBadArguments},
		{"InitialCall", testInitialCall},
		{"DeliversChanges", testDeliversChanges},
		{"SeveralWatchers", testSeveralWatchers},
		{"CancelStops", testCancelStops},
		{"CancelledContext", testCancelledContext},
		{"Restart", testRestart},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// Recorder counts the calls of an onChange function, by phase: Mark starts
// a new phase, so a test can tell the calls made before an event from
// those after it without waiting for time to pass.
type Recorder struct {
	mu       sync.Mutex
	phases   []int64
	returned bool // Watch returned: onChange must not be called
	running  bool // onChange is running
	errs     []string
}

// NewRecorder returns a Recorder in phase 0.
func NewRecorder() *Recorder { return &Recorder{phases: []int64{0}} }

// OnChange is the onChange function to pass to Watch.
func (r *Recorder) OnChange() {
	r.mu.Lock()
	switch {
	case r.returned:
		r.errs = append(r.errs, "onChange called after Watch returned")
	case r.running:
		r.errs = append(r.errs, "onChange called while it was running")
	}
	r.running = true
	r.phases[len(r.phases)-1]++
	r.mu.Unlock()

	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
}

// Calls returns the number of calls so far.
func (r *Recorder) Calls() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, c := range r.phases {
		n += c
	}
	return n
}

// Mark starts a new phase and returns its number.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, 0)
	return len(r.phases) - 1
}

// In returns the number of calls in phase p.
func (r *Recorder) In(p int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phases[p]
}

// Wait waits until onChange has been called at least n times in all.
func (r *Recorder) Wait(t testing.TB, n int64, what string) {
	t.Helper()
	testwait.Eventually(t, what, func() bool { return r.Calls() >= n })
}

// WaitIn waits until onChange has been called at least n times in phase p.
func (r *Recorder) WaitIn(t testing.TB, p int, n int64, what string) {
	t.Helper()
	testwait.Eventually(t, what, func() bool { return r.In(p) >= n })
}

// check fails t with the misuses of onChange seen.
func (r *Recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
	r.errs = nil
}

// Watch is a running Watch call.
type Watch struct {
	*Recorder
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// Start runs w.Watch in the background with a Recorder. The call is
// cancelled, and must return, when the test ends.
func Start(t testing.TB, w model.Watcher, interval time.Duration) *Watch {
	t.Helper()
	return start(t, context.Background(), w, interval)
}

func start(t testing.TB, ctx context.Context, w model.Watcher, interval time.Duration) *Watch {
	ctx, cancel := context.WithCancel(ctx)
	r := NewRecorder()
	wt := &Watch{Recorder: r, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := w.Watch(ctx, interval, r.OnChange)
		r.mu.Lock()
		r.returned = true
		r.mu.Unlock()
		wt.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		wt.Stopped(t)
		r.check(t)
	})
	return wt
}

// Cancel cancels the Watch call's context.
func (w *Watch) Cancel() { w.cancel() }

// Stopped waits for the Watch call to return and gives its error.
func (w *Watch) Stopped(t testing.TB) error {
	t.Helper()
	if w.ended {
		return w.err
	}
	select {
	case w.err = <-w.done:
		w.ended = true
	case <-time.After(testwait.DefaultTimeout):
		t.Fatal("Watch did not return")
	}
	return w.err
}

func testRejectsBadArguments(t *testing.T, h Harness) {
	w, _ := h.New(t)
	for _, c := range []struct {
		what     string
		interval time.Duration
		onChange func()
	}{
		{"a zero interval", 0, func() {}},
		{"a negative interval", -time.Second, func() {}},
		{"no onChange", time.Second, nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), testwait.DefaultTimeout)
		err := w.Watch(ctx, c.interval, c.onChange)
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Errorf("Watch with %s: %v, want an error at once", c.what, err)
		}
	}
}

// testInitialCall: Watch calls onChange once as soon as it watches, with
// no change made.
func testInitialCall(t *testing.T, h Harness) {
	w, change := h.New(t)
	wt := Start(t, w, h.Interval)
	wt.Wait(t, 1, "the initial call")
	// A change then makes one more call: the initial call was not one of
	// a burst the change will be folded into.
	p := wt.Mark()
	change(t)
	wt.WaitIn(t, p, 1, "a change after the initial call")
	if n := wt.In(0); n != 1 {
		t.Fatalf("onChange called %d times before the first change, want 1", n)
	}
}

// testDeliversChanges: each of several changes, made one after another
// once the previous one was heard, is reported.
func testDeliversChanges(t *testing.T, h Harness) {
	w, change := h.New(t)
	wt := Start(t, w, h.Interval)
	wt.Wait(t, 1, "the initial call")
	for range 3 {
		p := wt.Mark()
		change(t)
		wt.WaitIn(t, p, 1, "a change")
	}
}

// testSeveralWatchers: Watch calls on one watcher run at once, and each
// hears the change.
func testSeveralWatchers(t *testing.T, h Harness) {
	w, change := h.New(t)
	var wts []*Watch
	for range 3 {
		wt := Start(t, w, h.Interval)
		wt.Wait(t, 1, "the initial call")
		wts = append(wts, wt)
	}
	ps := make([]int, len(wts))
	for i, wt := range wts {
		ps[i] = wt.Mark()
	}
	change(t)
	for i, wt := range wts {
		wt.WaitIn(t, ps[i], 1, "every watcher to hear the change")
	}
	// Stopping one leaves the others watching.
	wts[0].Cancel()
	if err := wts[0].Stopped(t); err != nil {
		t.Fatalf("Watch after cancel: %v, want nil", err)
	}
	for i, wt := range wts[1:] {
		ps[i] = wt.Mark()
	}
	change(t)
	for i, wt := range wts[1:] {
		wt.WaitIn(t, ps[i], 1, "the remaining watchers to hear a change")
	}
}

// testCancelStops: cancelling ctx makes Watch return nil, and onChange is
// not called afterwards (the Recorder fails the test if it is). A second
// watcher hearing a change made after the return is the proof that the
// first had every chance to be called for it.
func testCancelStops(t *testing.T, h Harness) {
	w, change := h.New(t)
	wt := Start(t, w, h.Interval)
	wt.Wait(t, 1, "the initial call")
	wt.Cancel()
	if err := wt.Stopped(t); err != nil {
		t.Fatalf("Watch after its context was cancelled: %v, want nil", err)
	}
	calls := wt.Calls()
	other := Start(t, w, h.Interval)
	other.Wait(t, 1, "another watcher's initial call")
	p := other.Mark()
	change(t)
	other.WaitIn(t, p, 1, "another watcher to hear a change")
	if n := wt.Calls(); n != calls {
		t.Fatalf("onChange called %d times after Watch returned", n-calls)
	}
	wt.check(t)
}

// testCancelledContext: Watch with a context that is done already returns
// nil at once.
func testCancelledContext(t *testing.T, h Harness) {
	w, _ := h.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wt := start(t, ctx, w, h.Interval)
	if err := wt.Stopped(t); err != nil {
		t.Fatalf("Watch with a cancelled context: %v, want nil", err)
	}
}

// testRestart: a Watch call that returned can be followed by another on the
// same watcher, which calls onChange at once (the caller reloads what it
// may have missed) and hears later changes. This is what callers do after
// Watch returned an error.
func testRestart(t *testing.T, h Harness) {
	w, change := h.New(t)
	for i := range 3 {
		wt := Start(t, w, h.Interval)
		wt.Wait(t, 1, "the initial call")
		// A change made between two Watch calls is covered by the
		// second one's initial call.
		if i == 0 {
			p := wt.Mark()
			change(t)
			wt.WaitIn(t, p, 1, "a change")
		}
		wt.Cancel()
		if err := wt.Stopped(t); err != nil {
			t.Fatalf("Watch %d after cancel: %v, want nil", i, err)
		}
		change(t)
	}
	wt := Start(t, w, h.Interval)
	wt.Wait(t, 1, "the initial call")
	p := wt.Mark()
	change(t)
	wt.WaitIn(t, p, 1, "a change after restarts")
}

// testClose: closing the watcher's owner stops running Watch calls with an
// error, later calls fail at once, and closing twice is safe.
func testClose(t *testing.T, h Harness) {
	if h.Close == nil {
		t.Skip("closing this watcher's owner does not stop Watch")
	}
	w, _ := h.New(t)
	wts := []*Watch{Start(t, w, h.Interval), Start(t, w, h.Interval)}
	for _, wt := range wts {
		wt.Wait(t, 1, "the initial call")
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close(w) }()
	for _, wt := range wts {
		checkClosed(t, h, "a running Watch after Close", wt.Stopped(t))
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(testwait.DefaultTimeout):
		t.Fatal("Close did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testwait.DefaultTimeout)
	defer cancel()
	err := w.Watch(ctx, h.Interval, func() { t.Error("onChange called by a Watch on a closed watcher") })
	if ctx.Err() != nil {
		t.Fatal("Watch on a closed watcher did not return")
	}
	checkClosed(t, h, "Watch on a closed watcher", err)
	if err := h.Close(w); err != nil {
		t.Errorf("closing twice: %v", err)
	}
}

func checkClosed(t *testing.T, h Harness, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s returned nil, want an error", what)
	case h.ErrClosed != nil && !errors.Is(err, h.ErrClosed):
		t.Errorf("%s: %v, want %v", what, err, h.ErrClosed)
	}
}
