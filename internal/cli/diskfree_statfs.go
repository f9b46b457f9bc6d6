//go:build linux || darwin || freebsd

package cli

import "syscall"

// freeDiskBytes returns the space available to unprivileged users on the
// file system holding dir.
func freeDiskBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}
