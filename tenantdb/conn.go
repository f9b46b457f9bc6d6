package tenantdb

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ConnManager defaults, used for zero values in ConnConfig.
const (
	DefaultMaxOpen     = 256
	DefaultIdleTimeout = 5 * time.Minute
)

// ConnConfig configures a ConnManager. Zero values mean the defaults.
type ConnConfig struct {
	// MaxOpen is the most tenant databases open at once; default 256.
	// Databases being opened or closed count against it.
	MaxOpen int
	// IdleTimeout is how long a handle may stay unused before it is closed;
	// default 5m. A handle is closed after between 1 and 1.25 times
	// IdleTimeout unused (a background goroutine checks every
	// IdleTimeout/4). A negative value disables idle eviction.
	IdleTimeout time.Duration
}

// ConnStats is a snapshot of a ConnManager's gauges and counters.
type ConnStats struct {
	// MaxOpen is the budget.
	MaxOpen int `json:"max_open"`
	// Open is the number of databases open, being opened or being closed.
	Open int `json:"open"`
	// InUse is the number of open databases with at least one unreleased
	// Acquire.
	InUse int `json:"in_use"`
	// Hits counts Acquires served by an open handle (including those that
	// waited for another caller's Open of the same name).
	Hits uint64 `json:"hits"`
	// Misses counts Opens started.
	Misses uint64 `json:"misses"`
	// Evictions counts handles closed to make room (chosen by the eviction
	// policy described at ConnManager) or for being idle.
	Evictions uint64 `json:"evictions"`
	// IdleEvictions counts handles closed for being idle.
	IdleEvictions uint64 `json:"idle_evictions"`
}

// ConnManager hands out per-tenant *sql.DB handles under a budget: at most
// MaxOpen open, frequency-aware eviction when the budget is full (below), idle
// eviction in the background, reference counting so a handle in use is never
// closed, and one Open at a time per database name (concurrent acquirers of a
// missing name wait for the one open). It is safe for concurrent use.
//
// The budget is strict: a handle evicted to make room is closed before the
// database replacing it is opened, and a slot is given back only once its
// handle is closed.
//
// # Eviction policy
//
// When tenants outnumber MaxOpen (in PostgreSQL database mode a budget of 80
// connections at 2 per tenant leaves 40 handles for 1,000 tenants), which
// handle is closed decides the hit ratio. Least-recently-used lets every
// tenant seen once push out a hot one; the manager uses S3-FIFO instead
// (Yang et al., "FIFO queues are all you need for cache eviction", SOSP
// 2023), which keeps the tenants that come back and drops the one-off ones
// quickly:
//
//   - Every open handle is in one of two FIFO queues, small (a tenth of
//     MaxOpen, at least 1) or main (the rest), and has a use count from 0 to
//     3 that each Acquire hit raises. A hit moves nothing, so the hit path
//     stays a map lookup and two increments.
//   - A new handle enters small, unless its key was evicted from small
//     recently (it is in the ghost queue, which remembers as many keys as
//     main holds, and no handles): then it enters main.
//   - To make room, small is evicted from while it holds at least its share,
//     main otherwise. Small's oldest handle moves to main if it was hit
//     since it opened, and is closed (its key going to the ghost queue) if
//     not. Main's oldest handle goes back to main's head with its count
//     lowered by one if the count is above 0, and is closed if not: a hot
//     handle survives up to three more rounds of main after its last hit,
//     and the counts age without a clock.
//   - A handle in use is never chosen: it goes back to its queue's head, as
//     if it had just been used. When every handle is in use, Acquire waits
//     for a Release.
//
// A scan of tenants seen once (a fleet job, a crawler) therefore churns only
// small, and hot tenants in main stay open. Replaying a Zipf (s=1.1) draw
// over 1,000 tenants into 40 handles, S3-FIFO hits about 63% of the time
// where LRU hits 53% and keeping the 40 most popular tenants would hit 66%;
// under a uniform draw every policy hits about MaxOpen/tenants (4%).
// TestConnManagerHitRatio replays it; BenchmarkConnManagerZipf and
// BenchmarkConnManagerUniform measure it against real opens.
//
// Idle eviction is separate: a handle unused for the idle timeout is closed
// whatever its count.
type ConnManager struct {
	opener      Opener
	maxOpen     int
	idleTimeout time.Duration

	mu      sync.Mutex
	entries map[Key]*Handle // open and opening handles
	// small and main are S3-FIFO's queues of open handles in entries (of
	// *Handle, newest first); smallMax is small's share of MaxOpen.
	small, main list.List
	smallMax    int
	ghost       ghostQueue // keys recently evicted from small
	open        int        // slots taken: open, opening and closing databases
	inUse       int        // open handles with refs > 0
	closed      bool
	// tick is the idle clock: the janitor advances it every
	// idleTimeout/idleTicks, and Release stamps handles with it, so the hit
	// path never reads the system clock.
	tick uint64
	// freed, when not nil, is closed (and cleared) the next time a slot may
	// have become available: a handle's last Release, a close, a failed
	// open, Close. Acquirers waiting for room wait on it.
	freed chan struct{}

	hits, misses, evictions, idleEvictions uint64

	stop chan struct{} // closed by Close to stop the janitor
	done chan struct{} // closed when the janitor has stopped; nil if none
}

