package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/migrate"
)

// MigrateOptions says how to migrate a tenant database.
type MigrateOptions struct {
	// Fresh drops every table first and migrates from nothing.
	Fresh bool
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

// StateSkipped marks a tenant a fleet run did not reach (fail-fast or cancellation).
const StateSkipped = "skipped"

// FleetOptions configures MigrateAll and SeedAll.
type FleetOptions struct {
	MigrateOptions
	// Concurrency bounds the tenants worked on at once; default 2×cores.
	Concurrency int
	// RetryFailed runs only the tenants whose last outcome of this
	// operation was a failure.
	RetryFailed bool
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
	Operation string        `json:"operation"`
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
	if err := m.checkSeeders(opts); err != nil {
		return nil, err
	}
	return m.runOne(ctx, t, OpMigrate, "tenant.migrate", func(ctx context.Context, o *Outcome) error {
		return m.migrateOne(ctx, o, opts)
	})
}

// timed runs fn for o and sets o's duration and state (and error).
func timed(ctx context.Context, o *Outcome, fn func(context.Context, *Outcome) error) error {
	start := time.Now()
	err := fn(ctx, o)
	o.Duration = time.Since(start)
	o.State = StateSucceeded
	if err != nil {
		o.State, o.Error = StateFailed, err.Error()
	}
	return err
}

// runOne runs an operation on one tenant, records its outcome under op in
// the catalog and in the audit log under action.
func (m *Manager) runOne(ctx context.Context, t *Tenant, op, action string, fn func(context.Context, *Outcome) error) (*Outcome, error) {
	o := newOutcome(t)
	err := timed(ctx, o, fn)
	if rerr := m.record(ctx, op, o); rerr != nil {
		err = errors.Join(err, rerr)
	}
	m.auditOutcome(ctx, action, o)
	return o, err
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
	h, err := m.conns.Acquire(ctx, o.Tenant.DatabaseName)
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
	err := m.store.RecordOperation(context.WithoutCancel(ctx), OperationRecord{
		TenantID:  o.Tenant.ID,
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
	h, err := m.conns.Acquire(ctx, o.Tenant.DatabaseName)
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
	failed, err := m.store.Operations(ctx, op, StateFailed)
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]bool, len(failed))
	for _, r := range failed {
		ids[r.TenantID] = true
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
	start := time.Now()
	outcomes := make([]*Outcome, len(targets))
	for i, t := range targets {
		outcomes[i] = newOutcome(t)
	}
	var recordErrs []error
	results, err := migrate.RunFleet(ctx, outcomes, &migrate.FleetConfig{
		Concurrency: opts.Concurrency,
		FailFast:    opts.FailFast,
		Progress:    opts.Progress,
	}, func(ctx context.Context, o *Outcome) error {
		err := timed(ctx, o, fn)
		if rerr := m.record(ctx, op, o); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	report := &FleetReport{Operation: op, Outcomes: outcomes}
	for _, r := range results {
		o := r.Item
		switch {
		case r.Skipped:
			o.State = StateSkipped
			report.Skipped++
		case r.Err != nil:
			if o.State != StateFailed {
				// The operation succeeded but its outcome was not recorded.
				recordErrs = append(recordErrs, r.Err)
				o.State, o.Error = StateFailed, r.Err.Error()
			}
			report.Failed++
		default:
			report.Succeeded++
		}
	}
	report.Duration = time.Since(start)
	summary := map[string]any{"tenants": len(outcomes), "succeeded": report.Succeeded, "failed": report.Failed, "skipped": report.Skipped}
	var fleetErr error
	if report.Failed > 0 || report.Skipped > 0 {
		fleetErr = fmt.Errorf("%d failed, %d skipped", report.Failed, report.Skipped)
	}
	m.recordAudit(ctx, "fleet."+op, "", nil, jsonValue(summary), fleetErr)
	return report, errors.Join(recordErrs...)
}

// Rollback rolls a tenant's database back by steps migrations and records
// the resulting version.
func (m *Manager) Rollback(ctx context.Context, t *Tenant, steps int) (*Outcome, error) {
	if steps < 1 {
		return nil, &ValidationError{Field: "steps", Reason: "must be at least 1"}
	}
	return m.runOne(ctx, t, OpMigrate, "tenant.rollback", func(ctx context.Context, o *Outcome) error {
		h, err := m.conns.Acquire(ctx, t.DatabaseName)
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
	h, err := m.conns.Acquire(ctx, t.DatabaseName)
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
