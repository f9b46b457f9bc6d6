package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/dataport"
)

func newExportCmd(o *options) *cobra.Command {
	var (
		format string
		tables []string
		output string
	)
	cmd := &cobra.Command{
		Use:   "export TENANT --format json|csv|sql",
		Short: "Export a tenant's tables and files in a portable format (a zip), for its owner or for import",
		Args:  cobra.ExactArgs(1),
		RunE: withTenantData(o, false, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error {
			if output == "" {
				output = fmt.Sprintf("%s-%s.%s.zip", t.PrimaryDomain(), time.Now().UTC().Format("20060102T150405Z"), format)
			}
			m, err := writeAtomically(output, func(w io.Writer) (*dataport.Manifest, error) {
				return svc.Export(ctx, t, w, backups.ExportOptions{Format: format, Tables: tables})
			})
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"file": output, "manifest": m})
			}
			rows := int64(0)
			for _, tb := range m.Tables {
				rows += tb.Rows
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Exported %s to %s: %d tables, %d rows, %d files (%s)\n", t.Name, output, len(m.Tables), rows, len(m.Files), format)
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "json", "json (a document per table), csv (a file per table) or sql (INSERT statements)")
	cmd.Flags().StringSliceVar(&tables, "tables", nil, "export only these tables (comma-separated)")
	// --output names the file here, shadowing the global --output; -o
	// still chooses the output format.
	cmd.Flags().StringVar(&output, "output", "", "the zip file to write (default <domain>-<time>.<format>.zip here)")
	cmd.Flags().StringVarP(&o.output, "output-format", "o", "table", "output format: table or json")
	return cmd
}

// writeAtomically writes a file through fn: into a temporary file beside
// it, renamed into place only when fn succeeds, so a failure leaves no
// partial file. An existing file is not overwritten.
func writeAtomically[T any](path string, fn func(w io.Writer) (T, error)) (T, error) {
	var zero T
	if _, err := os.Stat(path); err == nil {
		return zero, fmt.Errorf("--output %s exists; choose another file", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tenancy-export-*")
	if err != nil {
		return zero, fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(f.Name())
	v, err := fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return zero, err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return zero, fmt.Errorf("--output: %w", err)
	}
	return v, nil
}

func newImportCmd(o *options) *cobra.Command {
	var name, domain string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Create a new tenant from an export (of any engine): migrate it, then load its rows and files, all or nothing",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			svc, err := backupService(ctx, o, e)
			if err != nil {
				return err
			}
			t, err := svc.Import(ctx, args[0], backups.ImportOptions{Name: name, Domain: domain})
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Imported %s as tenant %s (%s), domain %s\n", args[0], t.Name, t.UUID, t.PrimaryDomain())
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the new tenant's name (default the exported tenant's)")
	cmd.Flags().StringVar(&domain, "domain", "", "the new tenant's domain (default the exported tenant's)")
	return cmd
}

func newEraseCmd(o *options) *cobra.Command {
	var confirm bool
	cmd := &cobra.Command{
		Use:   "erase TENANT --confirm",
		Short: "Erase a tenant for good (GDPR): its backups everywhere, exports, files, database and records; audited",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if !confirm {
				return errors.New("erase deletes the tenant and every backup of it for good: pass --confirm")
			}
			return nil
		},
		RunE: withTenantData(o, false, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error {
			er, err := svc.Erase(ctx, t)
			if err != nil {
				return fmt.Errorf("erase stopped (run it again to finish): %w", err)
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), er)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Erased tenant %s: database %s, %d backups, %d exports, %d files (%d bytes); recorded in the audit log as tenant.erase\n",
				er.TenantUUID, er.Database, len(er.Backups), len(er.Exports), er.Files, er.FileBytes)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&confirm, "confirm", false, "confirm the erasure")
	return cmd
}

func newCloneCmd(o *options) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "clone SRC DOMAIN",
		Short: "Make a new tenant from SRC's latest backup (for staging copies)",
		Args:  cobra.ExactArgs(2),
		RunE: withTenantData(o, true, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, src *tenancy.Tenant, args []string) error {
			if name == "" {
				name = src.Name + " (copy)"
			}
			t, err := svc.Clone(ctx, src, tenancy.CreateRequest{Name: name, Domain: args[1]}, backups.RestoreOptions{})
			if err != nil {
				return err
			}
			return printNewTenant(cmd, o, "Cloned "+src.Name+" as", t)
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the new tenant's name (default \"<SRC's name> (copy)\")")
	return cmd
}

// printNewTenant reports a tenant made from another's data.
func printNewTenant(cmd *cobra.Command, o *options, what string, t *tenancy.Tenant) error {
	if o.outputJSON() {
		return printJSON(cmd.OutOrStdout(), t)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s), domain %s, database %s\n", what, t.Name, t.UUID, t.PrimaryDomain(), t.DatabaseName)
	return nil
}

