//go:build !(linux || darwin || freebsd)

package monitor

// FreeBytes returns the space available to unprivileged users on the file
// system holding dir. Where the platform cannot measure it, the error is
// ErrDiskUnsupported, as it is on this one.
func FreeBytes(string) (int64, error) { return 0, ErrDiskUnsupported }
