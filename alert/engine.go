package alert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of Config and Thresholds.
const (
	DefaultCooldown    = 15 * time.Minute
	DefaultHistorySize = 200
	DefaultMinRequests = 20
	DefaultSendTimeout = 10 * time.Second
)

// Thresholds are the rules' limits. A zero threshold turns its rule off.
type Thresholds struct {
	// DatabaseSizeBytes fires for any tenant database larger than this
	// (the event's Subject is the tenant's uuid).
	DatabaseSizeBytes int64
	// P95Latency fires when the node's p95 request latency over the
	// figures' interval is above it.
	P95Latency time.Duration
	// ErrorRate fires when the share (0…1) of 5xx responses over the
	// figures' interval is above it.
	ErrorRate float64
	// MinRequests is the fewest requests (Figures.Requests) an interval
	// needs for the error-rate and latency rules to look at it (default
	// 20); an interval with fewer leaves those rules as they were. The
	// interval is the caller's: tenancy's server passes the last 30
	// monitoring samples, so that a quiet node is judged too.
	MinRequests int
	// MemoryUse fires when the share (0…1) of the process's RSS over its
	// memory limit is above it.
	MemoryUse float64
	// BudgetUse fires when the share (0…1) of open tenant databases over
	// the connection budget is above it.
	BudgetUse float64
}

// validate checks t and fills MinRequests's default.
func (t *Thresholds) validate() error {
	var errs []error
	if t.DatabaseSizeBytes < 0 {
		errs = append(errs, &ConfigError{Name: "Thresholds.DatabaseSizeBytes", Value: strconv.FormatInt(t.DatabaseSizeBytes, 10), Reason: "is negative"})
	}
	if t.P95Latency < 0 {
		errs = append(errs, &ConfigError{Name: "Thresholds.P95Latency", Value: t.P95Latency.String(), Reason: "is negative"})
	}
	if t.MinRequests < 0 {
		errs = append(errs, &ConfigError{Name: "Thresholds.MinRequests", Value: strconv.Itoa(t.MinRequests), Reason: "is negative"})
	}
	for _, s := range []struct {
		name string
		v    float64
	}{
		{"Thresholds.ErrorRate", t.ErrorRate},
		{"Thresholds.MemoryUse", t.MemoryUse},
		{"Thresholds.BudgetUse", t.BudgetUse},
	} {
		if math.IsNaN(s.v) || s.v < 0 || s.v > 1 {
			errs = append(errs, &ConfigError{Name: s.name, Value: strconv.FormatFloat(s.v, 'g', -1, 64), Reason: "is not a share from 0 to 1"})
		}
	}
	if t.MinRequests == 0 {
		t.MinRequests = DefaultMinRequests
	}
	return errors.Join(errs...)
}

// Figures are a node's figures for one evaluation; the caller converts its
// monitoring sample into them.
type Figures struct {
	// At is when the figures were measured; the engine's clock
	// (Config.Now) when zero. It is the time of the events raised and the
	// clock of the cooldown.
	At time.Time
	// Node names the node in messages (optional).
	Node string
	// Requests counts the requests of the interval the request figures
	// cover (one sample, or a window of recent samples).
	Requests int
	// P95 is the interval's 95th percentile request latency.
	P95 time.Duration
	// ErrorRate is the interval's share (0…1) of 5xx responses.
	ErrorRate float64
	// MemoryUse is the share (0…1) of RSS over the memory limit; 0 when
	// there is no known limit.
	MemoryUse float64
	// BudgetUse is the share (0…1) of open tenant databases over the
	// connection budget.
	BudgetUse float64
	// DatabaseSizes maps tenant uuids to their database's size in bytes.
	// Nil when the sizes were not measured this time: the database-size
	// conditions then stay as they were. When not nil, a firing tenant
	// missing from it (deleted, say) is resolved.
	DatabaseSizes map[string]int64
	// TenantNames maps tenant uuids to names for messages (optional).
	TenantNames map[string]string
}

// Notifier sends an event to one channel.
type Notifier interface {
	// Name names the channel in Event.Sent and Event.Failed; the notifiers
	// of one Engine have distinct names.
	Name() string
	// Notify sends e, returning when the channel accepted or refused it or
	// ctx ended.
	Notify(ctx context.Context, e Event) error
}

