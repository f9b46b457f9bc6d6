package resolve

import (
	"strings"
	"sync"
)

// negativeCache remembers keys the catalog did not know, for a while. It
// holds at most size keys: a ring records the order keys went in, and the
// oldest is forgotten when a new one needs its place, so memory stays bounded
// whatever hosts arrive. It is safe for concurrent use.
//
// (A general cache library would do, but this one needs an exact bound that
// tests can assert, and nothing else: no values, no per-key costs.)
type negativeCache struct {
	ttl  int64 // nanoseconds
	size int

	mu    sync.RWMutex
	items map[string]negEntry
	ring  []negSlot
	next  int    // ring position the next key takes once the ring is full
	seq   uint64 // tags each insertion, so a stale ring slot is recognised
}

type negEntry struct {
	expires int64 // unix nanoseconds
	seq     uint64
}

type negSlot struct {
	key string
	seq uint64
}

func newNegativeCache(size int, ttl int64) *negativeCache {
	return &negativeCache{ttl: ttl, size: size, items: make(map[string]negEntry)}
}

// contains reports whether key was remembered less than the TTL before now.
func (n *negativeCache) contains(key string, now int64) bool {
	n.mu.RLock()
	e, ok := n.items[key]
	n.mu.RUnlock()
	return ok && now < e.expires
}

// add remembers key until now plus the TTL, forgetting the oldest key when
// the cache is full. Each live item owns exactly one ring slot (the one with
// its seq), so len(items) never exceeds size.
func (n *negativeCache) add(key string, now int64) {
	// The key may be a substring of a large Host header: keep only its bytes.
	key = strings.Clone(key)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	slot := negSlot{key: key, seq: n.seq}
	if len(n.ring) < n.size {
		n.ring = append(n.ring, slot)
	} else {
		old := n.ring[n.next]
		if e, ok := n.items[old.key]; ok && e.seq == old.seq {
			delete(n.items, old.key)
		}
		n.ring[n.next] = slot
		n.next = (n.next + 1) % n.size
	}
	n.items[key] = negEntry{expires: now + n.ttl, seq: n.seq}
}

// remove forgets key; its ring slot becomes stale and is reused in turn.
func (n *negativeCache) remove(keys ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		delete(n.items, k)
	}
}

// len returns the number of remembered keys, expired ones included.
func (n *negativeCache) len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.items)
}
