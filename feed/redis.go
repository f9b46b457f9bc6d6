package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/rediserr"
	"github.com/gotenancy/tenancy/resolve"
)

// DefaultChannel is the Redis channel of a RedisConfig without one.
const DefaultChannel = "tenancy:changes"

// PublishTimeout bounds each Publish, so that announcing a change never
// holds up the Manager call that made it for long.
const PublishTimeout = 250 * time.Millisecond

// connectTimeout bounds NewRedis's PING.
const connectTimeout = 2 * time.Second

// The background retry of a feed that could not reach Redis at start
// pings it every reconnectMin at first, then twice as long after each
// failure, up to reconnectMax.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// logEvery is the least time between two logs of failed publishes.
const logEvery = 10 * time.Second

// retryEvery is how often the Hook's failed announcements are retried.
const retryEvery = time.Second

// ErrClosed is returned by Watch once the feed is closed.
var ErrClosed = errors.New("feed: closed")

// RedisConfig configures a Redis feed.
type RedisConfig struct {
	// URL locates the Redis server, as redis.ParseURL reads it
	// (redis://[user:password@]host:port/db, rediss:// for TLS); required.
	URL string
	// Channel is the pub/sub channel every node of a deployment uses;
	// default DefaultChannel. (Pub/sub channels ignore the URL's database
	// number: deployments sharing one server need different channels.)
	Channel string
	// Logger receives resubscriptions after a lost connection and failed
	// announcements (rate-limited); default slog.Default().
	Logger *slog.Logger
}

