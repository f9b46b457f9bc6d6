package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/migrate"
)

// MigrateOptions says how to migrate a tenant database.
type MigrateOptions struct {
	// Fresh drops every table first and migrates from nothing.
	Fresh bool
	// Rollback, when positive, rolls the database back by that many
	// migrations instead of migrating it up (with neither Fresh nor Seed).
	Rollback int
	// Seed runs Seeders (all when empty) after migrating.
	Seed    bool
	Seeders []string
}

// Outcome is the result of one operation on one tenant.
type Outcome struct {
	Tenant   *Tenant       `json:"-"`
	UUID     string        `json:"tenant_uuid"`
	Domain   string        `json:"domain"`
	State    string        `json:"state"` // succeeded, failed or skipped
	From     int64         `json:"from_version"`
	To       int64         `json:"to_version"`
	Applied  int           `json:"applied"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// StateSkipped marks a tenant a fleet run did not reach (fail-fast or
// cancellation) or could not lock (another operation held its lock: the
// outcome's error then says "locked by <holder>").
const StateSkipped = "skipped"

// FleetOptions configures MigrateAll and SeedAll.
type FleetOptions struct {
	MigrateOptions
	// Concurrency bounds the tenants worked on at once; default 2×cores.
	Concurrency int
	// RetryFailed runs only the tenants whose last recorded outcome of
	// this operation is not a success: failed, skipped, or left pending or
	// running by a run that was interrupted.
	RetryFailed bool
	// LockWait is how long a tenant whose lock another operation holds is
	// waited for before it is skipped; default the Manager's LockWait.
	LockWait time.Duration
	// FailFast stops starting tenants after the first failure.
	FailFast bool
	// Statuses keeps only tenants in these statuses; empty means all.
	Statuses []Status
	// CreatedAfter keeps only tenants created after it; zero means all.
	CreatedAfter time.Time
	// Progress, if set, is called after each tenant finishes.
	Progress func(migrate.Progress)
}

// FleetReport is the result of a fleet run, one outcome per tenant in id order.
type FleetReport struct {
	Operation string `json:"operation"`
	// RunID identifies the run in the tenants' operation records.
	RunID     string        `json:"run_id"`
	Outcomes  []*Outcome    `json:"outcomes"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
	Skipped   int           `json:"skipped"`
	Duration  time.Duration `json:"duration_ns"`
}

func newOutcome(t *Tenant) *Outcome {
	return &Outcome{Tenant: t, UUID: t.UUID, Domain: t.PrimaryDomain()}
}

// Migrate brings one tenant's database up to date (or rebuilds it with
// Fresh), seeds it when asked and records the outcome in the catalog.
func (m *Manager) Migrate(ctx context.Context, t *Tenant, opts MigrateOptions) (*Outcome, error) {
	switch {
	case opts.Rollback < 0:
		return nil, &ValidationError{Field: "steps", Reason: "must be at least 1"}
	case opts.Rollback > 0 && (opts.Fresh || opts.Seed):
		return nil, &ValidationError{Field: "steps", Reason: "a rollback neither starts fresh nor seeds"}
	case opts.Rollback > 0:
		return m.rollback(ctx, t, opts.Rollback)
	}
	if err := m.checkSeeders(opts); err != nil {
		return nil, err
	}
	return m.runOne(ctx, t, OpMigrate, "tenant.migrate", func(ctx context.Context, o *Outcome) error {
		return m.migrateOne(ctx, o, opts)
	})
}

// timed runs fn for o and sets o's duration and state (and error).
func (m *Manager) timed(ctx context.Context, o *Outcome, fn func(context.Context, *Outcome) error) error {
	start := m.now()
	err := fn(ctx, o)
	o.Duration = m.now().Sub(start)
	o.State = StateSucceeded
	if err != nil {
		o.State, o.Error = StateFailed, err.Error()
	}
	return err
}

// runOne runs an operation on one tenant under its lock (waiting up to
// the Manager's LockWait), records its outcome under op in the catalog and
// in the audit log under action. A tenant being created or deleted is a
// *StateError and a lock that stays taken a *LockedError; neither changes
// anything.
func (m *Manager) runOne(ctx context.Context, t *Tenant, op, action string, fn func(context.Context, *Outcome) error) (*Outcome, error) {
	t, err := m.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	runID := newRunID()
	lctx, lock, err := m.lockTenant(ctx, t.UUID, op, m.lockWait, m.heartbeat(op, runID, t))
	if err != nil {
		return nil, err
	}
	defer lock.release()
	o := newOutcome(t)
	if err := m.recordState(lctx, op, runID, t, StateRunning); err != nil {
		return nil, err
	}
	err = m.timed(lctx, o, fn)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		err = context.Cause(lctx) // the lock was lost
		o.Error = err.Error()
	}
	lock.stopRenewing() // no heartbeat may follow the outcome
	if rerr := m.recordRun(ctx, op, runID, o); rerr != nil {
		err = errors.Join(err, rerr)
	}
	m.auditOutcome(ctx, action, o)
	return o, err
}

