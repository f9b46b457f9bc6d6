package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/monitor"
)

// tenantCheckTimeout bounds the measurement of one tenant's database.
const tenantCheckTimeout = 10 * time.Second

// Names of the checks of `tenancy health`.
const (
	checkCatalog   = "catalog"
	checkDisk      = "disk"
	checkDatabases = "tenant_databases"
	checkDatabase  = "database"
	checkMigration = "migrations"
)

// tenantFigures are what health and report learn about one tenant: its
// catalog record and, through the Manager, its database.
type tenantFigures struct {
	UUID              string         `json:"uuid"`
	Name              string         `json:"name"`
	Status            tenancy.Status `json:"status"`
	Maintenance       bool           `json:"maintenance"`
	PrimaryDomain     string         `json:"primary_domain"`
	Domains           int            `json:"domains"`
	Shard             string         `json:"shard"`
	DatabaseName      string         `json:"database_name"`
	Reachable         bool           `json:"database_reachable"`
	SizeBytes         int64          `json:"database_size_bytes"`
	TableCount        int            `json:"table_count"`
	MigrationVersion  int64          `json:"migration_version"`
	PendingMigrations int            `json:"pending_migrations"`
	CreatedAt         time.Time      `json:"created_at"`
	LastAccessedAt    *time.Time     `json:"last_accessed_at"`
	// Error says what could not be measured; empty when everything was.
	Error string `json:"error,omitempty"`
}

// failed reports whether the tenant's database could not be fully measured.
func (f *tenantFigures) failed() bool { return f.Error != "" }

// label names the tenant in messages: its primary domain, else its uuid.
func (f *tenantFigures) label() string {
	if f.PrimaryDomain != "" {
		return f.PrimaryDomain
	}
	return f.UUID
}

// figuresOf is the catalog's part of a tenant's figures.
func figuresOf(t *tenancy.Tenant) tenantFigures {
	return tenantFigures{
		UUID: t.UUID, Name: t.Name, Status: t.Status, Maintenance: t.Maintenance,
		PrimaryDomain: t.PrimaryDomain(), Domains: len(t.Domains), Shard: t.Shard,
		DatabaseName: t.DatabaseName, CreatedAt: t.CreatedAt, LastAccessedAt: t.LastAccessedAt,
	}
}

