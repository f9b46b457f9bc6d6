package tenantdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sqlite "modernc.org/sqlite"
)

// countingOpener opens SQLite databases like SQLite.Open but counts Opens and
// tracks how many of the *sql.DB it returned are still open (a *sql.DB
// closes its connector when it is closed).
type countingOpener struct {
	p *SQLite

	opens   atomic.Int64
	live    atomic.Int64
	maxLive atomic.Int64

	mu    sync.Mutex
	delay time.Duration                                            // before each open
	hook  func(ctx context.Context, name string, call int64) error // may fail an open
}

func newCountingOpener(t testing.TB) *countingOpener {
	t.Helper()
	p, err := NewSQLite(&SQLiteConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &countingOpener{p: p}
}

func (o *countingOpener) setHook(fn func(ctx context.Context, name string, call int64) error) {
	o.mu.Lock()
	o.hook = fn
	o.mu.Unlock()
}

func (o *countingOpener) Open(ctx context.Context, name string) (*sql.DB, error) {
	call := o.opens.Add(1)
	o.mu.Lock()
	delay, hook := o.delay, o.hook
	o.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if hook != nil {
		if err := hook(ctx, name, call); err != nil {
			return nil, err
		}
	}
	if ok, err := o.p.Exists(ctx, name); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("open %q: %w", name, ErrNotExist)
	}
	c, err := sqlite.NewConnector(o.p.dsn(name))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(&liveConnector{Connector: c, o: o})
	db.SetMaxOpenConns(o.p.maxOpen)
	db.SetMaxIdleConns(o.p.maxIdle)
	n := o.live.Add(1)
	for {
		m := o.maxLive.Load()
		if n <= m || o.maxLive.CompareAndSwap(m, n) {
			break
		}
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

type liveConnector struct {
	driver.Connector
	o    *countingOpener
	once sync.Once
}

// Close is called by (*sql.DB).Close.
func (c *liveConnector) Close() error {
	c.once.Do(func() { c.o.live.Add(-1) })
	return nil
}

// createAll creates the named databases, several at a time.
func createAll(t testing.TB, p *SQLite, names []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	sem := make(chan struct{}, 8)
	for _, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := p.Create(context.Background(), name); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s_%04d", prefix, i)
	}
	return out
}

func newManager(t testing.TB, o Opener, cfg *ConnConfig) *ConnManager {
	t.Helper()
	m, err := NewConnManager(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func acquire(t testing.TB, m *ConnManager, name string) *Handle {
	t.Helper()
	h, err := m.Acquire(context.Background(), name)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", name, err)
	}
	if h.Name() != name {
		t.Fatalf("Acquire(%q) returned a handle for %q", name, h.Name())
	}
	return h
}

func ping(t testing.TB, h *Handle) {
	t.Helper()
	var n int
	if err := h.DB().QueryRow("SELECT 1").Scan(&n); err != nil {
		t.Fatalf("query on %q: %v", h.Name(), err)
	}
}

var errInjected = errors.New("injected open failure")