// Config configures an Engine. The zero value is valid: no rule is on and
// nothing is sent.
type Config struct {
	// Thresholds are the rules' limits.
	Thresholds Thresholds
	// Notifiers receive every event raised, concurrently.
	Notifiers []Notifier
	// Cooldown (default 15m) is how long after a condition sent a message
	// the same rule and subject stay quiet; a condition that stays true
	// sends one message however long it lasts.
	Cooldown time.Duration
	// HistorySize (default 200) is the number of recent events History
	// keeps.
	HistorySize int
	// SendTimeout (default 10s) bounds each notifier's Notify call.
	SendTimeout time.Duration
	// Logger receives raised events and failed notifications; discarded
	// when nil.
	Logger *slog.Logger
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// key identifies a condition.
type key struct {
	rule, subject string
}

// condition is a firing condition's state.
type condition struct {
	// event is the start event shown by Active.
	event Event
	// notified is true when the condition's start was sent (not
	// suppressed by the cooldown).
	notified bool
	// label names the tenant in resolution messages (database size).
	label string
}

// Engine evaluates the rules and sends, records and reports their events.
// Its methods are safe for concurrent use; Evaluate calls run one at a time.
type Engine struct {
	th        Thresholds
	notifiers []Notifier
	cooldown  time.Duration
	timeout   time.Duration
	log       *slog.Logger
	now       func() time.Time

	evalMu sync.Mutex // serializes Evaluate

	mu       sync.Mutex // guards the fields below
	nextID   int64
	firing   map[key]*condition
	lastSent map[key]time.Time
	history  []Event // ring buffer, len ≤ cap; next is the oldest when full
	next     int
}

// New returns an Engine for cfg (nil is the zero Config), with the defaults
// filled. It returns a *ConfigError (several joined) for a negative
// threshold or duration, a share above 1, a nil notifier or two notifiers
// with the same name.
func New(cfg *Config) (*Engine, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	var errs []error
	if err := c.Thresholds.validate(); err != nil {
		errs = append(errs, err)
	}
	names := make(map[string]bool, len(c.Notifiers))
	for i, n := range c.Notifiers {
		field := fmt.Sprintf("Notifiers[%d]", i)
		if n == nil {
			errs = append(errs, &ConfigError{Name: field, Value: "nil", Reason: "is nil"})
			continue
		}
		if names[n.Name()] {
			errs = append(errs, &ConfigError{Name: field, Value: n.Name(), Reason: "has the name of an earlier notifier"})
		}
		names[n.Name()] = true
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Cooldown", &c.Cooldown, DefaultCooldown},
		{"SendTimeout", &c.SendTimeout, DefaultSendTimeout},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, &ConfigError{Name: d.name, Value: d.v.String(), Reason: "is negative"})
		case *d.v == 0:
			*d.v = d.def
		}
	}
	switch {
	case c.HistorySize < 0:
		errs = append(errs, &ConfigError{Name: "HistorySize", Value: strconv.Itoa(c.HistorySize), Reason: "is negative"})
	case c.HistorySize == 0:
		c.HistorySize = DefaultHistorySize
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Engine{
		th:        c.Thresholds,
		notifiers: slices.Clone(c.Notifiers),
		cooldown:  c.Cooldown,
		timeout:   c.SendTimeout,
		log:       c.Logger,
		now:       c.Now,
		firing:    make(map[key]*condition),
		lastSent:  make(map[key]time.Time),
		history:   make([]Event, 0, c.HistorySize),
	}, nil
}

// Thresholds returns the engine's thresholds, defaults filled.
func (e *Engine) Thresholds() Thresholds { return e.th }

// observation is one rule's verdict on one subject in one evaluation.
type observation struct {
	key
	on               bool
	value, threshold float64
	message          string // the event's message: the start's or the resolution's
	label            string // the tenant's label (database size)
}

