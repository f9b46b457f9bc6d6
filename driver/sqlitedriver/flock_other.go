//go:build !unix

package sqlitedriver

import (
	"errors"
	"os"
	"time"
)

// lockExclusive is a no-op where flock is missing; tryLockExclusive then
// treats a copy untouched for an hour as abandoned.
func lockExclusive(*os.File) (func(), error) { return func() {}, nil }

func tryLockExclusive(f *os.File) (func(), error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if time.Since(st.ModTime()) < time.Hour {
		return nil, errors.New("sqlitedriver: the copy may be in use")
	}
	return func() {}, nil
}
