package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestRunFleetBoundedConcurrency(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 2, 3, 8, 100} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			t.Parallel()
			var cur, peak atomic.Int64
			items := ints(50)
			out, err := RunFleet(context.Background(), items, &FleetConfig{Concurrency: conc}, func(ctx context.Context, i int) error {
				n := cur.Add(1)
				defer cur.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond) // let others overlap
				if i%7 == 0 {
					return fmt.Errorf("item %d failed", i)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if p := peak.Load(); p > int64(conc) || p < 1 {
				t.Fatalf("peak concurrency %d, limit %d", p, conc)
			}
			if len(out) != len(items) {
				t.Fatalf("%d outcomes for %d items", len(out), len(items))
			}
			for i, o := range out {
				if o.Item != i || o.Skipped {
					t.Fatalf("outcome %d = %+v", i, o)
				}
				if (o.Err != nil) != (i%7 == 0) {
					t.Errorf("outcome %d err = %v", i, o.Err)
				}
			}
		})
	}
}

func TestRunFleetConfig(t *testing.T) {
	t.Parallel()
	fn := func(context.Context, int) error { return nil }
	tests := []struct {
		name    string
		cfg     *FleetConfig
		fn      func(context.Context, int) error
		wantErr bool
	}{
		{"nil config", nil, fn, false},
		{"zero concurrency is the default", &FleetConfig{}, fn, false},
		{"one", &FleetConfig{Concurrency: 1}, fn, false},
		{"negative", &FleetConfig{Concurrency: -1}, fn, true},
		{"nil fn", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := RunFleet(context.Background(), ints(5), tt.cfg, tt.fn)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && len(out) != 5 {
				t.Fatalf("%d outcomes", len(out))
			}
			if err != nil && out != nil {
				t.Fatal("outcomes returned with a config error")
			}
		})
	}
	if out, err := RunFleet(context.Background(), nil, nil, fn); err != nil || len(out) != 0 {
		t.Fatalf("no items: %v, %v", out, err)
	}
}

func TestRunFleetFailFastSerial(t *testing.T) {
	t.Parallel()
	var ran []int
	out, err := RunFleet(context.Background(), ints(10), &FleetConfig{Concurrency: 1, FailFast: true}, func(ctx context.Context, i int) error {
		ran = append(ran, i) // serial: no race
		if i == 3 {
			return errors.New("boom")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ran, []int{0, 1, 2, 3}) {
		t.Fatalf("ran %v", ran)
	}
	for i, o := range out {
		switch {
		case i < 3 && (o.Err != nil || o.Skipped):
			t.Errorf("outcome %d = %+v, want success", i, o)
		case i == 3 && (o.Err == nil || o.Skipped):
			t.Errorf("outcome %d = %+v, want failure", i, o)
		case i > 3 && (!o.Skipped || o.Err != nil || o.Duration != 0):
			t.Errorf("outcome %d = %+v, want skipped", i, o)
		}
	}
}

// TestRunFleetFailFastInFlight checks that items already running finish
// while no new ones start after a failure.
func TestRunFleetFailFastInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	cfg := &FleetConfig{
		Concurrency: 4,
		FailFast:    true,
		Progress: func(p Progress) {
			if p.Failed > 0 {
				once.Do(func() { close(release) })
			}
		},
	}
	out, err := RunFleet(context.Background(), ints(20), cfg, func(ctx context.Context, i int) error {
		if i == 0 {
			return errors.New("boom")
		}
		<-release // items 1..3 stay running until item 0's failure is recorded
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err == nil {
		t.Fatal("item 0 did not fail")
	}
	for i := 1; i < 4; i++ {
		if out[i].Skipped || out[i].Err != nil {
			t.Errorf("in-flight item %d = %+v, want finished", i, out[i])
		}
	}
	for i := 4; i < 20; i++ {
		if !out[i].Skipped {
			t.Errorf("item %d = %+v, want skipped", i, out[i])
		}
	}
}

func TestRunFleetNoFailFastRunsAll(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	out, _ := RunFleet(context.Background(), ints(30), &FleetConfig{Concurrency: 3}, func(ctx context.Context, i int) error {
		calls.Add(1)
		return errors.New("always")
	})
	if calls.Load() != 30 {
		t.Fatalf("%d calls, want 30", calls.Load())
	}
	for _, o := range out {
		if o.Skipped || o.Err == nil {
			t.Fatalf("%+v", o)
		}
	}
}

func TestRunFleetPanic(t *testing.T) {
	t.Parallel()
	out, err := RunFleet(context.Background(), ints(6), &FleetConfig{Concurrency: 2}, func(ctx context.Context, i int) error {
		if i == 2 {
			panic("tenant exploded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pe *PanicError
	if !errors.As(out[2].Err, &pe) || pe.Value != "tenant exploded" || len(pe.Stack) == 0 {
		t.Fatalf("outcome 2 err = %#v, want *PanicError", out[2].Err)
	}
	if out[2].Err.Error() != "panic: tenant exploded" {
		t.Errorf("message %q", out[2].Err.Error())
	}
	for i, o := range out {
		if i != 2 && (o.Err != nil || o.Skipped) {
			t.Errorf("outcome %d = %+v", i, o)
		}
	}
}

func TestRunFleetProgress(t *testing.T) {
	t.Parallel()
	const total = 40
	var (
		calls  []Progress // appended without a lock: calls must be serialised
		inside atomic.Bool
	)
	cfg := &FleetConfig{Concurrency: 5, Progress: func(p Progress) {
		if inside.Swap(true) {
			t.Error("Progress called concurrently")
		}
		calls = append(calls, p)
		inside.Store(false)
	}}
	_, err := RunFleet(context.Background(), ints(total), cfg, func(ctx context.Context, i int) error {
		if i%4 == 0 {
			return errors.New("fail")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != total {
		t.Fatalf("Progress called %d times, want %d", len(calls), total)
	}
	prevFailed := 0
	for i, p := range calls {
		if p.Done != i+1 || p.Total != total || p.Failed < prevFailed || p.Failed > p.Done {
			t.Fatalf("call %d = %+v", i, p)
		}
		prevFailed = p.Failed
	}
	if last := calls[total-1]; last.Failed != total/4 {
		t.Fatalf("last = %+v, want Failed %d", last, total/4)
	}
}

func TestRunFleetCancel(t *testing.T) {
	t.Parallel()
	t.Run("during run", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, err := RunFleet(ctx, ints(10), &FleetConfig{Concurrency: 1}, func(ctx context.Context, i int) error {
			if i == 2 {
				cancel()
				return ctx.Err()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if got, want := o.Skipped, i > 2; got != want {
				t.Errorf("outcome %d skipped = %v, want %v", i, got, want)
			}
		}
		if !errors.Is(out[2].Err, context.Canceled) {
			t.Errorf("outcome 2 err = %v", out[2].Err)
		}
	})
	t.Run("before run", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls atomic.Int64
		out, err := RunFleet(ctx, ints(10), &FleetConfig{Concurrency: 3}, func(ctx context.Context, i int) error {
			calls.Add(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 0 {
			t.Fatalf("%d calls after cancellation", calls.Load())
		}
		for i, o := range out {
			if !o.Skipped || o.Item != i {
				t.Fatalf("outcome %d = %+v", i, o)
			}
		}
	})
}
