package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/monitor"
)

// fleetStats are the fleet's figures, computed from the catalog and the
// tenant databases; `tenancy stats -o json` prints one per refresh.
type fleetStats struct {
	// Time is when the figures were taken.
	Time time.Time `json:"time"`
	// Tenants counts tenants by status, and those in maintenance mode.
	Tenants monitor.TenantCounts `json:"tenants"`
	// Domains counts the domains of all tenants.
	Domains int `json:"domains"`
	// Databases are the sizes of the tenant databases.
	Databases databaseSizes `json:"databases"`
	// Budget is how many tenant databases and connections may be open.
	Budget budgetFigures `json:"budget"`
	// DurationMS is how long taking the figures took.
	DurationMS float64 `json:"duration_ms"`
}

// databaseSizes sum the sizes of the tenant databases.
type databaseSizes struct {
	Measured   int   `json:"measured"`
	Unmeasured int   `json:"unmeasured"`
	TotalBytes int64 `json:"total_size_bytes"`
	// AvgBytes is TotalBytes over Measured (0 when none was).
	AvgBytes int64 `json:"avg_size_bytes"`
	// Largest is the largest tenant database (nil when none was measured).
	Largest *largestDatabase `json:"largest,omitempty"`
}

// largestDatabase names the tenant with the largest database.
type largestDatabase struct {
	UUID         string `json:"uuid"`
	Name         string `json:"name"`
	Domain       string `json:"domain"`
	DatabaseName string `json:"database_name"`
	SizeBytes    int64  `json:"size_bytes"`
}

// budgetFigures are the limits on open tenant databases and connections.
type budgetFigures struct {
	// TenantDB is the tenant database mode (--tenant-db).
	TenantDB string `json:"tenant_db"`
	// MaxOpenDatabases is the most tenant databases open at once: the
	// --max-open-databases, lowered to fit the connection budget.
	MaxOpenDatabases int `json:"max_open_databases"`
	// ConnectionBudget is the most connections all tenant pools together
	// hold (server modes only; 0 for SQLite).
	ConnectionBudget int `json:"connection_budget,omitempty"`
}

// collectStats takes the fleet's figures through the Manager. Database
// sizes are measured a few tenants at a time.
func collectStats(ctx context.Context, o *options, mgr *tenancy.Manager) (*fleetStats, error) {
	start := time.Now()
	s := &fleetStats{Time: start.UTC()}
	counts, err := mgr.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	s.Tenants = monitor.CountsByStatus(counts)
	tenants, err := mgr.AllTenants(ctx)
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(tenants))
	idx := make([]int, len(tenants))
	for i, t := range tenants {
		idx[i] = i
		s.Domains += len(t.Domains)
		if t.Maintenance {
			s.Tenants.Maintenance++
		}
	}
	res, err := migrate.RunFleet(ctx, idx, &migrate.FleetConfig{Concurrency: fleetConcurrency(o)},
		func(ctx context.Context, i int) error {
			ctx, cancel := context.WithTimeout(ctx, tenantCheckTimeout)
			defer cancel()
			n, err := mgr.Databases().Size(ctx, tenants[i])
			sizes[i] = n
			return err
		})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := &s.Databases
	for _, r := range res {
		if r.Err != nil || r.Skipped {
			d.Unmeasured++
			continue
		}
		t, n := tenants[r.Item], sizes[r.Item]
		d.Measured++
		d.TotalBytes += n
		if d.Largest == nil || n > d.Largest.SizeBytes {
			d.Largest = &largestDatabase{UUID: t.UUID, Name: t.Name, Domain: t.PrimaryDomain(), DatabaseName: t.DatabaseName, SizeBytes: n}
		}
	}
	if d.Measured > 0 {
		d.AvgBytes = d.TotalBytes / int64(d.Measured)
	}
	s.Budget = budgetFigures{TenantDB: o.tenantDB, MaxOpenDatabases: mgr.Databases().Stats().MaxOpen}
	if o.tenantDB != modeSQLite {
		s.Budget.ConnectionBudget = o.connBudget
	}
	s.DurationMS = durationMS(time.Since(start))
	return s, nil
}

