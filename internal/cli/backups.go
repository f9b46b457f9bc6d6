package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/model"
)

// backupService is the backups service over the command's environment:
// the default destination is TENANCY_BACKUP_DISK, else
// <data-dir>/backups.
func backupService(ctx context.Context, o *options, e *env) (*backups.Service, error) {
	def := os.Getenv("TENANCY_BACKUP_DISK")
	if def == "" || def == "local" {
		dir, err := filepath.Abs(filepath.Join(o.dataDir, "backups"))
		if err != nil {
			return nil, err
		}
		def = "file://" + filepath.ToSlash(dir)
	}
	engine, _, _ := strings.Cut(o.tenantDB, "-")
	audit, _ := e.store.(model.AuditRecorder)
	return backups.New(backups.Config{
		Manager: e.mgr,
		Open: func(ctx context.Context, url string) (backups.Destination, error) {
			return destination.Open(ctx, url)
		},
		Destination: def,
		Files:       e.storage.Path,
		Engine:      engine,
		Mode:        o.tenantDB,
		Unavailable: func(err error) bool { return errors.Is(err, destination.ErrUnavailable) },
		ExportDir:   filepath.Join(o.dataDir, "exports"),
		Audit:       audit,
	})
}

// withTenantData is withEnv for the data commands of the tenant named by
// the first argument: it loads the tenant and the backups service.
func withTenantData(o *options, withMigrations bool, fn func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error) func(*cobra.Command, []string) error {
	return withEnv(o, withMigrations, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
		t, err := e.mgr.Get(ctx, args[0])
		if err != nil {
			return err
		}
		svc, err := backupService(ctx, o, e)
		if err != nil {
			return err
		}
		return fn(ctx, cmd, svc, t, args)
	})
}

func newBackupCmd(o *options) *cobra.Command {
	var (
		compress  bool
		disk      string
		recipient []string
	)
	cmd := &cobra.Command{
		Use:   "backup TENANT",
		Short: "Back up a tenant's database and files to a destination (default <data-dir>/backups)",
		Args:  cobra.ExactArgs(1),
		RunE: withTenantData(o, true, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error {
			b, err := svc.Backup(ctx, t, backups.Options{Destination: disk, Compress: compress, Recipients: recipient})
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), b)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backed up %s: backup %s, %d bytes, sha256 %s, at %s/%s\n",
				t.Name, b.ID, b.Size, b.SHA256, b.Destination, b.Key)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&compress, "compress", false, "compress the archive with zstd")
	cmd.Flags().StringVar(&disk, "disk", "", "destination URL: file:///dir or s3://bucket?endpoint=…&region=… (default env TENANCY_BACKUP_DISK, else <data-dir>/backups)")
	cmd.Flags().StringSliceVar(&recipient, "encrypt-to", nil, "encrypt to this age recipient (age1…; repeatable)")
	cmd.AddCommand(newBackupPruneCmd(o))
	return cmd
}

func newBackupListCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "backup-list TENANT",
		Short: "List a tenant's backups, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: withTenantData(o, false, func(ctx context.Context, cmd *cobra.Command, svc *backups.Service, t *tenancy.Tenant, args []string) error {
			list, err := svc.List(ctx, t)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"tenant_uuid": t.UUID, "backups": list})
			}
			tb := newTable(cmd.OutOrStdout(), "ID", "STATE", "CREATED", "SIZE", "VERSION", "DESTINATION")
			for _, b := range list {
				tb.row(b.ID, b.State, b.CreatedAt.Format(time.RFC3339), b.Size, b.MigrationVersion, b.Destination)
			}
			return tb.flush()
		}),
	}
}

func newRestoreCmd(o *options) *cobra.Command {
	var (
		force    bool
		identity string
		into     string
		name     string
	)
	cmd := &cobra.Command{
		Use:   "restore TENANT BACKUP",
		Short: "Restore a tenant from a backup (an id from backup-list, or an archive file), or with --into make a new tenant from it",
		Args:  cobra.ExactArgs(2),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			var ids []age.Identity
			if identity != "" {
				f, err := os.Open(identity)
				if err != nil {
					return fmt.Errorf("--identity: %w", err)
				}
				ids, err = age.ParseIdentities(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--identity %s: %w", identity, err)
				}
			}
			if into != "" {
				svc, err := backupService(ctx, o, e)
				if err != nil {
					return err
				}
				if name == "" {
					name = t.Name + " (restored)"
				}
				nt, err := svc.RestoreInto(ctx, tenancy.CreateRequest{Name: name, Domain: into}, args[1], backups.RestoreOptions{Identities: ids})
				if err != nil {
					return err
				}
				return printNewTenant(cmd, o, "Restored "+args[1]+" into", nt)
			}
			if name != "" {
				return errors.New("--name goes with --into")
			}
			if !force {
				if !o.interactive() {
					return errors.New("refusing to restore without confirmation: stdin is not a terminal, pass --force")
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Replace the data of tenant %q (%s) with backup %s? Type its primary domain to confirm: ",
					t.Name, t.PrimaryDomain(), args[1])
				answer, _ := bufio.NewReader(o.in).ReadString('\n')
				if strings.TrimSpace(answer) != t.PrimaryDomain() {
					return errors.New("not confirmed: nothing restored")
				}
			}
			svc, err := backupService(ctx, o, e)
			if err != nil {
				return err
			}
			after, err := svc.Restore(ctx, t, args[1], backups.RestoreOptions{Identities: ids})
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"restored": true, "tenant": after, "backup": args[1]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s from %s: database %s (generation %d)\n", after.Name, args[1], after.DatabaseName, after.Generation)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&identity, "identity", "", "age identity file that decrypts an encrypted backup")
	cmd.Flags().StringVar(&into, "into", "", "make a new tenant with this domain from the backup instead of replacing TENANT's data")
	cmd.Flags().StringVar(&name, "name", "", "with --into: the new tenant's name (default \"<TENANT's name> (restored)\")")
	return cmd
}

func newBackupPruneCmd(o *options) *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete backups older than the retention (default env TENANCY_BACKUP_RETENTION_DAYS, else 7 days)",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			svc, err := backupService(ctx, o, e)
			if err != nil {
				return err
			}
			pruned, err := svc.Prune(ctx, time.Duration(days)*24*time.Hour)
			if pruned == nil {
				pruned = []*model.Backup{}
			}
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"pruned": pruned})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pruned %d backups older than %d days\n", len(pruned), days)
			return nil
		}),
	}
	cmd.Flags().IntVar(&days, "retention-days", envInt("TENANCY_BACKUP_RETENTION_DAYS", 7), "keep backups this many days")
	return cmd
}
