package alert_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// recorder is a Notifier that keeps what it is sent and answers err.
type recorder struct {
	name string
	err  error

	mu     sync.Mutex
	events []alert.Event
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, e alert.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.err
}

// messages returns the messages sent so far.
func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Message)
	}
	return out
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEngine(t *testing.T, cfg *alert.Config) *alert.Engine {
	t.Helper()
	e, err := alert.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  *alert.Config
		want string // "" for valid; else the field the error names
	}{
		{"nil config", nil, ""},
		{"zero config", &alert.Config{}, ""},
		{"all rules", &alert.Config{Thresholds: alert.Thresholds{
			DatabaseSizeBytes: 1 << 30, P95Latency: time.Second, ErrorRate: 1,
			MinRequests: 5, MemoryUse: 0.8, BudgetUse: 0.9,
		}}, ""},
		{"negative size", &alert.Config{Thresholds: alert.Thresholds{DatabaseSizeBytes: -1}}, "Thresholds.DatabaseSizeBytes"},
		{"negative latency", &alert.Config{Thresholds: alert.Thresholds{P95Latency: -time.Second}}, "Thresholds.P95Latency"},
		{"negative error rate", &alert.Config{Thresholds: alert.Thresholds{ErrorRate: -0.1}}, "Thresholds.ErrorRate"},
		{"error rate above 1", &alert.Config{Thresholds: alert.Thresholds{ErrorRate: 1.5}}, "Thresholds.ErrorRate"},
		{"memory above 1", &alert.Config{Thresholds: alert.Thresholds{MemoryUse: 80}}, "Thresholds.MemoryUse"},
		{"budget above 1", &alert.Config{Thresholds: alert.Thresholds{BudgetUse: 1.01}}, "Thresholds.BudgetUse"},
		{"negative min requests", &alert.Config{Thresholds: alert.Thresholds{MinRequests: -1}}, "Thresholds.MinRequests"},
		{"negative cooldown", &alert.Config{Cooldown: -time.Minute}, "Cooldown"},
		{"negative send timeout", &alert.Config{SendTimeout: -time.Second}, "SendTimeout"},
		{"negative history", &alert.Config{HistorySize: -1}, "HistorySize"},
		{"nil notifier", &alert.Config{Notifiers: []alert.Notifier{&recorder{name: "a"}, nil}}, "Notifiers[1]"},
		{"duplicate names", &alert.Config{Notifiers: []alert.Notifier{&recorder{name: "a"}, &recorder{name: "a"}}}, "Notifiers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := alert.New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := e.Thresholds().MinRequests; got < 1 {
					t.Errorf("MinRequests = %d, want the default filled", got)
				}
				return
			}
			var ce *alert.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New: err = %v, want a *ConfigError", err)
			}
			if ce.Name != tt.want || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v (name %q), want it to name %s", err, ce.Name, tt.want)
			}
		})
	}
}

