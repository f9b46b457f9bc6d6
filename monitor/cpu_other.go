//go:build !(linux || darwin || freebsd)

package monitor

// cpuSeconds is not measured on this platform.
func cpuSeconds() float64 { return 0 }