// printStats writes the fleet's figures as labelled lines.
func printStats(w io.Writer, s *fleetStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	c := s.Tenants
	line("Tenants", fmt.Sprintf("%d: %d active, %d inactive, %d suspended, %d blocked; %d in maintenance",
		c.Total, c.Active, c.Inactive, c.Suspended, c.Blocked, c.Maintenance))
	line("Domains", humanize.Comma(int64(s.Domains)))
	d := s.Databases
	sizes := fmt.Sprintf("%s in total, %s on average over %s", humanize.Bytes(uint64(d.TotalBytes)),
		humanize.Bytes(uint64(d.AvgBytes)), plural(d.Measured, "database"))
	if d.Unmeasured > 0 {
		sizes += fmt.Sprintf(" (%d not measurable)", d.Unmeasured)
	}
	line("Database size", sizes)
	if l := d.Largest; l != nil {
		line("Largest", fmt.Sprintf("%s %s (%s, %s)", humanize.Bytes(uint64(l.SizeBytes)), l.Name, l.Domain, l.DatabaseName))
	}
	budget := fmt.Sprintf("%d tenant databases open at most (%s)", s.Budget.MaxOpenDatabases, s.Budget.TenantDB)
	if s.Budget.ConnectionBudget > 0 {
		budget += fmt.Sprintf(", %d connections in all", s.Budget.ConnectionBudget)
	}
	line("Budget", budget)
	line("Measured", fmt.Sprintf("%s in %s", s.Time.Local().Format("2006-01-02 15:04:05"),
		time.Duration(s.DurationMS*float64(time.Millisecond)).Round(100*time.Microsecond)))
	return tw.Flush()
}

// liveFlags are the flags of commands that can refresh their view.
type liveFlags struct {
	live     bool
	interval time.Duration
	count    int
}

func (lf *liveFlags) register(cmd *cobra.Command, interval time.Duration) {
	f := cmd.Flags()
	f.BoolVar(&lf.live, "live", false, "refresh every --interval until Ctrl-C")
	f.DurationVar(&lf.interval, "interval", interval, "time between refreshes (with --live)")
	f.IntVar(&lf.count, "count", 0, "stop after this many refreshes (with --live; 0: until Ctrl-C)")
	f.MarkHidden("count")
}

// check validates the combination of the live flags.
func (lf *liveFlags) check(cmd *cobra.Command) error {
	switch {
	case lf.interval <= 0:
		return fmt.Errorf("invalid --interval %s: must be positive", lf.interval)
	case lf.count < 0:
		return fmt.Errorf("invalid --count %d: must not be negative", lf.count)
	case !lf.live && (cmd.Flags().Changed("interval") || cmd.Flags().Changed("count")):
		return errors.New("--interval and --count go with --live")
	}
	return nil
}

// clearScreen moves the cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// refresh shows a view once, or with --live every interval until ctx ends
// or --count views were shown. take takes the figures; show writes them as
// text, or they are written as JSON (asJSON). On a terminal each text view
// replaces the previous one; elsewhere views follow each other, separated
// by a blank line, and live JSON values are written one per line. The
// first take must succeed; a later failure is shown in its place and the
// next refresh tries again.
func refresh[T any](ctx context.Context, w, errW io.Writer, lf *liveFlags, asJSON bool, title string,
	take func(ctx context.Context) (T, error), show func(io.Writer, T) error) error {
	var ticker *time.Ticker
	if lf.live {
		ticker = time.NewTicker(lf.interval)
		defer ticker.Stop()
	}
	tty := isTerminal(w)
	for n := 1; ; n++ {
		var buf bytes.Buffer
		if lf.live && !asJSON {
			switch {
			case tty:
				buf.WriteString(clearScreen)
			case n > 1:
				buf.WriteString("\n")
			}
			fmt.Fprintf(&buf, "%s, every %s (Ctrl-C to quit)\n\n", title, lf.interval)
		}
		v, err := take(ctx)
		switch {
		case err == nil:
			if err := showOne(&buf, v, asJSON, lf.live, show); err != nil {
				return err
			}
		case n == 1:
			return err
		case ctx.Err() != nil:
			return nil // interrupted while taking the figures
		case asJSON:
			fmt.Fprintf(errW, "Error: %s\n", oneLine(err))
		default:
			fmt.Fprintf(&buf, "Error: %s\n", oneLine(err))
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		if !lf.live || (lf.count > 0 && n >= lf.count) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// showOne writes one view: text through show, or JSON (one line when live).
func showOne[T any](w io.Writer, v T, asJSON, live bool, show func(io.Writer, T) error) error {
	switch {
	case asJSON && live:
		return json.NewEncoder(w).Encode(v)
	case asJSON:
		return printJSON(w, v)
	}
	return show(w, v)
}

func newStatsCmd(o *options) *cobra.Command {
	var lf liveFlags
	cmd := &cobra.Command{
		Use:   "stats [--live] [--interval 2s]",
		Short: "Show the fleet's figures: tenants by status, domains, database sizes, budget",
		Long: `Show the fleet's figures, computed from the catalog and the tenant
databases: tenants by status and in maintenance, domains, the total,
average and largest tenant database size, and the connection budget.

With --live the figures are taken again every --interval until Ctrl-C,
redrawn in place on a terminal; with -o json one JSON object per line is
written per refresh.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(cmd); err != nil {
				return err
			}
			return withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
				return refresh(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), &lf, o.outputJSON(), "tenancy stats",
					func(ctx context.Context) (*fleetStats, error) { return collectStats(ctx, o, e.mgr) }, printStats)
			})(cmd, args)
		},
	}
	lf.register(cmd, 2*time.Second)
	return cmd
}