// Key identifies one handle: a database as opened for one tenant at one
// generation of its database. Handles opened for a tenant that was
// deleted, or for an older generation of its database (a restore, a
// move), are never handed out for another key, even when the database
// name is the same: a new tenant that reuses a deleted tenant's database
// name gets a fresh handle on the new database.
type Key struct {
	// Database is the database name the Opener opens.
	Database string
	// Tenant is the tenant's uuid ("" for callers without one).
	Tenant string
	// Generation is the tenant's database generation.
	Generation int64
}

// Handle is a reference-counted tenant database handle. Concurrent acquirers
// of the same database share one Handle; it stays open until every Acquire of
// it has been released.
type Handle struct {
	m    *ConnManager
	key  Key
	name string  // key.Database
	db   *sql.DB // set once before the handle is handed out

	// Guarded by m.mu.
	refs     int
	lastUsed uint64        // m.tick at the last Release
	uses     uint8         // Acquire hits, at most maxUses, lowered by main's rounds
	queue    *list.List    // &m.small or &m.main; nil when in neither
	elem     *list.Element // in queue
	opening  bool          // the Open is in flight; ready is closed when it ends
	ready    chan struct{}
	err      error // why the Open failed
	retry    bool  // the Open failed because its caller's ctx ended; waiters try again
	detached bool  // no longer in m.entries: closed at its last Release

	// stmts are the statements prepared by Stmt, closed with the handle.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// MaxStmts bounds the prepared statements one Handle keeps; Stmt prepares
// queries beyond it without keeping them.
const MaxStmts = 64

// Stmt returns query prepared on the handle's database, prepared on first
// use and kept (at most MaxStmts per handle) until the handle is closed, so
// that a query repeated by every request is parsed once per open database
// rather than once per request. The statement is valid until Release; the
// caller must not close it. When the handle already keeps MaxStmts
// statements, the returned statement is not kept and must be closed by
// the caller: keep reports which.
func (h *Handle) Stmt(ctx context.Context, query string) (st *sql.Stmt, keep bool, err error) {
	h.stmtMu.Lock()
	defer h.stmtMu.Unlock()
	if st := h.stmts[query]; st != nil {
		return st, true, nil
	}
	st, err = h.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	if len(h.stmts) >= MaxStmts {
		return st, false, nil
	}
	if h.stmts == nil {
		h.stmts = map[string]*sql.Stmt{}
	}
	h.stmts[query] = st
	return st, true, nil
}

// errOpenerPanicked is given to callers waiting for an Open that panicked.
var errOpenerPanicked = errors.New("tenantdb: opener panicked")

// NewConnManager returns a ConnManager that opens databases with o. A nil cfg
// means the defaults. If idle eviction is enabled a background goroutine runs
// until Close.
func NewConnManager(o Opener, cfg *ConnConfig) (*ConnManager, error) {
	if o == nil {
		return nil, errors.New("tenantdb: connection manager: opener is nil")
	}
	var c ConnConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MaxOpen < 0 {
		return nil, fmt.Errorf("tenantdb: connection manager: MaxOpen %d is negative", c.MaxOpen)
	}
	if c.MaxOpen == 0 {
		c.MaxOpen = DefaultMaxOpen
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	smallMax := max(c.MaxOpen/10, 1)
	m := &ConnManager{
		opener:      o,
		maxOpen:     c.MaxOpen,
		idleTimeout: c.IdleTimeout,
		entries:     make(map[Key]*Handle, min(c.MaxOpen, 1024)),
		smallMax:    smallMax,
		ghost:       newGhostQueue(max(c.MaxOpen-smallMax, 1)),
		stop:        make(chan struct{}),
	}
	if c.IdleTimeout > 0 {
		interval := max(c.IdleTimeout/idleTicks, time.Millisecond)
		m.done = make(chan struct{})
		go m.janitor(interval)
	}
	return m, nil
}

// Acquire returns a handle for the named database, opening it if needed.
// Callers must Release it. When MaxOpen handles are open and all are in use,
// Acquire waits until one is released or ctx is done. ctx also bounds the
// Open; if it ends first, other callers waiting for that Open retry it rather
// than fail. An Open error is returned to the caller and the callers waiting
// for it, and not remembered: the next Acquire tries again.
func (m *ConnManager) Acquire(ctx context.Context, name string) (*Handle, error) {
	return m.AcquireKey(ctx, Key{Database: name})
}

// AcquireKey is Acquire for one tenant's generation of a database: handles
// are shared only between callers asking for the same key.
func (m *ConnManager) AcquireKey(ctx context.Context, key Key) (*Handle, error) {
	name := key.Database
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		h := m.entries[key]
		if h != nil && !h.opening {
			// Hit: the fast path. No allocation, no defer.
			h.refs++
			if h.refs == 1 {
				m.inUse++
			}
			if h.uses < maxUses {
				h.uses++
			}
			m.hits++
			m.mu.Unlock()
			return h, nil
		}
		if h != nil {
			// Someone else is opening it: wait for that Open.
			ready := h.ready
			m.mu.Unlock()
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, fmt.Errorf("tenantdb: acquire %q: %w", name, ctx.Err())
			}
			m.mu.Lock()
			if h.err != nil && !h.retry {
				err := h.err
				m.mu.Unlock()
				return nil, err
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("tenantdb: acquire %q: %w", name, err)
		}
		var victim *Handle
		if m.open >= m.maxOpen {
			victim = m.victimLocked()
			if victim == nil {
				// Every slot is in use: wait for a Release (or a close).
				if m.freed == nil {
					m.freed = make(chan struct{})
				}
				freed := m.freed
				m.mu.Unlock()
				select {
				case <-freed:
				case <-ctx.Done():
					return nil, fmt.Errorf("tenantdb: acquire %q: waiting for a free slot: %w", name, ctx.Err())
				}
				m.mu.Lock()
				continue
			}
			m.detachLocked(victim)
			m.evictions++
			// The victim's slot passes to the new handle: m.open unchanged.
		} else {
			m.open++
		}
		return m.openSlow(ctx, key, victim) // unlocks m.mu
	}
}

// openSlow opens name into a new handle occupying a slot already taken for
// it. It is called with m.mu held and releases it. victim, if not nil, is an
// unused detached handle whose slot was taken over; it is closed first.
func (m *ConnManager) openSlow(ctx context.Context, key Key, victim *Handle) (*Handle, error) {
	name := key.Database
	h := &Handle{m: m, key: key, name: name, opening: true, ready: make(chan struct{})}
	m.entries[key] = h
	m.misses++
	m.mu.Unlock()

	if victim != nil {
		_ = victim.db.Close() // nothing to report it to; the victim was unused
	}

	finished := false
	defer func() {
		if !finished { // the opener panicked; let the waiters go
			m.mu.Lock()
			m.failOpenLocked(h, errOpenerPanicked, false)
			m.mu.Unlock()
		}
	}()
	db, err := m.opener.Open(ctx, name)
	finished = true
	if err == nil && db == nil {
		err = fmt.Errorf("tenantdb: open %q: opener returned a nil *sql.DB", name)
	}

	m.mu.Lock()
	if err != nil {
		m.failOpenLocked(h, err, ctx.Err() != nil)
		m.mu.Unlock()
		return nil, err
	}
	if m.closed {
		m.failOpenLocked(h, ErrClosed, false)
		m.open++ // keep the slot until the handle is closed
		m.mu.Unlock()
		_ = m.closeDB(db)
		return nil, ErrClosed
	}
	h.db = db
	h.opening = false
	close(h.ready)
	h.refs = 1
	m.inUse++
	if !h.detached { // not forgotten while it was being opened
		if m.ghost.take(key) {
			m.pushLocked(&m.main, h) // evicted from small lately: it came back
		} else {
			m.pushLocked(&m.small, h)
		}
	}
	m.mu.Unlock()
	return h, nil
}

// failOpenLocked ends a failed Open: it wakes the waiters, forgets the handle
// and gives its slot back.
func (m *ConnManager) failOpenLocked(h *Handle, err error, retry bool) {
	h.err = err
	h.retry = retry
	h.opening = false
	close(h.ready)
	m.detachLocked(h)
	m.open--
	m.signalLocked()
}

// maxUses caps a handle's use count: a hot handle survives at most
// maxUses rounds of the main queue without a hit.
const maxUses = 3

// pushLocked puts h at the head (the newest end) of queue q.
func (m *ConnManager) pushLocked(q *list.List, h *Handle) {
	h.queue = q
	h.elem = q.PushFront(h)
}

// victimLocked returns an unused open handle to close to make room, chosen
// by S3-FIFO (see ConnManager), or nil if every open handle is in use. The
// caller detaches it.
func (m *ConnManager) victimLocked() *Handle {
	if m.small.Len() >= m.smallMax || m.main.Len() == 0 {
		if h := m.evictSmallLocked(); h != nil {
			return h
		}
		return m.evictMainLocked()
	}
	if h := m.evictMainLocked(); h != nil {
		return h
	}
	return m.evictSmallLocked()
}

// evictSmallLocked takes handles from the tail of the small queue until it
// finds one to close: one hit since it opened moves to main, one in use goes
// back to small's head, and the first unused one not hit is returned, its
// key remembered in the ghost queue. It returns nil if small has none.
func (m *ConnManager) evictSmallLocked() *Handle {
	for n := m.small.Len(); n > 0; n-- {
		e := m.small.Back()
		h := e.Value.(*Handle)
		switch {
		case h.uses > 0:
			m.small.Remove(e)
			m.pushLocked(&m.main, h)
		case h.refs > 0:
			m.small.MoveToFront(e)
		default:
			m.ghost.add(h.key)
			return h
		}
	}
	return nil
}

// evictMainLocked takes handles from the tail of the main queue until it
// finds one to close: one in use goes back to main's head, an unused one
// with a use count above 0 too with its count lowered, and the first unused
// one with a count of 0 is returned. It returns nil if every handle in main
// is in use. Each round of main lowers every unused count, so (maxUses+1)
// rounds find one if there is any.
func (m *ConnManager) evictMainLocked() *Handle {
	for n := (maxUses + 1) * m.main.Len(); n > 0; n-- {
		e := m.main.Back()
		h := e.Value.(*Handle)
		switch {
		case h.refs > 0:
			m.main.MoveToFront(e)
		case h.uses > 0:
			h.uses--
			m.main.MoveToFront(e)
		default:
			return h
		}
	}
	return nil
}

// detachLocked removes h from the index and its queue; it will be closed
// at its last Release, or now by the caller if unused.
func (m *ConnManager) detachLocked(h *Handle) {
	if m.entries[h.key] == h {
		delete(m.entries, h.key)
	}
	if h.queue != nil {
		h.queue.Remove(h.elem)
		h.queue, h.elem = nil, nil
	}
	h.detached = true
}

// ghostQueue is S3-FIFO's ghost: the last keys evicted from the small
// queue, without their handles, in a ring of fixed size. A key added again
// while an older copy is still in the ring keeps its newer position.
type ghostQueue struct {
	ring []Key
	at   map[Key]uint64 // key -> the add count at which it was added
	adds uint64
}

func newGhostQueue(size int) ghostQueue {
	return ghostQueue{ring: make([]Key, size), at: make(map[Key]uint64, size)}
}

// add remembers k, forgetting the oldest key if the ring is full.
func (g *ghostQueue) add(k Key) {
	size := uint64(len(g.ring))
	i := g.adds % size
	if g.adds >= size {
		// The slot's key was added at g.adds-size; forget it unless it was
		// added again since or taken.
		if old := g.ring[i]; g.at[old] == g.adds-size {
			delete(g.at, old) // a no-op if it is not there
		}
	}
	g.ring[i] = k
	g.at[k] = g.adds
	g.adds++
}

// take reports whether k is remembered and forgets it.
func (g *ghostQueue) take(k Key) bool {
	if _, ok := g.at[k]; !ok {
		return false
	}
	delete(g.at, k)
	return true
}

// signalLocked wakes the acquirers waiting for a slot.
func (m *ConnManager) signalLocked() {
	if m.freed != nil {
		close(m.freed)
		m.freed = nil
	}
}

// closeHandle closes a detached handle's prepared statements and database,
// then gives its slot back.
func (m *ConnManager) closeHandle(h *Handle) error {
	h.stmtMu.Lock()
	for _, st := range h.stmts {
		_ = st.Close()
	}
	h.stmts = nil
	h.stmtMu.Unlock()
	return m.closeDB(h.db)
}

// closeDB closes a database, then gives its slot back.
func (m *ConnManager) closeDB(db *sql.DB) error {
	err := db.Close()
	m.mu.Lock()
	m.open--
	m.signalLocked()
	m.mu.Unlock()
	return err
}

// DB returns the database handle. It is valid until Release.
func (h *Handle) DB() *sql.DB { return h.db }

// Name returns the database name the handle was acquired for.
func (h *Handle) Name() string { return h.name }

// Release gives the handle back; it must be called exactly once per Acquire,
// and the *sql.DB must not be used afterwards. Releasing more often than
// acquiring panics.
func (h *Handle) Release() {
	m := h.m
	m.mu.Lock()
	h.refs--
	if h.refs > 0 {
		m.mu.Unlock()
		return
	}
	if h.refs < 0 {
		h.refs = 0
		m.mu.Unlock()
		panic("tenantdb: Handle.Release called more often than Acquire for " + h.name)
	}
	m.inUse--
	h.lastUsed = m.tick
	if !h.detached {
		m.signalLocked()
		m.mu.Unlock()
		return
	}
	// Forgotten, evicted or closed while in use: close it now.
	m.mu.Unlock()
	_ = m.closeHandle(h)
}

// Forget closes every handle of the named database (whatever tenant and
// generation it was opened for) now if unused, or as soon as its last user
// releases it; the next Acquire opens it afresh. It is used before
// dropping a database. Unknown names are fine.
func (m *ConnManager) Forget(name string) {
	m.forget(func(k Key) bool { return k.Database == name })
}

// ForgetTenant is Forget for every handle opened for the tenant with this
// uuid: it is called when the tenant is deleted or its database replaced,
// on every node, so that no handle outlives the database it was opened on.
func (m *ConnManager) ForgetTenant(uuid string) {
	if uuid == "" {
		return
	}
	m.forget(func(k Key) bool { return k.Tenant == uuid })
}

func (m *ConnManager) forget(match func(Key) bool) {
	m.mu.Lock()
	var unused []*Handle
	for k, h := range m.entries {
		if !match(k) {
			continue
		}
		m.detachLocked(h)
		if !h.opening && h.refs == 0 {
			unused = append(unused, h)
		}
	}
	m.mu.Unlock()
	for _, h := range unused {
		_ = m.closeHandle(h)
	}
}

// Stats returns a snapshot of the counters.
func (m *ConnManager) Stats() ConnStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ConnStats{
		MaxOpen:       m.maxOpen,
		Open:          m.open,
		InUse:         m.inUse,
		Hits:          m.hits,
		Misses:        m.misses,
		Evictions:     m.evictions,
		IdleEvictions: m.idleEvictions,
	}
}