func TestNewJoinsErrors(t *testing.T) {
	t.Parallel()
	_, err := alert.New(&alert.Config{Thresholds: alert.Thresholds{ErrorRate: 2, MemoryUse: -1}, Cooldown: -1})
	for _, want := range []string{"Thresholds.ErrorRate", "Thresholds.MemoryUse", "Cooldown"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	cfg := &alert.Config{Thresholds: alert.Thresholds{P95Latency: time.Second}}
	e := newEngine(t, cfg)
	if got := e.Thresholds(); got.MinRequests != alert.DefaultMinRequests || got.P95Latency != time.Second {
		t.Errorf("Thresholds() = %+v, want MinRequests %d", got, alert.DefaultMinRequests)
	}
	if cfg.Thresholds.MinRequests != 0 || cfg.Cooldown != 0 {
		t.Errorf("New changed the caller's Config: %+v", cfg)
	}
}

// TestCooldown walks one condition (p95 latency) through starts and ends
// around the cooldown.
func TestCooldown(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rec := &recorder{name: "rec"}
	e := newEngine(t, &alert.Config{
		Thresholds: alert.Thresholds{P95Latency: 200 * time.Millisecond},
		Notifiers:  []alert.Notifier{rec},
		Cooldown:   15 * time.Minute,
		Now:        clk.Now,
	})
	const (
		high = 412 * time.Millisecond
		low  = 120 * time.Millisecond
	)
	fire := "p95 latency 412 ms is above 200 ms on node web-1"
	resolve := "resolved: p95 latency 120 ms is no longer above 200 ms on node web-1"
	steps := []struct {
		name    string
		advance time.Duration
		p95     time.Duration
		raised  []string // the messages raised by this evaluation
		sent    []string // the messages sent by this evaluation
		active  bool
	}{
		{"starts", 0, high, []string{fire}, []string{fire}, true},
		{"stays true", time.Minute, high, nil, nil, true},
		{"stays true past the cooldown", 20 * time.Minute, high, nil, nil, true},
		{"ends", time.Minute, low, []string{resolve}, []string{resolve}, false},
		{"stays resolved", time.Minute, low, nil, nil, false},
		// 24 minutes after the first message: the cooldown has passed.
		{"starts again after the cooldown", time.Minute, high, []string{fire}, []string{fire}, true},
		{"ends again", time.Minute, low, []string{resolve}, []string{resolve}, false},
		{"re-fires within the cooldown", time.Minute, high, []string{fire}, nil, true},
		{"suppressed stays true", 5 * time.Minute, high, nil, nil, true},
		{"suppressed ends", time.Minute, low, []string{resolve}, nil, false},
		{"re-fires within the cooldown again", time.Minute, high, []string{fire}, nil, true},
		// 15 minutes after the last message (the second start).
		{"still true when the cooldown passes", 6 * time.Minute, high, []string{fire}, []string{fire}, true},
		{"stays true after that", 30 * time.Minute, high, nil, nil, true},
		{"ends after a sent start", time.Minute, low, []string{resolve}, []string{resolve}, false},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		before := len(rec.messages())
		evs := e.Evaluate(t.Context(), alert.Figures{Node: "web-1", Requests: 100, P95: s.p95})
		var raised []string
		for _, ev := range evs {
			raised = append(raised, ev.Message)
			if ev.At != clk.Now() {
				t.Errorf("%s: event At = %v, want the clock's %v", s.name, ev.At, clk.Now())
			}
			sent := !ev.Suppressed
			if got := slices.Equal(ev.Sent, []string{"rec"}); got != sent {
				t.Errorf("%s: event %q Sent = %v, Suppressed = %v", s.name, ev.Message, ev.Sent, ev.Suppressed)
			}
		}
		if !slices.Equal(raised, s.raised) {
			t.Errorf("%s: raised %q, want %q", s.name, raised, s.raised)
		}
		if sent := rec.messages()[before:]; !slices.Equal(sent, s.sent) {
			t.Errorf("%s: sent %q, want %q", s.name, sent, s.sent)
		}
		if active := len(e.Active()) == 1; active != s.active {
			t.Errorf("%s: Active() = %v, want firing %v", s.name, e.Active(), s.active)
		}
	}
	// Every raised event is in the history, newest first, numbered from 1.
	h := e.History()
	if len(h) != 9 {
		t.Fatalf("History() has %d events, want 9", len(h))
	}
	for i, ev := range h {
		if want := int64(len(h) - i); ev.ID != want {
			t.Errorf("History()[%d].ID = %d, want %d", i, ev.ID, want)
		}
	}
}

func TestResolution(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rec := &recorder{name: "rec"}
	e := newEngine(t, &alert.Config{
		Thresholds: alert.Thresholds{MemoryUse: 0.8, BudgetUse: 0.9},
		Notifiers:  []alert.Notifier{rec},
		Now:        clk.Now,
	})
	evs := e.Evaluate(t.Context(), alert.Figures{Node: "n1", MemoryUse: 0.85, BudgetUse: 0.95})
	want := []alert.Event{
		{ID: 1, Rule: alert.RuleMemory, Message: "memory use is 85% of the limit, above 80% on node n1",
			Value: 0.85, Threshold: 0.8, At: clk.Now(), Sent: []string{"rec"}},
		{ID: 2, Rule: alert.RuleBudgetUse, Message: "open tenant databases are 95% of the connection budget, above 90% on node n1",
			Value: 0.95, Threshold: 0.9, At: clk.Now(), Sent: []string{"rec"}},
	}
	assertEvents(t, "start", evs, want)
	if got := e.Active(); len(got) != 2 || got[0].Rule != alert.RuleBudgetUse || got[1].Rule != alert.RuleMemory {
		t.Errorf("Active() = %+v, want budget and memory", got)
	}

	clk.Advance(time.Minute)
	evs = e.Evaluate(t.Context(), alert.Figures{Node: "n1", MemoryUse: 0.5, BudgetUse: 0.95})
	assertEvents(t, "memory ends", evs, []alert.Event{
		{ID: 3, Rule: alert.RuleMemory, Message: "resolved: memory use is 50% of the limit, no longer above 80% on node n1",
			Value: 0.5, Threshold: 0.8, Resolved: true, At: clk.Now(), Sent: []string{"rec"}},
	})
	if got := e.Active(); len(got) != 1 || got[0].ID != 2 {
		t.Errorf("Active() = %+v, want the budget event", got)
	}
	if got := rec.messages(); len(got) != 3 {
		t.Errorf("sent %q, want 3 messages", got)
	}
	if h := e.History(); len(h) != 3 || h[0].ID != 3 || !h[0].Resolved {
		t.Errorf("History() = %+v, want the resolution first", h)
	}
}

func TestMinRequests(t *testing.T) {
	t.Parallel()
	e := newEngine(t, &alert.Config{Thresholds: alert.Thresholds{
		P95Latency: 200 * time.Millisecond, ErrorRate: 0.01,
	}})
	bad := alert.Figures{P95: time.Second, ErrorRate: 0.5}
	good := alert.Figures{P95: 10 * time.Millisecond, ErrorRate: 0}
	steps := []struct {
		name     string
		requests int
		f        alert.Figures
		raised   []string // rules raised
		resolved bool
		active   int
	}{
		{"bad but too few requests", 19, bad, nil, false, 0},
		{"bad with enough requests", 20, bad, []string{alert.RuleP95Latency, alert.RuleErrorRate}, false, 2},
		{"good but too few requests keeps the state", 3, good, nil, false, 2},
		{"no requests keeps the state", 0, good, nil, false, 2},
		{"good with enough requests", 50, good, []string{alert.RuleP95Latency, alert.RuleErrorRate}, true, 0},
	}
	for _, s := range steps {
		f := s.f
		f.Requests = s.requests
		evs := e.Evaluate(t.Context(), f)
		var rules []string
		for _, ev := range evs {
			rules = append(rules, ev.Rule)
			if ev.Resolved != s.resolved {
				t.Errorf("%s: %q Resolved = %v", s.name, ev.Message, ev.Resolved)
			}
		}
		if !slices.Equal(rules, s.raised) {
			t.Errorf("%s: raised %q, want %q", s.name, rules, s.raised)
		}
		if got := len(e.Active()); got != s.active {
			t.Errorf("%s: %d active, want %d", s.name, got, s.active)
		}
	}
	want := "error rate 50% is above 1% (20 requests)"
	if h := e.History(); len(h) < 3 || h[2].Message != want {
		t.Errorf("History() = %+v, want the error-rate message %q", h, want)
	}
}

func TestMinRequestsConfigured(t *testing.T) {
	t.Parallel()
	e := newEngine(t, &alert.Config{Thresholds: alert.Thresholds{ErrorRate: 0.01, MinRequests: 1}})
	if evs := e.Evaluate(t.Context(), alert.Figures{Requests: 1, ErrorRate: 1}); len(evs) != 1 {
		t.Errorf("raised %+v, want one event with MinRequests 1", evs)
	}
}

func TestDatabaseSize(t *testing.T) {
	t.Parallel()
	const (
		acme   = "0190a1b2-0000-7000-8000-000000000001"
		globex = "0190a1b2-0000-7000-8000-000000000002"
	)
	rec := &recorder{name: "rec"}
	e := newEngine(t, &alert.Config{
		Thresholds: alert.Thresholds{DatabaseSizeBytes: 1_000_000_000},
		Notifiers:  []alert.Notifier{rec},
	})
	names := map[string]string{acme: "Acme"}
	steps := []struct {
		name   string
		sizes  map[string]int64
		raised []string
		active []string // subjects
	}{
		{"one above", map[string]int64{acme: 1_200_000_000, globex: 5_000_000},
			[]string{"tenant Acme (" + acme + ") database is 1.2 GB, above 1.0 GB"}, []string{acme}},
		{"not measured keeps the state", nil, nil, []string{acme}},
		{"still above: nothing new", map[string]int64{acme: 1_300_000_000, globex: 5_000_000}, nil, []string{acme}},
		{"a second tenant, without a name", map[string]int64{acme: 1_300_000_000, globex: 2_000_000_000},
			[]string{"tenant " + globex + " database is 2.0 GB, above 1.0 GB"}, []string{acme, globex}},
		{"not measured again", nil, nil, []string{acme, globex}},
		{"the first shrinks", map[string]int64{acme: 900_000_000, globex: 2_000_000_000},
			[]string{"resolved: tenant Acme (" + acme + ") database is 900 MB, no longer above 1.0 GB"}, []string{globex}},
		{"the second is gone", map[string]int64{acme: 900_000_000},
			[]string{"resolved: tenant " + globex + " database is no longer measured"}, nil},
		{"an empty measurement", map[string]int64{}, nil, nil},
	}
	for _, s := range steps {
		evs := e.Evaluate(t.Context(), alert.Figures{DatabaseSizes: s.sizes, TenantNames: names})
		var raised []string
		for _, ev := range evs {
			raised = append(raised, ev.Message)
			if ev.Rule != alert.RuleDatabaseSize || ev.Threshold != 1e9 {
				t.Errorf("%s: event %+v, want the database rule with threshold 1e9", s.name, ev)
			}
		}
		if !slices.Equal(raised, s.raised) {
			t.Errorf("%s: raised %q, want %q", s.name, raised, s.raised)
		}
		var active []string
		for _, ev := range e.Active() {
			active = append(active, ev.Subject)
		}
		if !slices.Equal(active, s.active) {
			t.Errorf("%s: active %q, want %q", s.name, active, s.active)
		}
	}
	if got := len(rec.messages()); got != 4 {
		t.Errorf("sent %d messages, want 4", got)
	}
	h := e.History()
	if h[len(h)-1].Subject != acme || h[len(h)-1].Value != 1.2e9 {
		t.Errorf("first event %+v, want acme at 1.2e9 bytes", h[len(h)-1])
	}
}

// panicker is a Notifier that panics.
type panicker struct{}

func (panicker) Name() string                              { return "panicker" }
func (panicker) Notify(context.Context, alert.Event) error { panic("boom") }

// sleeper is a Notifier that waits for its context.
type sleeper struct{}

func (sleeper) Name() string { return "sleeper" }
func (sleeper) Notify(ctx context.Context, _ alert.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestFailingNotifier(t *testing.T) {
	t.Parallel()
	logs := &testenv.LogRecorder{}
	ok := &recorder{name: "ok"}
	bad := &recorder{name: "bad", err: errors.New("status 500: upstream down")}
	e := newEngine(t, &alert.Config{
		Thresholds:  alert.Thresholds{MemoryUse: 0.5},
		Notifiers:   []alert.Notifier{bad, ok, panicker{}, sleeper{}},
		SendTimeout: 50 * time.Millisecond,
		Logger:      slog.New(logs),
	})
	start := time.Now()
	evs := e.Evaluate(t.Context(), alert.Figures{MemoryUse: 0.9})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Evaluate took %v, want the send timeout to bound it", took)
	}
	if len(evs) != 1 {
		t.Fatalf("raised %+v, want one event", evs)
	}
	ev := evs[0]
	if !slices.Equal(ev.Sent, []string{"ok"}) {
		t.Errorf("Sent = %q, want [ok]", ev.Sent)
	}
	wantFailed := map[string]string{
		"bad":      "status 500: upstream down",
		"panicker": "notifier panicked: boom",
		"sleeper":  context.DeadlineExceeded.Error(),
	}
	if len(ev.Failed) != len(wantFailed) {
		t.Errorf("Failed = %q, want %q", ev.Failed, wantFailed)
	}
	for name, want := range wantFailed {
		if ev.Failed[name] != want {
			t.Errorf("Failed[%s] = %q, want %q", name, ev.Failed[name], want)
		}
	}
	if n := logs.Count("alert notification failed"); n != 3 {
		t.Errorf("logged %d failed notifications, want 3", n)
	}
	if n := logs.Count("alert raised"); n != 1 {
		t.Errorf("logged %d raised alerts, want 1", n)
	}
	// The history and Active carry the outcome, as copies.
	h := e.History()
	if len(h) != 1 || !slices.Equal(h[0].Sent, []string{"ok"}) || h[0].Failed["bad"] == "" {
		t.Fatalf("History() = %+v, want the event with its outcome", h)
	}
	h[0].Failed["bad"] = "changed"
	if a := e.Active(); len(a) != 1 || a[0].Failed["bad"] != wantFailed["bad"] {
		t.Errorf("Active() = %+v, want the outcome unchanged by a caller", a)
	}
}

// barrier is a Notifier that returns only once all n barriers are inside
// Notify at the same time, proving the sends run concurrently.
type barrier struct {
	name string
	wg   *sync.WaitGroup
}

func (b barrier) Name() string { return b.name }
func (b barrier) Notify(ctx context.Context, _ alert.Event) error {
	b.wg.Done()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("the other notifiers were not called concurrently")
	}
}

