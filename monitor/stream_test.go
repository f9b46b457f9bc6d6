package monitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/monitor"
)

// event is one Server-Sent Event.
type event struct {
	name, data string
	comment    bool
}

// readEvent reads the next event or comment from an event stream.
func readEvent(t *testing.T, r *bufio.Reader) (event, error) {
	t.Helper()
	var ev event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" || ev.comment {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			ev.comment = true
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
}

// openStream connects to the stream and checks its headers.
func openStream(t *testing.T, ctx context.Context, url string) (*bufio.Reader, io.Closer) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/admin/monitoring/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" ||
		res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	return bufio.NewReader(res.Body), res.Body
}

func TestStream(t *testing.T) {
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{SampleInterval: 10 * time.Millisecond, History: 5})
	srv := httptest.NewServer(mon.AdminHandler())
	defer srv.Close()

	for range 3 {
		mon.Sample(context.Background())
	}
	r, body := openStream(t, context.Background(), srv.URL)
	defer body.Close()
	ev, err := readEvent(t, r)
	if err != nil || ev.name != "history" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	var hist []monitor.Snapshot
	if err := json.Unmarshal([]byte(ev.data), &hist); err != nil || len(hist) != 3 {
		t.Fatalf("history of %d samples (%v): %.200s", len(hist), err, ev.data)
	}

	ctx, cancel := context.WithCancel(context.Background())
	if err := mon.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.observe(f.acme.ID, 7, 200, time.Millisecond)
	var last monitor.Snapshot
	for last.Requests.Total != 7 {
		ev, err := readEvent(t, r)
		if err != nil || ev.name != "sample" {
			t.Fatalf("event %+v, %v", ev, err)
		}
		var s monitor.Snapshot
		if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
			t.Fatal(err)
		}
		if !s.Time.After(hist[len(hist)-1].Time) || (!last.Time.IsZero() && !s.Time.After(last.Time)) {
			t.Fatalf("sample of %v out of order", s.Time)
		}
		last = s
	}

	// The monitor's context ends: so does the stream.
	cancel()
	for {
		if _, err := readEvent(t, r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// A stream opened after the monitor stopped gets the history and ends.
	r, body2 := openStream(t, context.Background(), srv.URL)
	defer body2.Close()
	if ev, err := readEvent(t, r); err != nil || ev.name != "history" {
		t.Fatalf("%+v %v", ev, err)
	}
	if _, err := readEvent(t, r); err != io.EOF {
		t.Fatalf("stream after stop: %v", err)
	}
}

func TestStreamClientGoesAway(t *testing.T) {
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{})
	mon.SetPingInterval(5 * time.Millisecond)
	srv := httptest.NewServer(mon.AdminHandler())
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	r, body := openStream(t, ctx, srv.URL)
	if ev, err := readEvent(t, r); err != nil || ev.name != "history" || ev.data != "[]" {
		t.Fatalf("%+v %v", ev, err)
	}
	if ev, err := readEvent(t, r); err != nil || !ev.comment {
		t.Fatalf("want a ping, got %+v %v", ev, err)
	}
	if mon.Subscribers() != 1 {
		t.Fatalf("%d subscribers", mon.Subscribers())
	}
	cancel()
	body.Close()
	// The handler notices at its next ping and unsubscribes; the server's
	// Close waits for it.
	srv.Close()
	if n := mon.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after the client left", n)
	}
}

// stallingWriter blocks every write until released.
type stallingWriter struct {
	http.ResponseWriter
	release chan struct{}
}

func (w stallingWriter) Write(b []byte) (int, error) {
	<-w.release
	return w.ResponseWriter.Write(b)
}

func (w stallingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// A stream whose client does not read misses samples; the sampler and the
// other streams go on.
func TestStalledStreamDoesNotBlockSampler(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	mon := f.monitor(t, monitor.Config{})
	release := make(chan struct{})
	var stalled sync.WaitGroup
	stalled.Add(1)
	h := mon.AdminHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Stall") != "" {
			stalled.Done()
			w = stallingWriter{w, release}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	// The stalled stream's handler subscribes, then blocks writing the history.
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/monitoring/stream", nil)
		req.Header.Set("X-Stall", "1")
		if res, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	stalled.Wait()
	r, body := openStream(t, ctx, srv.URL)
	defer body.Close()
	if ev, err := readEvent(t, r); err != nil || ev.name != "history" {
		t.Fatalf("%+v %v", ev, err)
	}
	testwait.Eventually(t, "both streams to subscribe", func() bool { return mon.Subscribers() == 2 })

	// The live stream is read as the samples come; each sample waits for
	// it, so that only the stalled stream misses any.
	got := make(chan time.Time)
	go func() {
		defer close(got)
		for {
			ev, err := readEvent(t, r)
			if err != nil {
				return
			}
			var s monitor.Snapshot
			if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
				t.Error(err)
				return
			}
			got <- s.Time
		}
	}()
	const samples = 50
	for range samples {
		s := mon.Sample(ctx)
		if at := <-got; !at.Equal(s.Time) {
			t.Fatalf("live stream got the sample of %v, want %v", at, s.Time)
		}
	}
	if d := mon.Dropped(); d != samples-8 {
		t.Errorf("the stalled stream missed %d samples, want %d", d, samples-8)
	}
	close(release)
	mon.Close()
}
