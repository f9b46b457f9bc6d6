package resolve

import (
	"fmt"
	"testing"
)

func TestNegativeCacheRing(t *testing.T) {
	t.Parallel()
	n := newNegativeCache(3, 100)
	for i := range 10 {
		n.add("same", int64(i)) // one key added again and again: one entry
		if n.len() != 1 {
			t.Fatalf("len = %d after re-adding one key", n.len())
		}
	}
	for i := range 20 {
		n.add(fmt.Sprint("k", i), 0)
		if i%3 == 0 {
			n.remove(fmt.Sprint("k", i-1))
		}
		if n.len() > 3 {
			t.Fatalf("len = %d, bound 3", n.len())
		}
	}
	if !n.contains("k19", 99) || n.contains("k19", 100) || n.contains("k0", 0) {
		t.Fatal("wrong membership")
	}
}
