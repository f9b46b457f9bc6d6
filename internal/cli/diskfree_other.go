//go:build !(linux || darwin || freebsd)

package cli

// freeDiskBytes is not supported on this platform; the disk check is skipped.
func freeDiskBytes(string) (int64, error) { return 0, errDiskUnsupported }
