//go:build !linux

package monitor

// procStatus is not measured outside Linux: no resident memory, open files
// unknown.
func procStatus() (rss uint64, fds int) { return 0, -1 }

// memoryLimitFiles: there are no cgroups outside Linux.
func memoryLimitFiles() []string { return nil }

// memoryLimit is unknown outside Linux.
func memoryLimit([]string) uint64 { return 0 }
