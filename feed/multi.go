package feed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gotenancy/tenancy/resolve"
)

// Multi returns a resolve.Watcher that runs every non-nil watcher at once
// and calls onChange whenever any of them does (the calls are serialised).
// Its Watch returns nil when ctx is done, or, as soon as one watcher
// returns early, that watcher's error after stopping the others: the
// caller (resolve.Cache) then restarts them all, and reloads.
func Multi(watchers ...resolve.Watcher) resolve.Watcher {
	m := make(multi, 0, len(watchers))
	for _, w := range watchers {
		if w != nil {
			m = append(m, w)
		}
	}
	return m
}

// multi runs several watchers as one.
type multi []resolve.Watcher

// Watch implements resolve.Watcher.
func (m multi) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	if len(m) == 0 {
		<-ctx.Done()
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	serial := func() {
		mu.Lock()
		defer mu.Unlock()
		onChange()
	}
	errs := make(chan error, len(m))
	var wg sync.WaitGroup
	for i, w := range m {
		wg.Go(func() {
			err := w.Watch(ctx, interval, serial)
			if err == nil && ctx.Err() == nil {
				err = fmt.Errorf("feed: watcher %d of %d (%T) returned before it was stopped", i+1, len(m), w)
			} else if err != nil {
				err = fmt.Errorf("feed: watcher %d of %d (%T): %w", i+1, len(m), w, err)
			}
			errs <- err
		})
	}
	first := <-errs
	cancel()
	wg.Wait()
	if parent.Err() != nil {
		return nil
	}
	return first
}
