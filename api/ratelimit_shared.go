package api

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// SharedCounter counts requests in windows shared by every node, so that a
// client's limit holds across the cluster. Hit adds one request to key's
// window of length decay and returns the window's count and the time left
// in it.
type SharedCounter interface {
	Hit(ctx context.Context, key string, decay time.Duration) (count int64, left time.Duration, err error)
}

// RedisCounter is a SharedCounter in Redis: one key per window, INCR then
// PEXPIRE on the first request, in one script so the window cannot be left
// without an expiry.
type RedisCounter struct {
	client *redis.Client
	prefix string
}

var _ SharedCounter = (*RedisCounter)(nil)

// hitScript increments the window and sets its expiry on the first hit;
// it returns the count and the milliseconds left.
var hitScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`)

// NewRedisCounter connects to the Redis at url (redis://…).
func NewRedisCounter(url string) (*RedisCounter, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	opts.MaxRetries = -1
	return &RedisCounter{client: redis.NewClient(opts), prefix: "tenancy:ratelimit:"}, nil
}

// Hit implements SharedCounter.
func (c *RedisCounter) Hit(ctx context.Context, key string, decay time.Duration) (int64, time.Duration, error) {
	res, err := hitScript.Run(ctx, c.client, []string{c.prefix + key}, decay.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

// Close closes the connection.
func (c *RedisCounter) Close() error { return c.client.Close() }

// sharedLimiter limits through a SharedCounter and falls back to the local
// limiter while the counter fails (Redis down): the node keeps serving with
// local limits, logs it (at most every 10 s) and uses the shared windows
// again as soon as they answer.
type sharedLimiter struct {
	counter SharedCounter
	local   *limiter
	log     *slog.Logger
	lastLog atomic.Int64
}

func (s *sharedLimiter) hit(key string, now time.Time) rateState {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	n, left, err := s.counter.Hit(ctx, key, s.local.decay)
	if err != nil {
		if last := s.lastLog.Load(); now.UnixNano()-last > int64(10*time.Second) && s.lastLog.CompareAndSwap(last, now.UnixNano()) {
			s.log.Warn("api: shared rate limits unavailable, limiting locally", "err", err)
		}
		return s.local.hit(key, now)
	}
	limit := s.local.attempts
	return rateState{set: true, ok: n <= int64(limit), limit: limit, remaining: max(0, limit-int(n)), reset: now.Add(left)}
}