// newRunID returns a fresh id for a run's operation records.
func newRunID() string { return strings.ToLower(rand.Text()[:12]) }

// heartbeat returns the lock renewal's callback that refreshes the
// tenant's running record, so that a run's liveness shows in the catalog.
func (m *Manager) heartbeat(op, runID string, t *Tenant) func(context.Context) {
	return func(ctx context.Context) {
		if err := m.recordState(ctx, op, runID, t, StateRunning); err != nil {
			m.log.WarnContext(ctx, "recording a running operation's heartbeat failed", "tenant", t.UUID, "operation", op, "err", err)
		}
	}
}

// recordState records that op is in state (pending, running) on t.
func (m *Manager) recordState(ctx context.Context, op, runID string, t *Tenant, state string) error {
	err := m.store.RecordOperation(context.WithoutCancel(ctx), OperationRecord{TenantID: t.ID, Operation: op, State: state, RunID: runID})
	if err != nil {
		return fmt.Errorf("record %s %s of %s: %w", op, state, t.UUID, err)
	}
	return nil
}

// auditOutcome records an operation on one tenant in the audit log.
func (m *Manager) auditOutcome(ctx context.Context, action string, o *Outcome) {
	var err error
	if o.State == StateFailed {
		err = errors.New(o.Error)
	}
	m.recordAudit(ctx, action, o.UUID, nil, jsonValue(o), err)
}

func (m *Manager) checkSeeders(opts MigrateOptions) error {
	if !opts.Seed {
		return nil
	}
	for _, s := range opts.Seeders {
		if !m.seeders.Has(s) {
			return &ValidationError{Field: "seeder", Reason: fmt.Sprintf("unknown seeder %q", s)}
		}
	}
	return nil
}