// Evaluate checks every enabled rule against f. A condition that starts
// raises an Event, sent to every notifier concurrently (each send bounded by
// Config.SendTimeout) unless the cooldown suppresses it; a condition that
// ends raises a Resolved event, sent likewise. Evaluate returns when the
// sends are done, with the events raised by this call, their Sent and
// Failed filled in; nil when nothing changed.
func (e *Engine) Evaluate(ctx context.Context, f Figures) []Event {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	now := f.At
	if now.IsZero() {
		now = e.now()
	}

	e.mu.Lock()
	var raised []*Event
	var send []bool
	for _, o := range e.observe(f) {
		c := e.firing[o.key]
		switch {
		case o.on && c == nil: // the condition starts
			ev := e.newEvent(o, now, false)
			notify := e.cooledDown(o.key, now)
			ev.Suppressed = !notify
			if notify {
				e.lastSent[o.key] = now
			}
			e.firing[o.key] = &condition{event: *ev, notified: notify, label: o.label}
			raised, send = append(raised, ev), append(send, notify)
		case o.on && !c.notified && e.cooledDown(o.key, now): // a suppressed start outlasted the cooldown
			ev := e.newEvent(o, now, false)
			e.lastSent[o.key] = now
			c.event, c.notified = *ev, true
			raised, send = append(raised, ev), append(send, true)
		case !o.on && c != nil: // the condition ends
			ev := e.newEvent(o, now, true)
			ev.Suppressed = !c.notified
			delete(e.firing, o.key)
			raised, send = append(raised, ev), append(send, c.notified)
		}
	}
	// Forget the cooldowns that passed for conditions no longer firing.
	for k, t := range e.lastSent {
		if e.firing[k] == nil && now.Sub(t) >= e.cooldown {
			delete(e.lastSent, k)
		}
	}
	e.mu.Unlock()
	if len(raised) == 0 {
		return nil
	}

	for i, ev := range raised {
		level, what := slog.LevelWarn, "alert raised"
		switch {
		case ev.Resolved:
			level, what = slog.LevelInfo, "alert resolved"
		case !send[i]:
			level = slog.LevelInfo
		}
		e.log.Log(ctx, level, what, "id", ev.ID, "rule", ev.Rule, "subject", ev.Subject,
			"message", ev.Message, "suppressed", ev.Suppressed)
	}
	e.send(ctx, raised, send)

	out := make([]Event, len(raised))
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, ev := range raised {
		if c := e.firing[key{ev.Rule, ev.Subject}]; c != nil && c.event.ID == ev.ID {
			c.event = cloneEvent(*ev)
		}
		e.record(*ev)
		out[i] = cloneEvent(*ev)
	}
	return out
}

// cooledDown reports whether k may send at now. The caller holds e.mu.
func (e *Engine) cooledDown(k key, now time.Time) bool {
	t, ok := e.lastSent[k]
	return !ok || now.Sub(t) >= e.cooldown
}

// newEvent numbers a new event for o. The caller holds e.mu.
func (e *Engine) newEvent(o observation, at time.Time, resolved bool) *Event {
	e.nextID++
	return &Event{
		ID:        e.nextID,
		Rule:      o.rule,
		Subject:   o.subject,
		Message:   o.message,
		Value:     o.value,
		Threshold: o.threshold,
		Resolved:  resolved,
		At:        at,
	}
}

// send sends the events marked in send to every notifier concurrently and
// fills their Sent and Failed.
func (e *Engine) send(ctx context.Context, evs []*Event, send []bool) {
	errs := make([][]error, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		if !send[i] {
			continue
		}
		errs[i] = make([]error, len(e.notifiers))
		for j, n := range e.notifiers {
			wg.Go(func() { errs[i][j] = e.notify(ctx, n, *ev) })
		}
	}
	wg.Wait()
	for i, ev := range evs {
		if !send[i] {
			continue
		}
		for j, n := range e.notifiers {
			err := errs[i][j]
			if err == nil {
				ev.Sent = append(ev.Sent, n.Name())
				continue
			}
			if ev.Failed == nil {
				ev.Failed = make(map[string]string)
			}
			ev.Failed[n.Name()] = err.Error()
			e.log.Warn("alert notification failed", "notifier", n.Name(), "id", ev.ID,
				"rule", ev.Rule, "subject", ev.Subject, "err", err)
		}
	}
}

// notify calls n.Notify with the send timeout, turning a panic into an error.
func (e *Engine) notify(ctx context.Context, n Notifier, ev Event) (err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("notifier panicked: %v", p)
		}
	}()
	return n.Notify(ctx, ev)
}

// record adds ev to the history ring. The caller holds e.mu.
func (e *Engine) record(ev Event) {
	if len(e.history) < cap(e.history) {
		e.history = append(e.history, ev)
		return
	}
	e.history[e.next] = ev
	e.next = (e.next + 1) % len(e.history)
}

// History returns the recent events (at most Config.HistorySize), newest
// first. Events appear once their sends are done.
func (e *Engine) History() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Event, 0, len(e.history))
	for i := range len(e.history) {
		// Newest first: the one before next, going backwards.
		j := (e.next - 1 - i + 2*len(e.history)) % len(e.history)
		out = append(out, cloneEvent(e.history[j]))
	}
	return out
}

// Active returns the start events of the conditions firing now, by rule
// and subject.
func (e *Engine) Active() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Event, 0, len(e.firing))
	for _, c := range e.firing {
		out = append(out, cloneEvent(c.event))
	}
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject))
	})
	return out
}

// cloneEvent copies ev's slice and map, so callers cannot share them.
func cloneEvent(ev Event) Event {
	ev.Sent = slices.Clone(ev.Sent)
	ev.Failed = maps.Clone(ev.Failed)
	return ev
}