// Redis is a change feed over Redis pub/sub: Publish and Hook announce
// changes, Watch hears them. It is safe for concurrent use; one Redis can
// serve the Hook and any number of Watch calls.
type Redis struct {
	client  *redis.Client
	channel string
	log     *slog.Logger

	failures failureLog
	retry    chan struct{} // a failed announcement waits to be retried

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

var _ resolve.Watcher = (*Redis)(nil)

// NewRedis makes a feed over the Redis server at cfg.URL and PINGs it
// (within ctx, and two seconds at most). It fails when the configuration
// is invalid or Redis refuses it (a wrong password, a database it does not
// have), so that such mistakes are found at start. A server that cannot be
// reached is not an error: a node must start, and its operators act,
// during a Redis outage. NewRedis then logs a warning and returns the
// feed, which keeps trying in the background (with a growing delay, up to
// five seconds) and logs when Redis answers; meanwhile the Hook's
// announcements fail (logged, and retried) and Watch waits to subscribe.
// The nodes still learn of each other's changes through their catalog
// watchers (see Multi).
func NewRedis(ctx context.Context, cfg *RedisConfig) (*Redis, error) {
	if cfg == nil || cfg.URL == "" {
		return nil, errors.New("feed: RedisConfig.URL is required")
	}
	c := *cfg
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("feed: RedisConfig.URL: %w", err)
	}
	// Publishes are bounded by their context (PublishTimeout), dialling
	// included.
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	client := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	pingErr := client.Ping(pctx).Err()
	if pingErr != nil && rediserr.Refused(pingErr) {
		client.Close()
		return nil, fmt.Errorf("feed: ping redis at %s: %w", opt.Addr, pingErr)
	}
	f := &Redis{
		client:   client,
		channel:  c.Channel,
		log:      c.Logger,
		failures: failureLog{log: c.Logger, every: logEvery},
		retry:    make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
	f.wg.Go(f.retrier)
	if pingErr != nil {
		if ctx.Err() != nil {
			client.Close()
			return nil, ctx.Err()
		}
		f.log.Warn("feed: redis unreachable at start; carrying on without it and retrying in the background (the other nodes see this node's changes through their catalog watchers meanwhile)",
			"addr", opt.Addr, "err", pingErr)
		f.wg.Go(func() { f.reconnect(opt.Addr) })
	}
	return f, nil
}

// reconnect pings Redis, with a growing delay between tries, until it
// answers or the feed is closed, and logs when it answers. (go-redis
// reconnects by itself; this is what tells the operator the outage at
// start is over.)
func (f *Redis) reconnect(addr string) {
	wait := reconnectMin
	for {
		select {
		case <-f.closed:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		err := f.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			f.log.Info("feed: redis answers; announcing and hearing changes through it", "addr", addr)
			return
		}
		wait = min(2*wait, reconnectMax)
	}
}

// Close stops the feed: running Watch calls return ErrClosed, and the
// connections to Redis are closed.
func (f *Redis) Close() error {
	var err error
	f.closeOnce.Do(func() {
		close(f.closed)
		f.wg.Wait()
		err = f.client.Close()
	})
	return err
}

// Publish announces that a tenant changed, by its uuid; "" means "reload
// everything". It gives up after PublishTimeout (or ctx's earlier
// deadline). Every node subscribed at that moment hears it, this one
// included.
func (f *Redis) Publish(ctx context.Context, tenantUUID string) error {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	if err := f.client.Publish(ctx, f.channel, tenantUUID).Err(); err != nil {
		return fmt.Errorf("feed: publish to redis channel %q: %w", f.channel, err)
	}
	return nil
}

// Hook returns a tenancy.Hook that publishes the tenant of every event it
// is given. Register it on the Manager for every change that affects how
// tenants are served:
//
//	for _, kind := range []tenancy.EventKind{
//		tenancy.EventCreated, tenancy.EventUpdated, tenancy.EventStatusChanged,
//		tenancy.EventDeleted, tenancy.EventDomainAdded, tenancy.EventDomainRemoved,
//	} {
//		m.On(kind, f.Hook())
//	}
//
// The change is committed when the hook runs, so the hook publishes even if
// the caller's context has been cancelled, waits PublishTimeout at most, and
// never returns an error: while Redis is away every change would otherwise
// be logged as a failed hook. It logs failures itself, at most once every
// ten seconds, and retries them in the background: every second it
// publishes "" (reload everything) until that succeeds. So a change whose
// announcement failed reaches the other nodes once this node reaches Redis
// again, even those whose subscriptions never broke.
func (f *Redis) Hook() tenancy.Hook {
	return func(ctx context.Context, e tenancy.Event) error {
		var id string
		if e.Tenant != nil {
			id = e.Tenant.UUID
		}
		if err := f.Publish(context.WithoutCancel(ctx), id); err != nil {
			f.failures.failed(string(e.Kind), id, err)
			select {
			case f.retry <- struct{}{}:
			default: // a retry is pending already
			}
		} else {
			f.failures.succeeded()
		}
		return nil
	}
}

// Watch implements resolve.Watcher. It subscribes to the channel and calls
// onChange:
//
//   - once as soon as the subscription is confirmed: changes published
//     before it cannot be heard, so the caller reloads what it read before;
//   - after messages: the first at once, then at most once per interval,
//     a burst of messages within an interval making one call at its end;
//   - whenever the subscription is re-established after the connection to
//     Redis was lost, since the messages published meanwhile are lost.
//
// While Redis is away Watch keeps trying to resubscribe (go-redis
// reconnects by itself, within about a second of Redis's return); it
// returns nil when ctx is done and ErrClosed when the feed is closed. onChange runs on
// Watch's goroutine and should return quickly.
func (f *Redis) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	if interval <= 0 {
		return fmt.Errorf("feed: watch interval must be positive, got %s", interval)
	}
	if onChange == nil {
		return errors.New("feed: watch needs an onChange function")
	}
	select {
	case <-f.closed:
		return ErrClosed
	default:
	}
	// Subscribe registers the channel even when it cannot reach Redis; the
	// receiving goroutine then subscribes as soon as it connects.
	ps := f.client.Subscribe(ctx, f.channel)
	defer ps.Close()
	msgs := ps.ChannelWithSubscriptions()

	var (
		subscriptions int
		last          time.Time // the last call of onChange
		timer         *time.Timer
		timerC        <-chan time.Time // non-nil while a call is pending
	)
	call := func() {
		if timer != nil {
			timer.Stop()
		}
		timerC = nil
		last = time.Now()
		onChange()
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.closed:
			return ErrClosed
		case <-timerC:
			call()
		case m, ok := <-msgs:
			if !ok {
				select {
				case <-f.closed:
					return ErrClosed
				default:
				}
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("feed: subscription to redis channel %q ended", f.channel)
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" || m.Channel != f.channel {
					continue
				}
				subscriptions++
				if subscriptions > 1 {
					f.log.InfoContext(ctx, "feed: resubscribed to redis after losing the connection; reloading", "channel", f.channel)
				}
				call()
			case *redis.Message:
				switch wait := time.Until(last.Add(interval)); {
				case timerC != nil:
					// The pending call covers this message.
				case wait <= 0:
					call()
				default:
					if timer == nil {
						timer = time.NewTimer(wait)
					} else {
						timer.Reset(wait)
					}
					timerC = timer.C
				}
			}
		}
	}
}

// retrier publishes "" after the Hook failed to publish, every retryEvery
// until it succeeds, until the feed is closed.
func (f *Redis) retrier() {
	for {
		select {
		case <-f.closed:
			return
		case <-f.retry:
		}
		for {
			select {
			case <-f.closed:
				return
			case <-time.After(retryEvery):
			}
			// A failure the Hook met meanwhile is covered by this retry.
			select {
			case <-f.retry:
			default:
			}
			if err := f.Publish(context.Background(), ""); err == nil {
				f.failures.succeeded()
				break
			}
		}
	}
}

// failureLog logs failed publishes at most once per interval, with the
// count of those it did not log, and the first success after a logged
// failure.
type failureLog struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
	down       bool
}

// failed records a failed publish.
func (l *failureLog) failed(event, tenant string, err error) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed, l.down = now, 0, true
	l.mu.Unlock()
	l.log.Warn("feed: could not announce a change over redis; the other nodes see it through their catalog watchers, and reload when their redis subscriptions recover",
		"event", event, "tenant", tenant, "err", err, "failures_not_logged", suppressed, "next_log_in", l.every)
}

// succeeded records a successful publish.
func (l *failureLog) succeeded() {
	l.mu.Lock()
	down := l.down
	l.down = false
	l.mu.Unlock()
	if down {
		l.log.Info("feed: announcing changes through redis again")
	}
}