func TestNotifiersRunConcurrently(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	wg.Add(3) // 3 notifiers × 1 event
	e := newEngine(t, &alert.Config{
		Thresholds:  alert.Thresholds{BudgetUse: 0.5},
		Notifiers:   []alert.Notifier{barrier{"a", &wg}, barrier{"b", &wg}, barrier{"c", &wg}},
		SendTimeout: 5 * time.Second,
	})
	evs := e.Evaluate(t.Context(), alert.Figures{BudgetUse: 1})
	if len(evs) != 1 || len(evs[0].Sent) != 3 {
		t.Fatalf("raised %+v, want one event sent by 3 notifiers", evs)
	}
}

func TestHistoryRing(t *testing.T) {
	t.Parallel()
	e := newEngine(t, &alert.Config{Thresholds: alert.Thresholds{MemoryUse: 0.5}, HistorySize: 3})
	if h := e.History(); len(h) != 0 {
		t.Fatalf("History() = %+v, want none", h)
	}
	for i := range 7 {
		use := 0.9
		if i%2 == 1 {
			use = 0.1
		}
		e.Evaluate(t.Context(), alert.Figures{MemoryUse: use})
		h := e.History()
		if want := min(i+1, 3); len(h) != want {
			t.Fatalf("after %d events History() has %d, want %d", i+1, len(h), want)
		}
		for j, ev := range h {
			if want := int64(i + 1 - j); ev.ID != want {
				t.Errorf("after %d events History()[%d].ID = %d, want %d", i+1, j, ev.ID, want)
			}
		}
	}
}

