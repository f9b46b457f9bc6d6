package jobs

import (
	"errors"
	"sync/atomic"

	"github.com/riverqueue/river/rivertype"
)

// Stats counts the outcomes of the job attempts a Client worked since Open,
// as its workers returned them (a retried job counts once per attempt).
// Jobs that never reached the tenant middleware, such as jobs of a kind
// without a worker, are not counted.
type Stats struct {
	// Completed counts attempts whose worker returned nil.
	Completed uint64 `json:"completed"`
	// Failed counts attempts that returned an error (River retries them
	// until MaxAttempts), panicked, or could not load their tenant.
	Failed uint64 `json:"failed"`
	// Cancelled counts attempts whose worker cancelled the job itself with
	// river.JobCancel.
	Cancelled uint64 `json:"cancelled"`
	// Refused counts jobs cancelled without running because their tenant
	// was missing, deleted or not active (ErrTenantRefused).
	Refused uint64 `json:"refused"`
	// Snoozed counts attempts that returned river.JobSnooze.
	Snoozed uint64 `json:"snoozed"`
	// Running is the number of jobs being worked now.
	Running int64 `json:"running"`
}

// counters are a Client's Stats, updated with atomics.
type counters struct {
	completed, failed, cancelled, refused, snoozed atomic.Uint64
	running                                        atomic.Int64
}

// record counts one worker's outcome.
func (s *counters) record(err error) {
	switch {
	case err == nil:
		s.completed.Add(1)
	case errors.Is(err, &rivertype.JobCancelError{}):
		s.cancelled.Add(1)
	case errors.Is(err, &rivertype.JobSnoozeError{}):
		s.snoozed.Add(1)
	default:
		s.failed.Add(1)
	}
}

// Stats returns a snapshot of the client's job counters.
func (c *Client) Stats() Stats {
	return Stats{
		Completed: c.stats.completed.Load(),
		Failed:    c.stats.failed.Load(),
		Cancelled: c.stats.cancelled.Load(),
		Refused:   c.stats.refused.Load(),
		Snoozed:   c.stats.snoozed.Load(),
		Running:   c.stats.running.Load(),
	}
}
