package feed_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/feed"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
)

// deliverWithin is how soon a node must hear another node's change.
const deliverWithin = time.Second

// testChannel returns a pub/sub channel of the test's own.
func testChannel() string {
	return "tenancytest:changes:" + strings.ToLower(rand.Text()[:12])
}

// newFeed returns a feed on the server at url, closed when the test ends.
func newFeed(t *testing.T, url, channel string, log *slog.Logger) *feed.Redis {
	t.Helper()
	f, err := feed.NewRedis(context.Background(), &feed.RedisConfig{URL: url, Channel: channel, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// heard waits deliverWithin for w's onChange to have been called n times.
func heard(t *testing.T, w *watchertest.Watch, n int64, what string) {
	t.Helper()
	testwait.Within(t, deliverWithin, what, func() bool { return w.Calls() >= n })
}

// TestWatcherConformance runs the watcher suite on a feed watched by one
// node and published to by another.
func TestWatcherConformance(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	watchertest.Run(t, watchertest.Harness{
		New: func(t *testing.T) (model.Watcher, func(t *testing.T)) {
			channel := testChannel()
			watched := newFeed(t, url, channel, nil)
			other := newFeed(t, url, channel, nil)
			return watched, func(t *testing.T) {
				t.Helper()
				if err := other.Publish(context.Background(), "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"); err != nil {
					t.Fatal(err)
				}
			}
		},
		Close:     func(w model.Watcher) error { return w.(*feed.Redis).Close() },
		ErrClosed: feed.ErrClosed,
	})
}

// TestNewRedisConfig: a configuration Redis refuses (a password it does
// not take, a database it does not have) is an error at start, unlike an
// absent server.
func TestNewRedisConfig(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*feed.RedisConfig{
		nil,
		{},
		{URL: "http://example.com"},
		{URL: "redis://tenancy-wrong-user:wrong@" + opt.Addr + "/0"},
		{URL: "redis://" + opt.Addr + "/100000"},
	} {
		if f, err := feed.NewRedis(context.Background(), cfg); err == nil {
			f.Close()
			t.Errorf("NewRedis(%+v) succeeded, want an error", cfg)
		}
	}
}

// TestStartsWithoutRedis: a feed made while Redis is down is made all the
// same, with a warning; its Hook and Watch ride out the absence, and once
// the server is there the background retry says so, the watcher
// subscribes and announcements go through.
func TestStartsWithoutRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	s.Stop()
	channel := testChannel()
	logs := &testenv.LogRecorder{}
	var a *feed.Redis
	within(t, "NewRedis with the server down", func() { a = newFeed(t, s.URL(), channel, slog.New(logs)) })
	if n := logs.Count("feed: redis unreachable"); n != 1 {
		t.Fatalf("the unreachable server was logged %d times at start, want once", n)
	}
	w := watchertest.Start(t, a, 10*time.Millisecond)
	hook := a.Hook()
	if err := hook(ctx, tenancy.Event{Kind: tenancy.EventStatusChanged, Tenant: &tenancy.Tenant{UUID: "x"}}); err != nil {
		t.Fatalf("the Hook with the server down: %v, want nil", err)
	}
	if n := w.Calls(); n != 0 {
		t.Fatalf("onChange called %d times with the server down, want 0", n)
	}

	s.Start()
	testwait.Eventually(t, "the background retry to see the server", func() bool {
		return logs.Count("feed: redis answers") == 1
	})
	w.Wait(t, 1, "the subscription once the server is up")
	if err := a.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	heard(t, w, 2, "a change")
}

// TestPublishReachesOtherNode: two feeds on one server are two nodes; a
// publish on one reaches the other's watcher.
func TestPublishReachesOtherNode(t *testing.T) {
	t.Parallel()
	url, channel := testenv.RedisURL(t), testChannel()
	a := newFeed(t, url, channel, nil)
	b := newFeed(t, url, channel, nil)
	w := watchertest.Start(t, b, 10*time.Millisecond)
	w.Wait(t, 1, "the first onChange, when the subscription is confirmed")

	for i := range int64(3) {
		if err := a.Publish(context.Background(), "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"); err != nil {
			t.Fatal(err)
		}
		heard(t, w, 2+i, "node B to hear node A's change")
	}
	// Another channel hears nothing.
	other := watchertest.Start(t, newFeed(t, url, testChannel(), nil), 10*time.Millisecond)
	other.Wait(t, 1, "the other channel's subscription")
	if err := a.Publish(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	heard(t, w, 5, "node B to hear the reload-everything message")
	if n := other.Calls(); n != 1 {
		t.Fatalf("a watcher of another channel was called %d times, want 1 (its subscription)", n)
	}
}

// TestHookPublishesTenant reads the messages the Hook sends.
func TestHookPublishesTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, channel := testenv.RedisURL(t), testChannel()
	f := newFeed(t, url, channel, nil)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ps := client.Subscribe(ctx, channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}

	hook := f.Hook()
	// The change is committed when the hook runs: a cancelled request
	// context must not stop the announcement.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	const id = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"
	if err := hook(cancelled, tenancy.Event{Kind: tenancy.EventStatusChanged, Tenant: &tenancy.Tenant{UUID: id}}); err != nil {
		t.Fatal(err)
	}
	if err := hook(ctx, tenancy.Event{Kind: tenancy.EventDeleted}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{id, ""} {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := ps.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if m.Payload != want {
			t.Fatalf("message %q, want %q", m.Payload, want)
		}
	}
}

// TestWatchCoalesces publishes a burst: the watcher calls onChange for the
// burst, but far fewer times than there were messages.
func TestWatchCoalesces(t *testing.T) {
	t.Parallel()
	url, channel := testenv.RedisURL(t), testChannel()
	a := newFeed(t, url, channel, nil)
	const interval = 200 * time.Millisecond
	w := watchertest.Start(t, newFeed(t, url, channel, nil), interval)
	w.Wait(t, 1, "the subscription")

	const burst = 100
	start := time.Now()
	for range burst {
		if err := a.Publish(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	w.Wait(t, 2, "the burst to be reported")
	// One more message, published once the burst was heard, closes it:
	// messages are handled in order, so the burst's calls, the trailing
	// one included, come before or with the one for this message. At
	// most one call per interval while the burst lasted, one at its end,
	// one to spare, and one for this message.
	next := w.Mark()
	if err := a.Publish(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, next, 1, "the message after the burst")
	limit := 1 + 3 + int64(took/interval) + 1
	if n := w.Calls(); n > limit {
		t.Fatalf("%d messages in %s made %d onChange calls (one after them), want at most %d", burst, took, n, limit)
	}
}

// TestRedisGoesAway kills the server under two nodes: publishing fails
// without hanging and the Hook swallows the failure; when the server is
// back, the watcher resubscribes and calls onChange (the node reloads),
// and later changes arrive again.
func TestRedisGoesAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	channel := testChannel()
	logs := &testenv.LogRecorder{}
	a := newFeed(t, s.URL(), channel, slog.New(logs))
	b := newFeed(t, s.URL(), channel, slog.New(logs))
	w := watchertest.Start(t, b, 10*time.Millisecond)
	w.Wait(t, 1, "the subscription")
	if err := a.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	heard(t, w, 2, "a change")

	s.Stop()
	before := w.Calls()
	hook := a.Hook()
	for range 10 {
		within(t, "Publish with the server down", func() {
			if err := a.Publish(ctx, ""); err == nil {
				t.Fatal("Publish with the server down succeeded")
			}
		})
		within(t, "the Hook with the server down", func() {
			if err := hook(ctx, tenancy.Event{Kind: tenancy.EventUpdated, Tenant: &tenancy.Tenant{UUID: "x"}}); err != nil {
				t.Fatalf("the Hook returned %v; it must not report Redis's absence as a hook failure", err)
			}
		})
	}
	if n := logs.Count("feed: could not announce"); n != 1 {
		t.Fatalf("10 failed announcements logged %d times, want once (rate-limited)", n)
	}

	s.Start()
	// The Hook's retry will publish too; the log tells the resubscription's
	// own call (logged just before it) apart.
	testwait.Eventually(t, "onChange after resubscribing (reload on reconnect)", func() bool {
		return logs.Count("feed: resubscribed") == 1 && w.Calls() > before
	})
	testwait.Eventually(t, "publishing to work again", func() bool {
		return a.Publish(ctx, "") == nil
	})
	after := w.Calls()
	if err := a.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	heard(t, w, after+1, "a change after the restart")
}

// TestHookRetries cuts one node off Redis while the other stays
// subscribed: the change the cut-off node could not announce reaches the
// other node once the cut-off node is back, with no subscription broken.
func TestHookRetries(t *testing.T) {
	t.Parallel()
	url, channel := testenv.RedisURL(t), testChannel()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.StartProxy(t, opt.Addr)
	a := newFeed(t, "redis://"+p.Addr(), channel, slog.New(&testenv.LogRecorder{}))
	w := watchertest.Start(t, newFeed(t, url, channel, nil), 10*time.Millisecond)
	w.Wait(t, 1, "the subscription")

	p.Cut()
	hook := a.Hook()
	if err := hook(context.Background(), tenancy.Event{Kind: tenancy.EventStatusChanged, Tenant: &tenancy.Tenant{UUID: "x"}}); err != nil {
		t.Fatal(err)
	}
	if n := w.Calls(); n != 1 {
		t.Fatalf("the watcher heard %d changes while the publisher was cut off, want none", n-1)
	}
	p.Restore()
	w.Wait(t, 2, "the retried announcement")
}

// within runs fn and fails t if it took long enough to count as hanging:
// the bound is far above PublishTimeout, so it only catches calls that
// wait for a server that is not there.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	const hang = 3 * time.Second
	start := time.Now()
	fn()
	if d := time.Since(start); d > hang {
		t.Fatalf("%s took %s; it must give up after PublishTimeout", what, d)
	}
}
