package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

// fleetFlags are the flags shared by fleet commands.
type fleetFlags struct {
	all         bool
	concurrency int
	retryFailed bool
	failFast    bool
	lockWait    time.Duration
}

func (ff *fleetFlags) register(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&ff.all, "all", false, what+" every tenant")
	f.IntVar(&ff.concurrency, "concurrency", 2*runtime.NumCPU(), "tenants worked on at once (with --all)")
	f.BoolVar(&ff.retryFailed, "retry-failed", false, "only the tenants whose last run did not succeed: failed, skipped, or interrupted (with --all)")
	f.DurationVar(&ff.lockWait, "lock-wait", tenancy.DefaultLockWait, "how long to wait for a tenant locked by another operation before skipping it (with --all)")
	f.BoolVar(&ff.failFast, "fail-fast", false, "stop at the first failure (with --all)")
}

// check validates the combination of a TENANT argument and fleet flags.
func (ff *fleetFlags) check(cmd *cobra.Command, args []string) error {
	switch {
	case ff.all && len(args) > 0:
		return errors.New("give either TENANT or --all, not both")
	case !ff.all && len(args) == 0:
		return errors.New("give a TENANT (uuid or domain) or --all")
	case ff.concurrency < 1:
		return fmt.Errorf("invalid --concurrency %d: must be at least 1", ff.concurrency)
	case ff.lockWait < 0:
		return fmt.Errorf("invalid --lock-wait %s: must not be negative", ff.lockWait)
	case !ff.all && (ff.retryFailed || ff.failFast || cmd.Flags().Changed("concurrency")):
		return errors.New("--concurrency, --retry-failed and --fail-fast go with --all")
	}
	return nil
}

// progress returns a progress callback drawing a bar on a terminal, or nil.
func progress(w io.Writer, what string) (func(migrate.Progress), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	return func(p migrate.Progress) {
			if bar == nil {
				bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription(what), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			bar.Set(p.Done)
		}, func() {
			if bar != nil {
				bar.Finish()
			}
		}
}

// fleetResult prints a report and fails when any tenant failed.
func fleetResult(cmd *cobra.Command, o *options, r *tenancy.FleetReport, err error) error {
	if r != nil {
		if perr := printReport(cmd.OutOrStdout(), o, r); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	if r.Failed > 0 {
		return fmt.Errorf("%s failed for %d of %d tenants (rerun the failed ones with --all --retry-failed)", r.Operation, r.Failed, len(r.Outcomes))
	}
	if r.Skipped > 0 {
		return fmt.Errorf("%s skipped %d of %d tenants", r.Operation, r.Skipped, len(r.Outcomes))
	}
	return nil
}

// singleResult prints one tenant's outcome.
func singleResult(cmd *cobra.Command, o *options, op string, oc *tenancy.Outcome, err error) error {
	if oc == nil {
		return err
	}
	r := &tenancy.FleetReport{Operation: op, Outcomes: []*tenancy.Outcome{oc}, Duration: oc.Duration}
	if oc.State == tenancy.StateSucceeded {
		r.Succeeded = 1
	} else {
		r.Failed = 1
	}
	if perr := printReport(cmd.OutOrStdout(), o, r); perr != nil {
		return perr
	}
	return err
}

func newMigrateCmd(o *options) *cobra.Command {
	var (
		ff    fleetFlags
		mopts tenancy.MigrateOptions
	)
	cmd := &cobra.Command{
		Use:   "migrate TENANT|--all",
		Short: "Apply the tenant migrations to one tenant or to all",
		Args:  cobra.MaximumNArgs(1),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if err := ff.check(cmd, args); err != nil {
				return err
			}
			if !ff.all {
				t, err := e.mgr.Get(ctx, args[0])
				if err != nil {
					return err
				}
				oc, err := e.mgr.Migrate(ctx, t, mopts)
				return singleResult(cmd, o, tenancy.OpMigrate, oc, err)
			}
			report, done := progress(cmd.ErrOrStderr(), "migrating")
			r, err := e.mgr.MigrateAll(ctx, tenancy.FleetOptions{
				MigrateOptions: mopts, Concurrency: ff.concurrency, RetryFailed: ff.retryFailed, LockWait: ff.lockWait,
				FailFast: ff.failFast, Progress: report,
			})
			done()
			return fleetResult(cmd, o, r, err)
		}),
	}
	ff.register(cmd, "migrate")
	f := cmd.Flags()
	f.BoolVar(&mopts.Fresh, "fresh", false, "drop every table and migrate from nothing")
	f.BoolVar(&mopts.Seed, "seed", false, "run the seeders after migrating")
	f.StringSliceVar(&mopts.Seeders, "seeder", nil, "seeder to run with --seed (repeatable)")

	var steps int
	rollback := &cobra.Command{
		Use:   "rollback TENANT",
		Short: "Roll a tenant's database back by --steps migrations",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if steps < 1 {
				return fmt.Errorf("invalid --steps %d: must be at least 1", steps)
			}
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			oc, err := e.mgr.Migrate(ctx, t, tenancy.MigrateOptions{Rollback: steps})
			return singleResult(cmd, o, "rollback", oc, err)
		}),
	}
	rollback.Flags().IntVar(&steps, "steps", 1, "migrations to roll back")

	status := &cobra.Command{
		Use:   "status [TENANT]",
		Short: "Show migrations of one tenant, or the last migration outcome of every tenant",
		Args:  cobra.MaximumNArgs(1),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if len(args) == 1 {
				return tenantMigrationStatus(ctx, cmd, o, e, args[0])
			}
			return fleetMigrationStatus(ctx, cmd, o, e)
		}),
	}
	cmd.AddCommand(rollback, status)
	return cmd
}