// Close closes every unused handle, waiting for nothing: handles in use are
// closed at their Release, and Opens in flight are closed when they finish.
// Afterwards Acquire returns ErrClosed. It returns the errors of the closes
// it made; closing again returns nil.
func (m *ConnManager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var hs []*Handle
	for _, h := range m.entries {
		if h.opening {
			continue // openSlow sees m.closed when the Open ends
		}
		m.detachLocked(h)
		if h.refs == 0 {
			hs = append(hs, h)
		}
	}
	m.signalLocked()
	m.mu.Unlock()

	close(m.stop)
	if m.done != nil {
		<-m.done
	}
	var errs []error
	for _, h := range hs {
		if err := m.closeHandle(h); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tenantdb: close connection manager: %w", err)
	}
	return nil
}

// janitor evicts idle handles every interval until Close.
func (m *ConnManager) janitor(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.evictIdle()
		}
	}
}

// idleTicks is the number of janitor ticks per idle timeout. A handle
// released during tick t is evicted when the clock passes t+idleTicks, that
// is after between 1 and 1+1/idleTicks idle timeouts (later if ticks are
// dropped, never earlier).
const idleTicks = 4

// evictIdle advances the idle clock and closes the handles unused for at
// least the idle timeout.
func (m *ConnManager) evictIdle() {
	m.mu.Lock()
	m.tick++
	var hs []*Handle
	// The queues are in the order of the eviction policy, not of lastUsed,
	// so every open handle is looked at: at most MaxOpen, once per tick.
	// Handles in use are skipped.
	for _, q := range []*list.List{&m.small, &m.main} {
		for e := q.Front(); e != nil; {
			next := e.Next()
			if h := e.Value.(*Handle); h.refs == 0 && m.tick-h.lastUsed > idleTicks {
				m.detachLocked(h)
				m.evictions++
				m.idleEvictions++
				hs = append(hs, h)
			}
			e = next
		}
	}
	m.mu.Unlock()
	for _, h := range hs {
		_ = m.closeHandle(h)
	}
}

