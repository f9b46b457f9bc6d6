package watchertest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/sqlstore"
)

var errClosed = errors.New("fake: closed")

// fake is an in-memory version counter watched with sqlstore.WatchVersion.
type fake struct {
	version atomic.Int64
	closed  atomic.Bool
}

func (f *fake) Watch(ctx context.Context, interval time.Duration, onChange func()) error {
	return sqlstore.WatchVersion(ctx, "fake", interval, onChange, func(context.Context) (int64, error) {
		if f.closed.Load() {
			return 0, errClosed
		}
		return f.version.Load(), nil
	})
}

func TestRunOnFake(t *testing.T) {
	watchertest.Run(t, watchertest.Harness{
		New: func(t *testing.T) (model.Watcher, func(t *testing.T)) {
			f := &fake{}
			return f, func(*testing.T) { f.version.Add(1) }
		},
		Close: func(w model.Watcher) error {
			w.(*fake).closed.Store(true)
			return nil
		},
		ErrClosed: errClosed,
		Interval:  time.Millisecond,
	})
}

// TestRecorderPhases checks the Recorder's bookkeeping.
func TestRecorderPhases(t *testing.T) {
	r := watchertest.NewRecorder()
	r.OnChange()
	p := r.Mark()
	r.OnChange()
	r.OnChange()
	if r.In(0) != 1 || r.In(p) != 2 || r.Calls() != 3 {
		t.Fatalf("phases %d, %d, calls %d; want 1, 2, 3", r.In(0), r.In(p), r.Calls())
	}
}
