package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/envelope"
)

// ErrDiskUnsupported is returned by FreeBytes and CheckFreeDisk on
// platforms where free disk space cannot be measured (no statfs); the
// readiness disk check is then skipped.
var ErrDiskUnsupported = errors.New("free disk space is not measurable on this platform")

// errSkipped marks a check that had nothing to check.
var errSkipped = errors.New("skipped")

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	OK bool `json:"ok"`
	// Skipped is true when the check had nothing to check (no tenant, no
	// data directory); a skipped check is OK.
	Skipped bool   `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
	// TimedOut is true when the check gave no answer within its time.
	TimedOut   bool    `json:"timed_out,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Readiness is the body of /readyz.
type Readiness struct {
	// Status is "ready" or "not_ready".
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// Healthz answers 200 {"status":"ok"} while the process is alive (GET
// /healthz). It checks nothing else.
func (m *Monitor) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		healthJSON.Write(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Readyz answers 200 when every readiness check passes and 503 otherwise
// (GET /readyz), with a Readiness body. The checks run concurrently, each
// within 2 s: the catalog (counting tenants by status), one tenant
// database (the first tenant listed; skipped when there are none), each
// Config.ReadyChecks entry, and the free space of Config.DataDir.
//
// The endpoint is meant for load balancers and needs no credentials, so a
// failed check's error is not shown there (it may name files, hosts or
// users): the body says only that the check failed or did not answer, and
// the error goes to the log. Check returns the errors themselves.
func (m *Monitor) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		rd := m.Check(r.Context())
		code := http.StatusOK
		if rd.Status != "ready" {
			code = http.StatusServiceUnavailable
		}
		for name, c := range rd.Checks {
			if c.Error == "" {
				continue
			}
			m.log.WarnContext(r.Context(), "readiness check failed", "check", name, "err", c.Error)
			c.Error = "failed: see the server log"
			if c.TimedOut {
				c.Error = "no answer within " + checkTimeout.String()
			}
			rd.Checks[name] = c
		}
		w.Header().Set("Cache-Control", "no-store")
		healthJSON.Write(w, r, code, rd)
	})
}

// Check runs the readiness checks, as Readyz does.
func (m *Monitor) Check(ctx context.Context) Readiness {
	checks := map[string]func(context.Context) error{
		CheckCatalog:        m.checkCatalog,
		CheckTenantDatabase: m.checkTenantDatabase,
	}
	if m.cfg.DataDir != "" {
		checks[CheckDisk] = m.checkDisk
	}
	for name, fn := range m.cfg.ReadyChecks {
		checks[name] = fn
	}
	rd := Readiness{Status: "ready", Checks: make(map[string]CheckResult, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range checks {
		wg.Go(func() {
			res := runCheck(ctx, fn)
			mu.Lock()
			defer mu.Unlock()
			rd.Checks[name] = res
			if !res.OK {
				rd.Status = "not_ready"
			}
		})
	}
	wg.Wait()
	return rd
}

// runCheck runs one check within checkTimeout. A check that ignores its
// context is abandoned at the deadline; a panic is a failure.
func runCheck(ctx context.Context, fn func(context.Context) error) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn(ctx)
	}()
	var err error
	timedOut := false
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer: %w", context.Cause(ctx))
		timedOut = true
	}
	res := CheckResult{OK: true}
	switch {
	case errors.Is(err, errSkipped):
		res.Skipped = true
	case err != nil:
		res = CheckResult{Error: err.Error(), TimedOut: timedOut}
	}
	res.DurationMS = math.Round(float64(time.Since(start).Microseconds())) / 1000
	return res
}

// checkCatalog queries the catalog.
func (m *Monitor) checkCatalog(ctx context.Context) error {
	_, err := m.cfg.Manager.CountByStatus(ctx)
	return err
}

// checkTenantDatabase opens and queries one tenant's database.
func (m *Monitor) checkTenantDatabase(ctx context.Context) error {
	res, err := m.cfg.Manager.List(ctx, tenancy.ListOptions{PerPage: 1})
	if err != nil {
		return fmt.Errorf("listing tenants: %w", err)
	}
	if len(res.Tenants) == 0 {
		return errSkipped
	}
	_, err = m.cfg.Manager.DatabaseStats(ctx, res.Tenants[0])
	return err
}

// checkDisk requires MinFreeBytes free in DataDir.
func (m *Monitor) checkDisk(context.Context) error {
	err := CheckFreeDisk(m.cfg.DataDir, m.cfg.MinFreeBytes)
	if errors.Is(err, ErrDiskUnsupported) {
		return errSkipped
	}
	return err
}

// CheckFreeDisk returns an error when the file system holding dir has less
// than min bytes available to unprivileged users (the /readyz disk check).
// It returns ErrDiskUnsupported where FreeBytes cannot measure, and the
// error of FreeBytes when measuring fails.
func CheckFreeDisk(dir string, min int64) error {
	free, err := FreeBytes(dir)
	if err != nil {
		return err
	}
	if free < min {
		return fmt.Errorf("%s free in %s, below the minimum of %s",
			humanize.IBytes(uint64(max(free, 0))), dir, humanize.IBytes(uint64(max(min, 0))))
	}
	return nil
}

// healthJSON writes the health answers (no envelope): HTML escaped as
// json.Marshal does, buffered without Content-Length, headers only for
// HEAD.
var healthJSON = &envelope.Writer{Buffered: true, EscapeHTML: true}
