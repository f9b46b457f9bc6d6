//go:build unix

package sqlitedriver

import (
	"os"
	"syscall"
)

// lockExclusive takes an exclusive flock on f, waiting for it; the
// function returned releases it. A process that dies releases its locks.
func lockExclusive(f *os.File) (func(), error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}

// tryLockExclusive is lockExclusive without waiting: an error when the
// lock is held.
func tryLockExclusive(f *os.File) (func(), error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
