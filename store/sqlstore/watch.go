package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WatchVersion is the polling loop of the catalogs whose watcher reads a
// version counter (SQLite, MySQL): it reads version, calls onChange once
// (commits made before the first read cannot be told apart from older
// ones, so the caller catches up on what it read before), and then every
// interval reads version again and calls onChange when it has moved. It
// returns nil when ctx is done, or the first read error (named after
// engine), after which the caller restarts it. onChange runs on the
// loop's goroutine and should return quickly.
func WatchVersion(ctx context.Context, engine string, interval time.Duration, onChange func(), version func(context.Context) (int64, error)) error {
	if interval <= 0 {
		return fmt.Errorf("%s: watch interval must be positive, got %s", engine, interval)
	}
	if onChange == nil {
		return errors.New(engine + ": watch needs an onChange function")
	}
	read := func() (int64, error) {
		v, err := version(ctx)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%s: watch: %w", engine, err)
		}
		return v, err
	}
	last, err := read()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	onChange()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v, err := read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if v != last {
			last = v
			onChange()
		}
	}
}
