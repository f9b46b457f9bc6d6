//go:build linux || darwin || freebsd

package monitor

import "syscall"

// FreeBytes returns the space available to unprivileged users on the file
// system holding dir. Where the platform cannot measure it, the error is
// ErrDiskUnsupported.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}