// CloseUnused closes every open handle that nobody is using, freeing the
// whole budget at once, and returns how many it closed.
func (m *ConnManager) CloseUnused() int {
	m.mu.Lock()
	var hs []*Handle
	for _, h := range m.entries {
		if h.opening || h.refs > 0 {
			continue
		}
		m.detachLocked(h)
		m.evictions++
		hs = append(hs, h)
	}
	m.mu.Unlock()
	for _, h := range hs {
		_ = m.closeHandle(h)
	}
	return len(hs)
}

// Names lists the databases with an open handle.
func (m *ConnManager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.entries))
	seen := make(map[string]bool, len(m.entries))
	for k, h := range m.entries {
		if !h.opening && !seen[k.Database] {
			seen[k.Database] = true
			names = append(names, k.Database)
		}
	}
	return names
}

// keys lists the keys with an open handle.
func (m *ConnManager) keys() []Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]Key, 0, len(m.entries))
	for k, h := range m.entries {
		if !h.opening {
			keys = append(keys, k)
		}
	}
	return keys
}

// Repair pings every open handle and forgets those that fail, so the next
// Acquire opens them afresh. It returns the names it forgot.
func (m *ConnManager) Repair(ctx context.Context) []string {
	var broken []string
	for _, key := range m.keys() {
		h, err := m.AcquireKey(ctx, key)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			broken = append(broken, key.Database)
			continue
		}
		err = h.DB().PingContext(ctx)
		h.Release()
		if err != nil && ctx.Err() == nil {
			m.forget(func(k Key) bool { return k == key })
			broken = append(broken, key.Database)
		}
	}
	return broken
}