// backupAllFlags are the options of backup-all and backup-scheduled.
type backupAllFlags struct {
	concurrency int
	compress    bool
	disk        string
	recipients  []string
}

func (f *backupAllFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 1, "back up this many tenants at once")
	cmd.Flags().BoolVar(&f.compress, "compress", envBool("TENANCY_BACKUP_COMPRESS", false), "compress the archives with zstd (default env TENANCY_BACKUP_COMPRESS)")
	cmd.Flags().StringVar(&f.disk, "disk", "", "destination URL (default env TENANCY_BACKUP_DISK, else <data-dir>/backups)")
	cmd.Flags().StringSliceVar(&f.recipients, "encrypt-to", nil, "encrypt to this age recipient (age1…; repeatable)")
}

// backupAll backs up every tenant and prints the results; it fails when
// any tenant failed.
func backupAll(ctx context.Context, cmd *cobra.Command, o *options, svc *backups.Service, f *backupAllFlags) error {
	started := time.Now()
	var bar *progressbar.ProgressBar
	w := cmd.ErrOrStderr()
	onTerminal := false
	if file, ok := w.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		onTerminal = true
	}
	results, err := svc.BackupAll(ctx, f.concurrency, backups.Options{Destination: f.disk, Compress: f.compress, Recipients: f.recipients},
		func(done, total int, r backups.Result) {
			if !onTerminal {
				return
			}
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("backup"),
					progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			bar.Set(done)
		})
	if bar != nil {
		bar.Finish()
	}
	if err != nil && results == nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	elapsed := time.Since(started)
	if o.outputJSON() {
		if perr := printJSON(cmd.OutOrStdout(), map[string]any{"results": results, "total": len(results), "failed": failed, "seconds": elapsed.Seconds()}); perr != nil {
			return perr
		}
	} else {
		tb := newTable(cmd.OutOrStdout(), "TENANT", "BACKUP", "SIZE", "ERROR")
		for _, r := range results {
			id, size := "", int64(0)
			if r.Backup != nil {
				id, size = r.Backup.ID, r.Backup.Size
			}
			tb.row(r.Tenant, id, size, r.Error)
		}
		if perr := tb.flush(); perr != nil {
			return perr
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Backed up %d of %d tenants in %s\n", len(results)-failed, len(results), elapsed.Round(time.Millisecond))
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("backup failed for %d of %d tenants", failed, len(results))
	}
	return nil
}

func newBackupAllCmd(o *options) *cobra.Command {
	f := &backupAllFlags{}
	cmd := &cobra.Command{
		Use:   "backup-all",
		Short: "Back up every tenant",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			svc, err := backupService(ctx, o, e)
			if err != nil {
				return err
			}
			return backupAll(ctx, cmd, o, svc, f)
		}),
	}
	f.add(cmd)
	return cmd
}

func newBackupScheduledCmd(o *options) *cobra.Command {
	f := &backupAllFlags{}
	var days int
	cmd := &cobra.Command{
		Use:   "backup-scheduled",
		Short: "Run once what the backup schedule runs (every tenant, then prune by retention); for cron",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			svc, err := backupService(ctx, o, e)
			if err != nil {
				return err
			}
			if days < 1 {
				return errors.New("--retention-days must be at least 1")
			}
			if err := backupAll(ctx, cmd, o, svc, f); err != nil {
				return err
			}
			pruned, err := svc.Prune(ctx, time.Duration(days)*24*time.Hour)
			if err != nil {
				return err
			}
			if !o.outputJSON() {
				fmt.Fprintf(cmd.OutOrStdout(), "Pruned %d backups older than %d days\n", len(pruned), days)
			}
			return nil
		}),
	}
	f.add(cmd)
	cmd.Flags().IntVar(&days, "retention-days", envInt("TENANCY_BACKUP_RETENTION_DAYS", 7), "keep backups this many days")
	return cmd
}

// envBool reads a boolean variable ("true", "1", …), def when unset or
// unreadable.
func envBool(name string, def bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return def
}

func newMoveCmd(o *options) *cobra.Command {
	var shard string
	cmd := &cobra.Command{
		Use:   "move TENANT --shard NAME",
		Short: "Move a tenant's database to another shard (copied in maintenance, switched in the catalog, the old copy dropped)",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if shard == "" {
				return errors.New("--shard is required")
			}
			return nil
		},
		RunE: withTenantData(o, true, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error {
			moved, rep, err := svc.Move(ctx, t, shard)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"tenant": moved, "move": rep})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Moved %s from shard %s to %s: database %s, %d tables, %d rows in %.3f s (in maintenance %.3f s)\n",
				moved.Name, rep.From, rep.To, rep.Database, rep.Tables, rep.Rows, rep.Seconds, rep.MaintenanceSeconds)
			return nil
		}),
	}
	cmd.Flags().StringVar(&shard, "shard", "", "the shard to move to (see --shards)")
	return cmd
}
