package rediscache

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxPendingTenants bounds the namespaces a Cache remembers to invalidate
// one by one; past it, it invalidates every namespace (the epoch) instead.
const maxPendingTenants = 10000

// The background retry after a failure tries every reconnectMin at first,
// then twice as long after each failure, up to reconnectMax.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// scripts are a Cache's Lua scripts. Their source names the Cache's
// prefix, so their SHA1s are the prefix's own: no other user of the
// server loads them, and only this package's recovery (which bumps the
// epoch first) does. A server that answers NOSCRIPT has therefore lost
// its scripts since the deployment last used them: it restarted (or its
// script cache was flushed), and what it kept of its data may be older
// than writes it acknowledged or writes that failed.
type scripts struct {
	get, set, del *redis.Script
}

func newScripts(prefix string) scripts {
	head := "-- tenancy rediscache, prefix " + strconv.Quote(prefix) + "\n" + entryKeyLua
	return scripts{
		get: redis.NewScript(head + getLua),
		set: redis.NewScript(head + setLua),
		del: redis.NewScript(head + delLua),
	}
}

func (s scripts) all() []*redis.Script { return []*redis.Script{s.get, s.set, s.del} }

// pending are the invalidations a Cache owes after failures: the
// namespaces whose writes (Set, Delete, Flush) failed, so that a value
// they meant to replace is never served again, and the whole cache (the
// epoch) when a FlushAll failed, too many namespaces are owed, or Redis
// restarted. Until they are carried out (settle), operations do not read
// from Redis.
type pending struct {
	// owed is non-zero while anything is owed: the hot path's check.
	owed atomic.Int32
	// failures counts the failed writes recorded: a Get that saw it
	// change while it ran may have read a value a failed write meant to
	// replace, and reports a miss.
	failures atomic.Uint64

	mu      sync.Mutex
	seq     uint64
	tenants map[string]uint64 // tenant → seq of its latest failure
	all     uint64            // seq of the latest need to bump the epoch; 0: none
	reload  uint64            // seq of the latest NOSCRIPT; 0: none
}

// owedWork is a snapshot of what is owed.
type owedWork struct {
	tenants     map[string]uint64
	all, reload uint64
}

// failedWrite records that a write of tenant ("" for every tenant) failed.
func (p *pending) failedWrite(tenant string) {
	p.failures.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	switch {
	case tenant == "" || p.all != 0:
		p.all = p.seq
	case len(p.tenants) >= maxPendingTenants:
		p.all, p.tenants = p.seq, nil
	default:
		if p.tenants == nil {
			p.tenants = make(map[string]uint64)
		}
		p.tenants[tenant] = p.seq
	}
	p.owed.Store(1)
}

// restarted records that Redis lost its scripts.
func (p *pending) restarted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.all, p.reload = p.seq, p.seq
	p.owed.Store(1)
}

// snapshot returns what is owed now.
func (p *pending) snapshot() owedWork {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := owedWork{all: p.all, reload: p.reload}
	if w.all == 0 && len(p.tenants) > 0 {
		w.tenants = make(map[string]uint64, len(p.tenants))
		for t, seq := range p.tenants {
			w.tenants[t] = seq
		}
	}
	return w
}

// done forgets what w carried out, keeping what was recorded since.
func (p *pending) done(w owedWork) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.all != 0 {
		// Bumping the epoch covers every namespace recorded until then.
		for t, seq := range p.tenants {
			if seq <= w.all {
				delete(p.tenants, t)
			}
		}
		if p.all == w.all {
			p.all = 0
		}
	}
	for t, seq := range w.tenants {
		if p.tenants[t] == seq {
			delete(p.tenants, t)
		}
	}
	if p.reload == w.reload {
		p.reload = 0
	}
	if p.all == 0 && p.reload == 0 && len(p.tenants) == 0 {
		p.owed.Store(0)
	}
}

// flight is one run of settle that other callers wait for.
type flight struct {
	done chan struct{}
	err  error
}

// settle carries out the owed invalidations (one INCR per namespace, or of
// the epoch) and, after a restart, loads the scripts again, the epoch
// bumped first. One call runs at a time; callers that come meanwhile wait
// for it (within their ctx) and share its outcome.
func (c *Cache) settle(ctx context.Context) error {
	if c.pending.owed.Load() == 0 {
		return nil
	}
	c.settleMu.Lock()
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		c.settleMu.Unlock()
		// The caller's cancellation must not fail the others waiting.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opTimeout)
		f.err = c.invalidate(sctx)
		cancel()
		c.settleMu.Lock()
		c.flight = nil
		c.settleMu.Unlock()
		close(f.done)
		return f.err
	}
	c.settleMu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// invalidate carries out a snapshot of the owed invalidations.
func (c *Cache) invalidate(ctx context.Context) error {
	w := c.pending.snapshot()
	cmds, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if w.all != 0 {
			p.Incr(ctx, c.epochKey)
			return nil
		}
		for t := range w.tenants {
			p.Incr(ctx, c.genPrefix+t)
		}
		return nil
	})
	if err == nil {
		for _, cmd := range cmds {
			if err = cmd.Err(); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("rediscache: invalidate the namespaces written during an outage: %w", err)
	}
	if w.reload != 0 {
		// Only now, the epoch bumped: a node whose script runs reads
		// through the new epoch.
		for _, s := range c.scripts.all() {
			if err := s.Load(ctx, c.client).Err(); err != nil {
				return fmt.Errorf("rediscache: load scripts: %w", err)
			}
		}
	}
	if w.all != 0 {
		c.entries.Store(0)
		if w.reload != 0 {
			c.log.Info("rediscache: redis restarted (it lost its scripts); every namespace was invalidated")
		}
	}
	c.pending.done(w)
	return nil
}

// eval runs one of the Cache's scripts by its SHA1. A server that no
// longer knows it restarted: the whole cache is invalidated and the
// scripts loaded again before it is run.
func (c *Cache) eval(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	v, err := s.EvalSha(ctx, c.client, keys, args...).Result()
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return v, err
	}
	c.pending.restarted()
	if err := c.settle(ctx); err != nil {
		return nil, err
	}
	return s.EvalSha(ctx, c.client, keys, args...).Result()
}

// kick asks the background retry to run.
func (c *Cache) kick() {
	select {
	case c.kicks <- struct{}{}:
	default: // a run is due already
	}
}

// retry runs until the Cache is closed. After a kick (a failure, or no
// answer at start) it pings Redis and carries out the owed invalidations,
// with a growing delay between tries, until both succeed: so a node
// invalidates what it owes as soon as Redis is back, before any request
// asks, and logs that Redis answers again.
func (c *Cache) retry() {
	for {
		select {
		case <-c.closed:
			return
		case <-c.kicks:
		}
		for wait := reconnectMin; ; wait = min(2*wait, reconnectMax) {
			select {
			case <-c.closed:
				return
			case <-time.After(wait):
			}
			if c.probe() == nil {
				break
			}
		}
	}
}

// probe pings Redis and settles what is owed, bypassing the circuit
// breaker; a success closes it.
func (c *Cache) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opTimeout)
	defer cancel()
	err := c.client.Ping(ctx).Err()
	if err == nil {
		err = c.settle(ctx)
	}
	c.outcome(ctx, "ping", err)
	return err
}
