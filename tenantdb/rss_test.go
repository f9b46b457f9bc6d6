package tenantdb

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// rssMB returns the resident set size of the process in MB, or -1 where
// /proc is not available. modernc.org/sqlite allocates its page caches
// outside the Go heap, so the RSS shows what the Go heap figures miss.
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return -1
}

func rssNote() string {
	if r := rssMB(); r >= 0 {
		return fmt.Sprintf("; process RSS %.1f MB", r)
	}
	return ""
}
