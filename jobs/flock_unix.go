//go:build unix

package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often lockFile tries again while another process holds
// the lock.
const lockPoll = 20 * time.Millisecond

// lockFile takes an exclusive flock on path (created if missing), waiting
// until ctx is done while another process holds it, and returns the
// function that releases it. It is a separate file from the database:
// SQLite locks its files with fcntl locks, which any close of another
// descriptor of the same file in this process would drop.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs: lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("jobs: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("jobs: lock %s: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