func TestNothingRaisedIsNil(t *testing.T) {
	t.Parallel()
	e := newEngine(t, &alert.Config{})
	if evs := e.Evaluate(t.Context(), alert.Figures{P95: time.Hour, ErrorRate: 1, MemoryUse: 1, BudgetUse: 1,
		Requests: 1000, DatabaseSizes: map[string]int64{"x": 1 << 40}}); evs != nil {
		t.Errorf("with every rule off Evaluate raised %+v", evs)
	}
}

func TestFiguresAt(t *testing.T) {
	t.Parallel()
	rec := &recorder{name: "rec"}
	e := newEngine(t, &alert.Config{Thresholds: alert.Thresholds{MemoryUse: 0.5}, Notifiers: []alert.Notifier{rec},
		Cooldown: time.Hour})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		at   time.Duration
		use  float64
		sent int
	}{
		{0, 0.9, 1}, {time.Minute, 0.1, 2}, {2 * time.Minute, 0.9, 2}, {2 * time.Hour, 0.9, 3},
	} {
		evs := e.Evaluate(t.Context(), alert.Figures{At: t0.Add(tc.at), MemoryUse: tc.use})
		if len(evs) != 1 || !evs[0].At.Equal(t0.Add(tc.at)) {
			t.Errorf("step %d: raised %+v, want one event at %v", i, evs, t0.Add(tc.at))
		}
		if got := len(rec.messages()); got != tc.sent {
			t.Errorf("step %d: %d sent, want %d", i, got, tc.sent)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rec := &recorder{name: "rec"}
	e := newEngine(t, &alert.Config{
		Thresholds: alert.Thresholds{MemoryUse: 0.5, DatabaseSizeBytes: 100, P95Latency: time.Millisecond},
		Notifiers:  []alert.Notifier{rec},
		Cooldown:   time.Nanosecond,
		// Each call gets a later time, so the cooldown always passes.
		Now:         func() time.Time { return time.Now() },
		HistorySize: 16,
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				use := 0.1
				if (i+g)%2 == 0 {
					use = 0.9
				}
				e.Evaluate(t.Context(), alert.Figures{
					Requests: 100, P95: time.Duration(i%3) * time.Millisecond, MemoryUse: use,
					DatabaseSizes: map[string]int64{fmt.Sprint("t", i%5): int64(i)},
				})
			}
		})
		wg.Go(func() {
			for range 200 {
				for _, ev := range e.History() {
					_ = ev.Message + strings.Join(ev.Sent, ",")
				}
				_ = e.Active()
				_ = e.Thresholds()
			}
		})
	}
	wg.Wait()
	h := e.History()
	if len(h) != 16 {
		t.Fatalf("History() has %d events, want 16", len(h))
	}
	for i := 1; i < len(h); i++ {
		if h[i].ID >= h[i-1].ID {
			t.Errorf("History() not newest first: %d before %d", h[i-1].ID, h[i].ID)
		}
	}
	if len(rec.messages()) == 0 {
		t.Error("nothing was sent")
	}
}

func assertEvents(t *testing.T, step string, got, want []alert.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: raised %d events %+v, want %d", step, len(got), got, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Rule != w.Rule || g.Subject != w.Subject || g.Message != w.Message ||
			g.Value != w.Value || g.Threshold != w.Threshold || g.Resolved != w.Resolved ||
			g.Suppressed != w.Suppressed || !g.At.Equal(w.At) || !slices.Equal(g.Sent, w.Sent) || len(g.Failed) != len(w.Failed) {
			t.Errorf("%s: event %d =\n %+v\nwant\n %+v", step, i, g, w)
		}
	}
}
