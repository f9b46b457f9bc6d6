package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/monitor"
)

// fleetReport is `tenancy report --format json`.
type fleetReport struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Tenants     []tenantFigures `json:"tenants"`
	Totals      reportTotals    `json:"totals"`
}

// reportTotals sum a report's rows.
type reportTotals struct {
	// Tenants counts tenants by status, and those in maintenance mode.
	Tenants           monitor.TenantCounts `json:"tenants"`
	Domains           int                  `json:"domains"`
	DatabaseSizeBytes int64                `json:"database_size_bytes"`
	TableCount        int                  `json:"table_count"`
	PendingMigrations int                  `json:"pending_migrations"`
	// TenantsBehind counts tenants with pending migrations.
	TenantsBehind int `json:"tenants_with_pending_migrations"`
	// Failed counts tenants whose database could not be measured.
	Failed int `json:"failed_databases"`
}

// reportColumns are the header of `tenancy report --format csv`: the JSON
// names of tenantFigures, in order.
var reportColumns = []string{
	"uuid", "name", "status", "maintenance", "primary_domain", "domains", "shard",
	"database_name", "database_reachable", "database_size_bytes", "table_count",
	"migration_version", "pending_migrations", "created_at", "last_accessed_at", "error",
}

// csvRecord is one tenant's CSV row, in the order of reportColumns. Text
// cells go through csvText; the numbers, booleans and dates are written by
// strconv and time and cannot start a formula.
func (f *tenantFigures) csvRecord() []string {
	last := ""
	if f.LastAccessedAt != nil {
		last = f.LastAccessedAt.UTC().Format(time.RFC3339)
	}
	return []string{
		csvText(f.UUID), csvText(f.Name), csvText(string(f.Status)), strconv.FormatBool(f.Maintenance), csvText(f.PrimaryDomain),
		strconv.Itoa(f.Domains), csvText(f.Shard), csvText(f.DatabaseName), strconv.FormatBool(f.Reachable),
		strconv.FormatInt(f.SizeBytes, 10), strconv.Itoa(f.TableCount),
		strconv.FormatInt(f.MigrationVersion, 10), strconv.Itoa(f.PendingMigrations),
		f.CreatedAt.UTC().Format(time.RFC3339), last, csvText(f.Error),
	}
}

// csvText defuses a text cell that a spreadsheet would read as a formula
// (a tenant named "=HYPERLINK(…)", say): a cell starting with =, +, -, @,
// a tab or a carriage return gets a leading single quote, which
// spreadsheets take as "this is text". Only the CSV output is changed;
// JSON carries the values as they are.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// buildReport measures every tenant through the Manager.
func buildReport(ctx context.Context, o *options, mgr *tenancy.Manager) (*fleetReport, error) {
	tenants, err := mgr.AllTenants(ctx)
	if err != nil {
		return nil, err
	}
	r := &fleetReport{GeneratedAt: time.Now().UTC()}
	if r.Tenants, err = measureFleet(ctx, o, mgr, tenants); err != nil {
		return nil, err
	}
	tt := &r.Totals
	byStatus := map[tenancy.Status]int{}
	maintenance := 0
	for _, f := range r.Tenants {
		byStatus[f.Status]++
		if f.Maintenance {
			maintenance++
		}
		tt.Domains += f.Domains
		tt.DatabaseSizeBytes += f.SizeBytes
		tt.TableCount += f.TableCount
		tt.PendingMigrations += f.PendingMigrations
		if f.PendingMigrations > 0 {
			tt.TenantsBehind++
		}
		if f.failed() {
			tt.Failed++
		}
	}
	tt.Tenants = monitor.CountsByStatus(byStatus)
	tt.Tenants.Maintenance = maintenance
	return r, nil
}

// writeReport writes r in format (json or csv).
func writeReport(w io.Writer, r *fleetReport, format string) error {
	if format == "json" {
		return printJSON(w, r)
	}
	cw := csv.NewWriter(w)
	cw.Write(reportColumns)
	for i := range r.Tenants {
		cw.Write(r.Tenants[i].csvRecord())
	}
	cw.Flush()
	return cw.Error()
}

// writeFileAtomic writes a file through write: into a temporary file in
// the same directory, renamed over path only when complete, so readers
// never see half a file and a failure leaves what was there.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newReportCmd(o *options) *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "report --format json|csv [--output FILE]",
		Short: "Write a row per tenant: status, domains, database size, tables, migrations, dates",
		Long: `Write a report with one row per tenant: uuid, name, status, maintenance,
primary domain, number of domains, shard, database name, whether the database
is reachable, its size in bytes and table count, its migration version and
pending migrations, created_at and last_accessed_at (RFC 3339, UTC), and an
error when the database could not be measured. Each database is opened
through the Manager, a few at a time.

JSON is {"generated_at", "tenants": [...], "totals": {...}}; CSV has a
header row. --output writes FILE atomically (a temporary file renamed over
it); without it the report goes to stdout. Note that on this command
--output names the file: the global -o/--output format flag does not apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "csv" {
				return fmt.Errorf("invalid --format %q: want json or csv", format)
			}
			if cmd.Flags().Changed("output") && output == "" {
				return fmt.Errorf("invalid --output %q: want a file name", output)
			}
			return withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
				r, err := buildReport(ctx, o, e.mgr)
				if err != nil {
					return err
				}
				if output == "" {
					err = writeReport(cmd.OutOrStdout(), r, format)
				} else {
					err = writeFileAtomic(output, func(w io.Writer) error { return writeReport(w, r, format) })
					if err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "wrote %s to %s\n", plural(len(r.Tenants), "tenant"), output)
					}
				}
				if err != nil {
					return err
				}
				if n := r.Totals.Failed; n > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s could not be measured (see the error column)\n",
						plural(n, "tenant database"))
				}
				return nil
			})(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "json", "json or csv")
	f.StringVar(&output, "output", "", "write the report to this file (atomically) instead of stdout")
	return cmd
}
