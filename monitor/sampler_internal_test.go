package monitor

import (
	"math"
	"testing"
)

func TestQuantileMs(t *testing.T) {
	t.Parallel()
	// Buckets: ≤1, ≤2.5, ≤5, ≤10, ≤25, ≤50, ≤100, ≤250, ≤500, ≤1000, ≤2500, ≤5000 ms, +Inf.
	b := func(counts map[int]uint64) []uint64 {
		out := make([]uint64, 13)
		for i, n := range counts {
			out[i] = n
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		buckets []uint64
		q, want float64
	}{
		{"empty", b(nil), 0.95, 0},
		{"one bucket", b(map[int]uint64{0: 100}), 0.95, 0.95},
		{"second bucket", b(map[int]uint64{1: 10}), 0.5, 1.75},
		{"upper tail", b(map[int]uint64{0: 90, 3: 10}), 0.95, 7.5},
		{"mixed", b(map[int]uint64{0: 90, 2: 20, 3: 10}), 0.95, 7},
		{"exact boundary", b(map[int]uint64{0: 95, 5: 5}), 0.95, 1},
		{"beyond the last bound", b(map[int]uint64{12: 4}), 0.95, 5000},
	} {
		if got := quantileMs(tc.q, tc.buckets); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: p%.0f = %v, want %v", tc.name, tc.q*100, got, tc.want)
		}
	}
}

func TestRing(t *testing.T) {
	t.Parallel()
	r := newRing(3)
	if _, ok := r.latest(); ok || len(r.all()) != 0 {
		t.Fatal("empty ring has samples")
	}
	for i := range 5 {
		r.add(Snapshot{UptimeSeconds: float64(i)}, []byte{byte('0' + i)})
	}
	all := r.all()
	if len(all) != 3 || all[0].snap.UptimeSeconds != 2 || all[2].snap.UptimeSeconds != 4 {
		t.Fatalf("ring holds %+v", all)
	}
	if e, ok := r.latest(); !ok || e.snap.UptimeSeconds != 4 {
		t.Errorf("latest %+v", e)
	}
	if got := string(historyFrame(all)); got != "event: history\ndata: [2,3,4]\n\n" {
		t.Errorf("history frame %q", got)
	}
	if n := r.clear(); n != 3 || len(r.all()) != 0 {
		t.Errorf("clear: %d, left %d", n, len(r.all()))
	}
}

// A subscriber that reads nothing misses samples; publishing never waits.
func TestPublishDoesNotWait(t *testing.T) {
	t.Parallel()
	var s subscribers
	stalled, live := s.subscribe(), s.subscribe()
	for i := range 100 {
		s.publish([]byte{byte(i)})
		<-live
	}
	if len(stalled) != subscriberBuffer || s.dropped.Load() != 100-subscriberBuffer {
		t.Errorf("buffered %d, dropped %d", len(stalled), s.dropped.Load())
	}
	s.unsubscribe(stalled)
	s.unsubscribe(live)
	if s.len() != 0 {
		t.Errorf("%d subscribers left", s.len())
	}
}

// Unknown figures (negative) show as a dash on the page, never as 0.
func TestFormatUnknown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{formatBytes(int64(-1)), "—"},
		{formatBytes(int64(0)), "0 B"},
		{formatBytes(uint64(3 << 20)), "3.0 MiB"},
		{formatPercent(-1), "—"},
		{formatPercent(0), "0.0%"},
		{formatPercent(0.5), "50.0%"},
		{formatCount(-1), "—"},
		{formatCount(0), "0"},
		{formatP95(4999.5), "4999.5"},
		{formatP95(5000), "≥ 5000"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
