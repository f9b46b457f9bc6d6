package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimitConfig configures the API's rate limits: each credential and each
// client IP may make Attempts requests per fixed window of Decay, the
// window starting at its first request (like Laravel's throttle).
type RateLimitConfig struct {
	// Enabled turns rate limiting on.
	Enabled bool
	// Attempts is the number of requests per window; default 60.
	Attempts int
	// Decay is the length of a window; default one minute.
	Decay time.Duration
	// Shared, when set, keeps the windows where every node sees them (see
	// RedisCounter); while it fails, each node limits locally.
	Shared SharedCounter
}

// rateLimiter counts a request of key and says whether it may proceed.
type rateLimiter interface {
	hit(key string, now time.Time) rateState
}

// Defaults of RateLimitConfig.
const (
	DefaultRateLimitAttempts = 60
	DefaultRateLimitDecay    = time.Minute
)

// RateLimitFromEnv reads the rate limit settings: TENANCY_API_RATE_LIMIT
// (true or false, default true), TENANCY_API_RATE_LIMIT_ATTEMPTS (requests
// per window, default 60) and TENANCY_API_RATE_LIMIT_DECAY (the window in
// whole minutes, default 1). An invalid value is an error naming the
// variable.
func RateLimitFromEnv(getenv func(string) string) (RateLimitConfig, error) {
	c := RateLimitConfig{Enabled: true, Attempts: DefaultRateLimitAttempts, Decay: DefaultRateLimitDecay}
	if v := strings.TrimSpace(getenv("TENANCY_API_RATE_LIMIT")); v != "" {
		switch strings.ToLower(v) {
		case "true", "1", "yes", "on":
			c.Enabled = true
		case "false", "0", "no", "off":
			c.Enabled = false
		default:
			return RateLimitConfig{}, fmt.Errorf("TENANCY_API_RATE_LIMIT=%q: want true or false", v)
		}
	}
	if v := strings.TrimSpace(getenv("TENANCY_API_RATE_LIMIT_ATTEMPTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000_000 {
			return RateLimitConfig{}, fmt.Errorf("TENANCY_API_RATE_LIMIT_ATTEMPTS=%q: want a positive number of requests", v)
		}
		c.Attempts = n
	}
	if v := strings.TrimSpace(getenv("TENANCY_API_RATE_LIMIT_DECAY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 7*24*60 {
			return RateLimitConfig{}, fmt.Errorf("TENANCY_API_RATE_LIMIT_DECAY=%q: want a positive number of minutes (at most a week)", v)
		}
		c.Decay = time.Duration(n) * time.Minute
	}
	return c, nil
}

// maxLimiterKeys bounds the windows a limiter keeps. Keys beyond it share
// one overflow window, so memory stays bounded and a flood of new keys is
// still limited (together).
const maxLimiterKeys = 100_000

// overflowKey is the window of keys that found the limiter full.
const overflowKey = "\x00overflow"

// limiter counts requests per key in fixed windows. Expired windows are
// dropped once per window length, so memory holds only the keys seen in
// the last window or two.
type limiter struct {
	attempts int
	decay    time.Duration
	max      int

	mu        sync.Mutex
	windows   map[string]window
	nextSweep time.Time
}

type window struct {
	reset time.Time // when the window ends
	count int
}

func newLimiter(attempts int, decay time.Duration, maxKeys int) *limiter {
	return &limiter{attempts: attempts, decay: decay, max: maxKeys, windows: map[string]window{}}
}

// rateState is the outcome of one hit.
type rateState struct {
	set       bool
	ok        bool
	limit     int
	remaining int
	reset     time.Time
}

// hit counts a request of key at now.
func (l *limiter) hit(key string, now time.Time) rateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.nextSweep) {
		for k, w := range l.windows {
			if !now.Before(w.reset) {
				delete(l.windows, k)
			}
		}
		l.nextSweep = now.Add(l.decay)
	}
	w, found := l.windows[key]
	if !found && len(l.windows) >= l.max {
		key = overflowKey
		w = l.windows[key]
	}
	if !now.Before(w.reset) {
		w = window{reset: now.Add(l.decay)}
	}
	if w.count <= l.attempts {
		w.count++
	}
	l.windows[key] = w
	return rateState{set: true, ok: w.count <= l.attempts, limit: l.attempts, remaining: max(0, l.attempts-w.count), reset: w.reset}
}

// merge combines the per-IP and per-credential outcomes: the answer is
// refused if either is, and the headers describe the tighter one.
func (s rateState) merge(o rateState) rateState {
	if !s.set {
		return o
	}
	if !o.set {
		return s
	}
	out := s
	if o.remaining < s.remaining || (!o.ok && s.ok) {
		out = o
	}
	out.ok = s.ok && o.ok
	return out
}

// write sets the rate limit headers, and Retry-After when refused.
func (s rateState) write(h http.Header, now time.Time) {
	if !s.set {
		return
	}
	// One backing array for the three values.
	vals := []string{strconv.Itoa(s.limit), strconv.Itoa(s.remaining), strconv.FormatInt(ceilUnix(s.reset), 10)}
	h["X-Ratelimit-Limit"] = vals[0:1:1]
	h["X-Ratelimit-Remaining"] = vals[1:2:2]
	h["X-Ratelimit-Reset"] = vals[2:3:3]
	if !s.ok {
		h["Retry-After"] = []string{strconv.Itoa(s.retryAfter(now))}
	}
}

// retryAfter is the whole seconds until the window ends, at least 1.
func (s rateState) retryAfter(now time.Time) int {
	d := s.reset.Sub(now)
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// tooMany is the 429 answer.
func (s rateState) tooMany(now time.Time) error {
	return &apiError{Status: http.StatusTooManyRequests,
		Message: fmt.Sprintf("Too Many Attempts. The limit is %d requests per window; retry in %d seconds.", s.limit, s.retryAfter(now))}
}