func (m *Manager) migrateOne(ctx context.Context, o *Outcome, opts MigrateOptions) error {
	h, err := m.acquire(ctx, o.Tenant)
	if err != nil {
		return fmt.Errorf("open database %s: %w", o.Tenant.DatabaseName, err)
	}
	defer h.Release()
	dialect := m.prov.Dialect()
	if opts.Fresh {
		if o.From, err = m.migrations.Version(ctx, dialect, h.DB()); err != nil {
			return err
		}
		if err := m.prov.Wipe(ctx, h.DB()); err != nil {
			return fmt.Errorf("wipe database %s: %w", o.Tenant.DatabaseName, err)
		}
	}
	res, err := m.migrations.Up(ctx, dialect, h.DB())
	if !opts.Fresh {
		o.From = res.From
	}
	o.To, o.Applied = res.To, res.Applied
	if err != nil {
		return err
	}
	if opts.Seed {
		if err := m.seeders.Run(withTenantDB(ctx, o.Tenant, m.prov.Dialect(), h.DB()), h.DB(), opts.Seeders...); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

func (m *Manager) record(ctx context.Context, op string, o *Outcome) error {
	return m.recordRun(ctx, op, "", o)
}

// recordRun records o as the outcome of run runID.
func (m *Manager) recordRun(ctx context.Context, op, runID string, o *Outcome) error {
	err := m.store.RecordOperation(context.WithoutCancel(ctx), OperationRecord{
		TenantID:  o.Tenant.ID,
		RunID:     runID,
		Operation: op,
		State:     o.State,
		Version:   o.To,
		Error:     o.Error,
		Duration:  o.Duration,
	})
	if err != nil {
		return fmt.Errorf("record %s outcome of %s: %w", op, o.UUID, err)
	}
	return nil
}

// MigrateAll migrates every tenant (or those selected by opts) with bounded
// concurrency. One tenant's failure does not stop the others unless
// FailFast; each tenant's outcome is recorded in the catalog. The error is
// only for a run that could not start or outcomes that could not be
// recorded; failed tenants are in the report.
func (m *Manager) MigrateAll(ctx context.Context, opts FleetOptions) (*FleetReport, error) {
	if err := m.checkSeeders(opts.MigrateOptions); err != nil {
		return nil, err
	}
	return m.fleet(ctx, OpMigrate, opts, func(ctx context.Context, o *Outcome) error {
		return m.migrateOne(ctx, o, opts.MigrateOptions)
	})
}

// Seed runs seeders (all when names is empty) on one tenant and records the outcome.
func (m *Manager) Seed(ctx context.Context, t *Tenant, names ...string) (*Outcome, error) {
	if err := m.checkSeeders(MigrateOptions{Seed: true, Seeders: names}); err != nil {
		return nil, err
	}
	return m.runOne(ctx, t, OpSeed, "tenant.seed", func(ctx context.Context, o *Outcome) error {
		return m.seedOne(ctx, o, names)
	})
}

func (m *Manager) seedOne(ctx context.Context, o *Outcome, names []string) error {
	h, err := m.acquire(ctx, o.Tenant)
	if err != nil {
		return fmt.Errorf("open database %s: %w", o.Tenant.DatabaseName, err)
	}
	defer h.Release()
	if v, err := m.migrations.Version(ctx, m.prov.Dialect(), h.DB()); err == nil {
		o.From, o.To = v, v
	}
	return m.seeders.Run(withTenantDB(ctx, o.Tenant, m.prov.Dialect(), h.DB()), h.DB(), names...)
}

// SeedAll seeds every tenant (or those selected by opts) with bounded
// concurrency, like MigrateAll. opts.Seeders names the seeders (all when empty).
func (m *Manager) SeedAll(ctx context.Context, opts FleetOptions) (*FleetReport, error) {
	if err := m.checkSeeders(MigrateOptions{Seed: true, Seeders: opts.Seeders}); err != nil {
		return nil, err
	}
	return m.fleet(ctx, OpSeed, opts, func(ctx context.Context, o *Outcome) error {
		return m.seedOne(ctx, o, opts.Seeders)
	})
}

// fleetTargets picks the tenants of a fleet run.
func (m *Manager) fleetTargets(ctx context.Context, op string, opts FleetOptions) ([]*Tenant, error) {
	for _, st := range opts.Statuses {
		if !st.Valid() {
			return nil, &ValidationError{Field: "status", Reason: fmt.Sprintf("unknown status %q", st)}
		}
	}
	all, err := m.store.AllTenants(ctx, opts.Statuses...)
	if err != nil {
		return nil, err
	}
	// Tenants being created or deleted are not the run's: a create
	// migrates its tenant itself, and a deleted one has nothing to run.
	all = withoutLifecycle(all)
	if !opts.CreatedAfter.IsZero() {
		kept := all[:0]
		for _, t := range all {
			if t.CreatedAt.After(opts.CreatedAfter) {
				kept = append(kept, t)
			}
		}
		all = kept
	}
	if !opts.RetryFailed {
		return all, nil
	}
	recs, err := m.store.Operations(ctx, op, "")
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]bool, len(recs))
	for _, r := range recs {
		if r.State != StateSucceeded {
			ids[r.TenantID] = true
		}
	}
	var out []*Tenant
	for _, t := range all {
		if ids[t.ID] {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *Manager) fleet(ctx context.Context, op string, opts FleetOptions, fn func(context.Context, *Outcome) error) (*FleetReport, error) {
	if opts.Concurrency < 0 {
		return nil, &ValidationError{Field: "concurrency", Reason: "must be at least 1"}
	}
	targets, err := m.fleetTargets(ctx, op, opts)
	if err != nil {
		return nil, err
	}
	start := m.now()
	runID := newRunID()
	lockWait := opts.LockWait
	if lockWait <= 0 {
		lockWait = m.lockWait
	}
	outcomes := make([]*Outcome, len(targets))
	pending := make([]OperationRecord, len(targets))
	for i, t := range targets {
		outcomes[i] = newOutcome(t)
		pending[i] = OperationRecord{TenantID: t.ID, Operation: op, State: StatePending, RunID: runID}
	}
	// Every selected tenant is pending until the run reaches it, so that
	// a run killed half-way leaves a trace that --retry-failed follows.
	if err := m.store.RecordOperations(ctx, pending); err != nil {
		return nil, fmt.Errorf("record the %s run's pending tenants: %w", op, err)
	}
	results, err := migrate.RunFleet(ctx, outcomes, &migrate.FleetConfig{
		Concurrency: opts.Concurrency,
		FailFast:    opts.FailFast,
		Progress:    opts.Progress,
	}, func(ctx context.Context, o *Outcome) error {
		return m.fleetOne(ctx, op, runID, lockWait, o, fn)
	})
	if err != nil {
		return nil, err
	}
	report := &FleetReport{Operation: op, RunID: runID, Outcomes: outcomes}
	var recordErrs []error
	for _, r := range results {
		o := r.Item
		switch {
		case r.Skipped:
			o.State = StateSkipped
			report.Skipped++
		case errors.Is(r.Err, errRecord):
			// The operation's outcome could not be recorded.
			recordErrs = append(recordErrs, r.Err)
			if o.State != StateFailed {
				o.State, o.Error = StateFailed, r.Err.Error()
			}
			report.Failed++
		case o.State == StateSkipped:
			report.Skipped++
		case r.Err != nil:
			o.State = StateFailed
			if o.Error == "" {
				o.Error = r.Err.Error()
			}
			report.Failed++
		default:
			report.Succeeded++
		}
	}
	report.Duration = m.now().Sub(start)
	summary := map[string]any{"run_id": runID, "tenants": len(outcomes), "succeeded": report.Succeeded, "failed": report.Failed, "skipped": report.Skipped}
	var fleetErr error
	if report.Failed > 0 || report.Skipped > 0 {
		fleetErr = fmt.Errorf("%d failed, %d skipped", report.Failed, report.Skipped)
	}
	m.recordAudit(ctx, "fleet."+op, "", nil, jsonValue(summary), fleetErr)
	return report, errors.Join(recordErrs...)
}

// errRecord marks a fleet item whose outcome could not be recorded.
var errRecord = errors.New("outcome not recorded")

// fleetOne runs one tenant of a fleet run under the tenant's lock: a lock
// held beyond lockWait skips the tenant ("locked by <holder>"), so that an
// operation is never applied twice by concurrent runs.
func (m *Manager) fleetOne(ctx context.Context, op, runID string, lockWait time.Duration, o *Outcome, fn func(context.Context, *Outcome) error) error {
	t := o.Tenant
	lctx, lock, err := m.lockTenant(ctx, t.UUID, op, lockWait, m.heartbeat(op, runID, t))
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			o.State, o.Error = StateSkipped, "locked by "+le.Holder
		} else {
			o.State, o.Error = StateFailed, err.Error()
		}
		if rerr := m.recordRun(ctx, op, runID, o); rerr != nil {
			return fmt.Errorf("%w: %w", errRecord, rerr)
		}
		if o.State == StateSkipped {
			return nil
		}
		return err
	}
	defer lock.release()
	// Deleted, or being deleted, since the run listed it: nothing to do.
	cur, err := m.store.TenantByUUID(lctx, t.UUID)
	if err != nil || cur.Status.Lifecycle() {
		o.State, o.Error = StateSkipped, "deleted during the run"
		if err != nil && !errors.Is(err, ErrNotFound) {
			o.State, o.Error = StateFailed, err.Error()
			return err
		}
		return nil
	}
	if err := m.recordState(lctx, op, runID, t, StateRunning); err != nil {
		return fmt.Errorf("%w: %w", errRecord, err)
	}
	err = m.timed(lctx, o, fn)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		err = context.Cause(lctx) // the lock was lost
		o.Error = err.Error()
	}
	lock.stopRenewing() // no heartbeat may follow the outcome
	if rerr := m.recordRun(ctx, op, runID, o); rerr != nil {
		return errors.Join(err, fmt.Errorf("%w: %w", errRecord, rerr))
	}
	return err
}