// measureTenant opens the tenant's database through the Manager, runs a
// trivial query in the tenant's context, and reads its size, tables,
// migration version and pending migrations. A failure is recorded in
// Error, never returned: one tenant's broken database is a finding.
func measureTenant(ctx context.Context, mgr *tenancy.Manager, t *tenancy.Tenant) tenantFigures {
	f := figuresOf(t)
	ctx, cancel := context.WithTimeout(ctx, tenantCheckTimeout)
	defer cancel()
	err := mgr.Run(ctx, t, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		f.Error = err.Error()
		return f
	}
	f.Reachable = true
	var errs []error
	if ds, err := mgr.DatabaseStats(ctx, t); err != nil {
		errs = append(errs, err)
	} else {
		f.SizeBytes, f.TableCount, f.MigrationVersion = ds.SizeBytes, ds.TableCount, ds.Version
	}
	if st, err := mgr.MigrationStatus(ctx, t); err != nil {
		errs = append(errs, err)
	} else {
		for _, s := range st {
			if !s.Applied {
				f.PendingMigrations++
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		f.Error = oneLine(err)
	}
	return f
}

// fleetConcurrency is how many tenant databases are measured at once:
// twice the cores, but never more than may be open at once.
func fleetConcurrency(o *options) int {
	return max(1, min(2*runtime.NumCPU(), o.maxOpen))
}

// measureFleet measures every tenant with bounded concurrency and returns
// the figures in the order of tenants.
func measureFleet(ctx context.Context, o *options, mgr *tenancy.Manager, tenants []*tenancy.Tenant) ([]tenantFigures, error) {
	out := make([]tenantFigures, len(tenants))
	idx := make([]int, len(tenants))
	for i := range idx {
		idx[i] = i
	}
	res, err := migrate.RunFleet(ctx, idx, &migrate.FleetConfig{Concurrency: fleetConcurrency(o)},
		func(ctx context.Context, i int) error {
			out[i] = measureTenant(ctx, mgr, tenants[i])
			return nil
		})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Err != nil { // a panic
			out[r.Item] = figuresOf(tenants[r.Item])
			out[r.Item].Error = r.Err.Error()
		}
	}
	return out, nil
}

// healthCheck is the outcome of one check of `tenancy health`.
type healthCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Skipped is true when there was nothing to check; a skipped check is OK.
	Skipped    bool    `json:"skipped,omitempty"`
	Detail     string  `json:"detail,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// healthResult is what `tenancy health` finds; -o json prints it.
type healthResult struct {
	Healthy bool            `json:"healthy"`
	Checks  []healthCheck   `json:"checks"`
	Tenants []tenantFigures `json:"tenants"`
}

// add records a check that started at start; err fails it.
func (r *healthResult) add(name string, start time.Time, detail string, err error) {
	c := healthCheck{Name: name, OK: err == nil, Detail: detail, DurationMS: durationMS(time.Since(start))}
	if err != nil {
		c.Error = oneLine(err)
	}
	r.Checks = append(r.Checks, c)
}

// failures names the failing checks, for the command's error.
func (r *healthResult) failures() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// durationMS is d in milliseconds, to the microsecond.
func durationMS(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

func newHealthCmd(o *options) *cobra.Command {
	var detailed bool
	cmd := &cobra.Command{
		Use:   "health [TENANT] [--detailed]",
		Short: "Check the catalog, free disk space and every tenant database (or one tenant's)",
		Long: `Check the catalog (a query), the data directory's free disk space, every
tenant database (opened and queried through the Manager, a few at a time)
and pending migrations. Each check prints ok or FAIL with its duration;
--detailed adds a row per tenant. With TENANT (uuid or domain) only that
tenant's database and migrations are checked, in detail.

The exit code is 1 when any check fails.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			res := &healthResult{Tenants: []tenantFigures{}}
			// Unreadable migrations are a failing check, not a reason to
			// check nothing else.
			var migErr error
			start := time.Now()
			e, err := openEnv(ctx, o, true)
			if err != nil {
				migErr = err
				e, err = openEnv(ctx, o, false)
			}
			if err != nil {
				if len(args) == 1 {
					return err
				}
				res.add(checkCatalog, start, "", err)
				return finishHealth(cmd, o, res, detailed)
			}
			defer e.Close()
			if len(args) == 1 {
				t, err := e.mgr.Get(ctx, args[0])
				if err != nil {
					return err
				}
				tenantHealth(ctx, e.mgr, t, migErr, res)
				return finishHealth(cmd, o, res, true)
			}
			fleetHealth(ctx, o, e.mgr, migErr, res)
			return finishHealth(cmd, o, res, detailed)
		},
	}
	cmd.Flags().BoolVar(&detailed, "detailed", false, "add a row per tenant: status, database reachable, size, tables, migrations, last access")
	return cmd
}

// fleetHealth runs the checks of the whole deployment into res.
func fleetHealth(ctx context.Context, o *options, mgr *tenancy.Manager, migErr error, res *healthResult) {
	start := time.Now()
	counts, err := mgr.CountByStatus(ctx)
	n := 0
	for _, c := range counts {
		n += c
	}
	res.add(checkCatalog, start, plural(n, "tenant"), err)

	start = time.Now()
	free, err := monitor.FreeBytes(o.dataDir)
	switch {
	case errors.Is(err, monitor.ErrDiskUnsupported):
		res.add(checkDisk, start, "free space not measurable on this platform", nil)
		res.Checks[len(res.Checks)-1].Skipped = true
	case err != nil:
		res.add(checkDisk, start, "", err)
	case free < monitor.DefaultMinFreeBytes:
		res.add(checkDisk, start, "", fmt.Errorf("%s free in %s, below the minimum of %s",
			humanize.Bytes(uint64(free)), o.dataDir, humanize.Bytes(monitor.DefaultMinFreeBytes)))
	default:
		res.add(checkDisk, start, fmt.Sprintf("%s free in %s", humanize.Bytes(uint64(free)), o.dataDir), nil)
	}

	start = time.Now()
	tenants, err := mgr.AllTenants(ctx)
	if err == nil {
		res.Tenants, err = measureFleet(ctx, o, mgr, tenants)
	}
	if err != nil {
		res.add(checkDatabases, start, "", err)
		res.add(checkMigration, start, "", errors.New("not checked: the tenants could not be listed"))
		return
	}
	databasesCheck(res, start, checkDatabases)
	migrationsCheck(res, start, mgr, migErr)
}