func tenantMigrationStatus(ctx context.Context, cmd *cobra.Command, o *options, e *env, ref string) error {
	t, err := e.mgr.Get(ctx, ref)
	if err != nil {
		return err
	}
	st, err := e.mgr.MigrationStatus(ctx, t)
	if err != nil {
		return err
	}
	if o.outputJSON() {
		return printJSON(cmd.OutOrStdout(), st)
	}
	tb := newTable(cmd.OutOrStdout(), "VERSION", "NAME", "APPLIED", "APPLIED AT")
	for _, s := range st {
		at := "-"
		if s.Applied {
			at = formatTime(&s.AppliedAt)
		}
		tb.row(s.Version, s.Name, s.Applied, at)
	}
	if err := tb.flush(); err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintln(cmd.OutOrStdout(), "no migrations")
	}
	return nil
}

// fleetStatus is one row of `migrate status` without a tenant.
type fleetStatus struct {
	UUID       string     `json:"tenant_uuid"`
	Domain     string     `json:"domain"`
	Version    int64      `json:"version"`
	Latest     int64      `json:"latest"`
	State      string     `json:"state"`
	Error      string     `json:"error,omitempty"`
	FinishedAt *time.Time `json:"finished_at"`
}

func fleetMigrationStatus(ctx context.Context, cmd *cobra.Command, o *options, e *env) error {
	ops, err := e.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil {
		return err
	}
	_, latest := e.mgr.Databases().Migrations()
	rows := make([]fleetStatus, 0, len(ops))
	counts := map[string]int{}
	for _, op := range ops {
		row := fleetStatus{UUID: op.Tenant.UUID, Domain: op.Tenant.PrimaryDomain(), Latest: latest, State: "never run"}
		if op.Last != nil {
			row.Version, row.State, row.Error = op.Last.Version, op.Last.State, op.Last.Error
			at := op.Last.FinishedAt
			row.FinishedAt = &at
			if op.Last.State == tenancy.StateSucceeded && op.Last.Version < latest {
				row.State = "pending"
			}
		}
		counts[row.State]++
		rows = append(rows, row)
	}
	if o.outputJSON() {
		return printJSON(cmd.OutOrStdout(), rows)
	}
	tb := newTable(cmd.OutOrStdout(), "TENANT", "DOMAIN", "VERSION", "LATEST", "STATE", "FINISHED", "ERROR")
	for _, r := range rows {
		tb.row(r.UUID, r.Domain, r.Version, r.Latest, r.State, formatTime(r.FinishedAt), r.Error)
	}
	if err := tb.flush(); err != nil {
		return err
	}
	var parts []string
	for _, s := range []string{tenancy.StateSucceeded, "pending", tenancy.StateRunning, tenancy.StateFailed, tenancy.StateSkipped, "never run"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d tenants: %s\n", len(rows), strings.Join(parts, ", "))
	return nil
}

func newSeedCmd(o *options) *cobra.Command {
	var (
		ff      fleetFlags
		seeders []string
	)
	cmd := &cobra.Command{
		Use:   "seed TENANT|--all",
		Short: "Run seeders (all, or those named by --seeder) on one tenant or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if err := ff.check(cmd, args); err != nil {
				return err
			}
			if len(e.mgr.Databases().Seeders()) == 0 {
				return errors.New("no seeders: add .sql files to the seeders directory")
			}
			if !ff.all {
				t, err := e.mgr.Get(ctx, args[0])
				if err != nil {
					return err
				}
				oc, err := e.mgr.Seed(ctx, t, seeders...)
				return singleResult(cmd, o, tenancy.OpSeed, oc, err)
			}
			report, done := progress(cmd.ErrOrStderr(), "seeding")
			r, err := e.mgr.SeedAll(ctx, tenancy.FleetOptions{
				MigrateOptions: tenancy.MigrateOptions{Seeders: seeders}, Concurrency: ff.concurrency,
				RetryFailed: ff.retryFailed, LockWait: ff.lockWait, FailFast: ff.failFast, Progress: report,
			})
			done()
			return fleetResult(cmd, o, r, err)
		}),
	}
	ff.register(cmd, "seed")
	cmd.Flags().StringSliceVar(&seeders, "seeder", nil, "seeder to run (repeatable; default all)")
	return cmd
}

func newRunCmd(o *options) *cobra.Command {
	var query string
	cmd := &cobra.Command{
		Use:   "run TENANT --sql \"...\"",
		Short: "Run SQL in a tenant's database and print the rows",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if strings.TrimSpace(query) == "" {
				return errors.New("give the SQL to run with --sql")
			}
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return e.mgr.Run(ctx, t, func(ctx context.Context) error {
				db, err := tenancy.DB(ctx)
				if err != nil {
					return err
				}
				return runSQL(ctx, cmd, o, db, query)
			})
		}),
	}
	cmd.Flags().StringVar(&query, "sql", "", "SQL to run")
	return cmd
}

// runSQL runs query and prints its rows (or "ok" for statements without rows).
func runSQL(ctx context.Context, cmd *cobra.Command, o *options, db *sql.DB, query string) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var out []map[string]any
	var tb *table
	if !o.outputJSON() && len(cols) > 0 {
		tb = newTable(cmd.OutOrStdout(), cols...)
	}
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		n++
		if tb != nil {
			tb.row(vals...)
			continue
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if o.outputJSON() {
		if out == nil {
			out = []map[string]any{}
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	if tb != nil {
		if err := tb.flush(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "(%d rows)\n", n)
		return nil
	}
	fmt.Fprintln(cmd.OutOrStdout(), "ok")
	return nil
}