// rollback rolls a tenant's database back by steps migrations and records
// the resulting version.
func (m *Manager) rollback(ctx context.Context, t *Tenant, steps int) (*Outcome, error) {
	return m.runOne(ctx, t, OpMigrate, "tenant.rollback", func(ctx context.Context, o *Outcome) error {
		h, err := m.acquire(ctx, o.Tenant)
		if err != nil {
			return fmt.Errorf("open database %s: %w", t.DatabaseName, err)
		}
		defer h.Release()
		res, err := m.migrations.Down(ctx, m.prov.Dialect(), h.DB(), steps)
		o.From, o.To, o.Applied = res.From, res.To, res.Applied
		return err
	})
}

// MigrationStatus lists each migration and whether it is applied to the
// tenant's database.
func (m *Manager) MigrationStatus(ctx context.Context, t *Tenant) ([]migrate.Status, error) {
	if t.Status.Lifecycle() {
		return nil, &StateError{Tenant: t.UUID, Status: t.Status}
	}
	h, err := m.acquire(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", t.DatabaseName, err)
	}
	defer h.Release()
	return m.migrations.Status(ctx, m.prov.Dialect(), h.DB())
}

// TenantOperation pairs a tenant with the last recorded outcome of an
// operation on it (nil when the operation never ran).
type TenantOperation struct {
	Tenant *Tenant
	Last   *OperationRecord
}

// OperationStatus returns every tenant with its last recorded outcome of
// op, read from the catalog without opening tenant databases.
func (m *Manager) OperationStatus(ctx context.Context, op string) ([]TenantOperation, error) {
	all, err := m.store.AllTenants(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := m.store.Operations(ctx, op, "")
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*OperationRecord, len(recs))
	for i := range recs {
		byID[recs[i].TenantID] = &recs[i]
	}
	out := make([]TenantOperation, len(all))
	for i, t := range all {
		out[i] = TenantOperation{Tenant: t, Last: byID[t.ID]}
	}
	return out, nil
}
