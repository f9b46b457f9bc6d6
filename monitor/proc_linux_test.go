package monitor

import (
	"os"
	"path/filepath"
	"testing"
)

// procStatus counts open files exactly, whether the kernel reports the
// count as /proc/self/fd's size or the directory has to be read.
func TestProcStatusCountsOpenFiles(t *testing.T) {
	_, before := procStatus()
	if before <= 0 {
		t.Fatalf("open files before: %d", before)
	}
	const extra = 40
	dir := t.TempDir()
	for i := range extra {
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i%26))+string(rune('a'+i/26))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	_, after := procStatus()
	// Other goroutines (the runtime, the test framework) rarely open files
	// meanwhile; allow a little slack for them, not for a miscount.
	if got := after - before; got < extra || got > extra+2 {
		t.Fatalf("open files went from %d to %d, want %d more", before, after, extra)
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, now := procStatus(); now != len(names)-1 && now != len(names) {
		t.Fatalf("procStatus counts %d open files, /proc/self/fd lists %d (one of them its own reader)", now, len(names))
	}
}
