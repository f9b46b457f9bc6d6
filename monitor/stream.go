package monitor

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// subscriberBuffer is the number of samples a stream may fall behind
// before it misses samples.
const subscriberBuffer = 8

// streamWriteTimeout bounds each write to a stream's client: a client that
// stops reading is dropped after it.
const streamWriteTimeout = 30 * time.Second

// ringEntry is one kept sample and its JSON.
type ringEntry struct {
	snap Snapshot
	json []byte
}

// ring keeps the last samples.
type ring struct {
	mu   sync.RWMutex
	buf  []ringEntry
	next int // where the next sample goes
	n    int // samples kept
}

func newRing(size int) ring { return ring{buf: make([]ringEntry, size)} }

// add keeps a sample, forgetting the oldest when full.
func (r *ring) add(s Snapshot, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = ringEntry{snap: s, json: body}
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// latest returns the newest sample.
func (r *ring) latest() (ringEntry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return ringEntry{}, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// all returns the samples, oldest first.
func (r *ring) all() []ringEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ringEntry, 0, r.n)
	for i := range r.n {
		out = append(out, r.buf[(r.next-r.n+i+len(r.buf))%len(r.buf)])
	}
	return out
}

// clear forgets every sample and returns how many there were.
func (r *ring) clear() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	clear(r.buf)
	r.next, r.n = 0, 0
	return n
}

// subscribers are the open streams, each fed through a buffered channel.
// Publishing never waits: a stream whose buffer is full misses the sample.
type subscribers struct {
	mu      sync.Mutex
	set     map[chan []byte]struct{}
	dropped atomic.Uint64 // samples missed by slow streams
}

// subscribe registers a new stream.
func (s *subscribers) subscribe() chan []byte {
	ch := make(chan []byte, subscriberBuffer)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[chan []byte]struct{}{}
	}
	s.set[ch] = struct{}{}
	return ch
}

// unsubscribe forgets a stream.
func (s *subscribers) unsubscribe(ch chan []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, ch)
}

// publish offers an encoded event to every stream.
func (s *subscribers) publish(event []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.set {
		select {
		case ch <- event:
		default:
			s.dropped.Add(1)
		}
	}
}

// len is the number of open streams.
func (s *subscribers) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.set)
}

// frame encodes a Server-Sent Event whose data is one line of JSON.
func frame(event string, data []byte) []byte {
	b := make([]byte, 0, len("event: \ndata: \n\n")+len(event)+len(data))
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// historyFrame is the history event: the JSON array of the kept samples.
func historyFrame(entries []ringEntry) []byte {
	n := 2
	for _, e := range entries {
		n += len(e.json) + 1
	}
	data := make([]byte, 0, n)
	data = append(data, '[')
	for i, e := range entries {
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, e.json...)
	}
	data = append(data, ']')
	return frame("history", data)
}

// pingFrame is the keep-alive comment.
var pingFrame = []byte(": ping\n\n")

// stream serves GET /admin/monitoring/stream: Server-Sent Events, first
// "history" with the kept samples, then "sample" for each new one, and a
// comment every pingInterval. It ends when the client goes away or the
// monitor stops.
func (m *Monitor) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")

	// Under sampleMu no sample is taken: the history and the subscription
	// meet without a gap or a repeat.
	m.sampleMu.Lock()
	ch := m.subs.subscribe()
	entries := m.ring.all()
	m.sampleMu.Unlock()
	defer m.subs.unsubscribe(ch)

	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.WriteHeader(http.StatusOK)
	if !write(append([]byte("retry: 3000\n"), historyFrame(entries)...)) {
		return
	}
	ping := time.NewTicker(m.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-m.stopping:
			return
		case ev := <-ch:
			if !write(ev) {
				return
			}
		case <-ping.C:
			if !write(pingFrame) {
				return
			}
		}
	}
}
