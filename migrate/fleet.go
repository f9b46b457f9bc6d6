package migrate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// FleetConfig configures [RunFleet]. A nil *FleetConfig means all defaults.
type FleetConfig struct {
	// Concurrency is the maximum number of items run at once. Zero means
	// the default, 2*runtime.NumCPU(); negative is an error.
	Concurrency int
	// FailFast stops starting new items after the first failure. Items
	// already running finish; items never started are reported as Skipped.
	FailFast bool
	// Progress, if set, is called after each item that ran finishes, with
	// the running counts. Calls are serialised, never concurrent, and Done
	// increases by one on each call. Skipped items are not reported.
	Progress func(p Progress)
}

// Progress is the running count of a fleet run.
type Progress struct {
	Done   int // items finished so far, failed ones included
	Failed int // items finished with an error (or a panic) so far
	Total  int // items in the run
}

// Outcome is one item's result in a fleet run.
type Outcome[T any] struct {
	// Item is the input item.
	Item T
	// Err is the error fn returned for the item, or a *[PanicError] if fn
	// panicked. It is nil for skipped items.
	Err error
	// Skipped reports that the item was not run because of FailFast or
	// because ctx was cancelled.
	Skipped bool
	// Duration is how long fn ran for the item; zero when skipped.
	Duration time.Duration
}

// PanicError is the error of an item whose function panicked.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the panicking goroutine
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// RunFleet runs fn over items with bounded concurrency and returns one
// Outcome per item, in the order of items.
//
// One item's failure never stops the others unless cfg.FailFast is set. A
// panic in fn is recovered and reported as that item's error (a
// *[PanicError]). Cancelling ctx stops starting new items, which are
// reported as Skipped; items already running receive the cancelled ctx and
// finish as fn decides. RunFleet returns when every started item has
// finished.
//
// The error is non-nil only for an invalid configuration (or a nil fn), in
// which case nothing runs.
func RunFleet[T any](ctx context.Context, items []T, cfg *FleetConfig, fn func(ctx context.Context, item T) error) ([]Outcome[T], error) {
	var c FleetConfig
	if cfg != nil {
		c = *cfg
	}
	switch {
	case c.Concurrency < 0:
		return nil, fmt.Errorf("fleet: concurrency must be at least 1, got %d", c.Concurrency)
	case c.Concurrency == 0:
		c.Concurrency = 2 * runtime.NumCPU()
	}
	if fn == nil {
		return nil, errors.New("fleet: nil function")
	}

	out := make([]Outcome[T], len(items))
	for i, it := range items {
		out[i] = Outcome[T]{Item: it, Skipped: true}
	}

	var (
		failed atomic.Bool // set on the first failure, for FailFast
		mu     sync.Mutex  // serialises progress counts and callback
		prog   = Progress{Total: len(items)}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, c.Concurrency)
	)
	finish := func(i int, err error, d time.Duration) {
		out[i].Skipped = false
		out[i].Err = err
		out[i].Duration = d
		if err != nil {
			failed.Store(true)
		}
		mu.Lock()
		defer mu.Unlock()
		prog.Done++
		if err != nil {
			prog.Failed++
		}
		if c.Progress != nil {
			c.Progress(prog)
		}
	}

	for i := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// Checked after a slot is free: failures and cancellation happen
		// while waiting for one.
		if ctx.Err() != nil || (c.FailFast && failed.Load()) {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			err := runItem(ctx, items[i], fn)
			finish(i, err, time.Since(start))
		})
	}
	wg.Wait()
	return out, nil
}

// runItem calls fn, turning a panic into a *PanicError.
func runItem[T any](ctx context.Context, item T, fn func(context.Context, T) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, item)
}