// tenantHealth runs the checks of one tenant into res.
func tenantHealth(ctx context.Context, mgr *tenancy.Manager, t *tenancy.Tenant, migErr error, res *healthResult) {
	start := time.Now()
	res.Tenants = []tenantFigures{measureTenant(ctx, mgr, t)}
	databasesCheck(res, start, checkDatabase)
	migrationsCheck(res, start, mgr, migErr)
}

// databasesCheck records whether every measured tenant database was reachable and measured.
func databasesCheck(res *healthResult, start time.Time, name string) {
	var bad []string
	for _, f := range res.Tenants {
		if f.failed() {
			bad = append(bad, f.label()+": "+f.Error)
		}
	}
	total := len(res.Tenants)
	if len(bad) > 0 {
		res.add(name, start, "", fmt.Errorf("%d of %d failed: %s", len(bad), total, strings.Join(bad, "; ")))
		return
	}
	res.add(name, start, fmt.Sprintf("%d of %d reachable", total, total), nil)
	if total == 0 {
		res.Checks[len(res.Checks)-1].Skipped = true
		res.Checks[len(res.Checks)-1].Detail = "no tenants"
	}
}

// migrationsCheck records whether every reachable tenant database has
// every migration applied.
func migrationsCheck(res *healthResult, start time.Time, mgr *tenancy.Manager, migErr error) {
	if migErr != nil {
		res.add(checkMigration, start, "", fmt.Errorf("cannot read the migrations: %w", migErr))
		return
	}
	count, latest := mgr.Databases().Migrations()
	if count == 0 {
		res.add(checkMigration, start, "no tenant migrations defined", nil)
		res.Checks[len(res.Checks)-1].Skipped = true
		return
	}
	var behind []string
	for _, f := range res.Tenants {
		if f.PendingMigrations > 0 {
			behind = append(behind, fmt.Sprintf("%s (%d)", f.label(), f.PendingMigrations))
		}
	}
	if len(behind) > 0 {
		res.add(checkMigration, start, "", fmt.Errorf("%s pending migrations: %s (run tenancy migrate --all)",
			plural(len(behind), "tenant has", "tenants have"), strings.Join(behind, ", ")))
		return
	}
	res.add(checkMigration, start, fmt.Sprintf("none pending (latest version %d)", latest), nil)
}

// finishHealth prints the result and fails when a check failed.
func finishHealth(cmd *cobra.Command, o *options, res *healthResult, detailed bool) error {
	failed := res.failures()
	res.Healthy = len(failed) == 0
	w := cmd.OutOrStdout()
	if o.outputJSON() {
		if err := printJSON(w, res); err != nil {
			return err
		}
	} else if err := printHealth(w, res, detailed); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("health checks failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// printHealth writes one line per check and, when detailed, a table of tenants.
func printHealth(w io.Writer, res *healthResult, detailed bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range res.Checks {
		state, text := "ok  ", c.Detail // padded: the lines look alike whether or not one failed
		if !c.OK {
			state, text = "FAIL", c.Error
		}
		d := time.Duration(c.DurationMS * float64(time.Millisecond)).Round(100 * time.Microsecond)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", state, c.Name, d, strings.NewReplacer("\t", " ", "\n", " ").Replace(text))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !detailed {
		return nil
	}
	fmt.Fprintln(w)
	if len(res.Tenants) == 0 {
		_, err := fmt.Fprintln(w, "no tenants")
		return err
	}
	tb := newTable(w, "TENANT", "DOMAIN", "STATUS", "DATABASE", "REACHABLE", "SIZE", "TABLES", "VERSION", "PENDING", "LAST ACCESS", "ERROR")
	for _, f := range res.Tenants {
		status := string(f.Status)
		if f.Maintenance {
			status += "+maintenance"
		}
		reachable := "yes"
		if !f.Reachable {
			reachable = "no"
		}
		errText := f.Error
		if errText == "" {
			errText = "-"
		}
		tb.row(f.UUID, f.PrimaryDomain, status, f.DatabaseName, reachable, humanize.Bytes(uint64(f.SizeBytes)),
			f.TableCount, f.MigrationVersion, f.PendingMigrations, formatTime(f.LastAccessedAt), errText)
	}
	return tb.flush()
}

// plural writes n with the singular or plural noun: "1 tenant", "2
// tenants"; with one noun the plural adds an s.
func plural(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}
