//go:build !(linux || darwin || freebsd)

package monitor

// freeBytes is not supported on this platform; the disk check is skipped.
func freeBytes(string) (int64, error) { return 0, errDiskUnsupported }
