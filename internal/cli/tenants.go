package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
)

// withEnv wraps a command body with an opened data directory.
func withEnv(o *options, withMigrations bool, fn func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := openEnv(cmd.Context(), o, withMigrations)
		if err != nil {
			return err
		}
		defer e.Close()
		return fn(tenancy.WithActor(cmd.Context(), tenancy.Actor{Name: "cli"}), cmd, e, args)
	}
}

func newInstallCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "install",
		Short: "Create the data directory, the catalog and the tenant migrations directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			report, err := install(cmd.Context(), o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Data directory %s is ready:\n", o.dataDir)
			for _, line := range report {
				fmt.Fprintln(w, "  "+line)
			}
			fmt.Fprintf(w, "\nNext steps:\n  tenancy create \"Acme\" acme.localhost --migrate --seed\n  tenancy create-test-tenants --with-data\n  tenancy list\n")
			return nil
		},
	}
}

func newCreateCmd(o *options) *cobra.Command {
	var (
		req    tenancy.CreateRequest
		status string
	)
	cmd := &cobra.Command{
		Use:   "create NAME DOMAIN",
		Short: "Create a tenant with its own database",
		Args:  cobra.ExactArgs(2),
		RunE: withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			req.Name, req.Domain, req.Status = args[0], args[1], tenancy.Status(status)
			t, err := e.mgr.Create(ctx, req)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created tenant %s (%s) with database %s\n", t.Name, t.UUID, t.DatabaseName)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.DatabaseName, "database", "", "database name (default generated: tenant_<slug>_<hex>)")
	f.StringVar(&status, "status", "", "initial status: active, inactive, suspended or blocked (default active)")
	f.StringVar(&req.Notes, "notes", "", "free-form notes")
	f.StringVar(&req.Shard, "shard", "", "database server (one of --shards) for the tenant's database; default the one with the fewest tenants")
	f.BoolVar(&req.Migrate, "migrate", false, "apply the tenant migrations")
	f.BoolVar(&req.Seed, "seed", false, "run the seeders (all, or those named by --seeder)")
	f.StringSliceVar(&req.Seeders, "seeder", nil, "seeder to run with --seed (repeatable)")
	return cmd
}

func newListCmd(o *options) *cobra.Command {
	var (
		opts          tenancy.ListOptions
		status, order string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			switch strings.ToLower(order) {
			case "asc", "":
			case "desc":
				opts.Desc = true
			default:
				return fmt.Errorf("invalid --order %q: want asc or desc", order)
			}
			opts.Status = tenancy.Status(status)
			if cmd.Flags().Changed("page") && opts.Page < 1 {
				return fmt.Errorf("invalid --page %d: must be at least 1", opts.Page)
			}
			if cmd.Flags().Changed("per-page") && opts.PerPage < 1 {
				return fmt.Errorf("invalid --per-page %d: must be between 1 and %d", opts.PerPage, tenancy.MaxPerPage)
			}
			res, err := e.mgr.List(ctx, opts)
			if err != nil {
				return err
			}
			if err := printTenants(cmd.OutOrStdout(), o, res.Tenants); err != nil {
				return err
			}
			if !o.outputJSON() {
				fmt.Fprintf(cmd.OutOrStdout(), "page %d of %d, %d tenants\n", res.Page, res.LastPage(), res.Total)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only tenants in this status")
	f.StringVar(&opts.Search, "search", "", "match name, domain or database name")
	f.StringVar(&opts.Sort, "sort", "created_at", "sort by name, created_at, updated_at, last_accessed_at or status")
	f.StringVar(&order, "order", "asc", "asc or desc")
	f.IntVar(&opts.Page, "page", 1, "page number")
	f.IntVar(&opts.PerPage, "per-page", tenancy.DefaultPerPage, fmt.Sprintf("tenants per page (at most %d)", tenancy.MaxPerPage))
	return cmd
}

func newShowCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "show TENANT",
		Short: "Show a tenant (by uuid or domain)",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return printTenant(cmd.OutOrStdout(), o, t)
		}),
	}
}

func newUpdateCmd(o *options) *cobra.Command {
	var name, status, notes, reason, visitor string
	cmd := &cobra.Command{
		Use:   "update TENANT",
		Short: "Change a tenant's name, status, reason, visitor message or notes",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			var req tenancy.UpdateRequest
			f := cmd.Flags()
			if f.Changed("name") {
				req.Name = &name
			}
			if f.Changed("status") {
				st := tenancy.Status(status)
				req.Status = &st
			}
			if f.Changed("reason") {
				req.StatusReason = &reason
			}
			if f.Changed("visitor-message") {
				req.VisitorMessage = &visitor
			}
			if f.Changed("notes") {
				req.Notes = &notes
			}
			if req.Name == nil && req.Status == nil && req.StatusReason == nil && req.VisitorMessage == nil && req.Notes == nil {
				return errors.New("nothing to update: give --name, --status, --reason, --visitor-message or --notes")
			}
			t, err := e.mgr.Update(ctx, args[0], req)
			if err != nil {
				return err
			}
			return printTenant(cmd.OutOrStdout(), o, t)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new name")
	f.StringVar(&status, "status", "", "new status")
	f.StringVar(&reason, "reason", "", "reason for the status (internal: never shown to visitors)")
	f.StringVar(&visitor, "visitor-message", "", "message shown to visitors while the status refuses them")
	f.StringVar(&notes, "notes", "", "new notes")
	return cmd
}

func newDeleteCmd(o *options) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete TENANT",
		Short: "Delete a tenant, its domains and its database",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if !force {
				if !o.interactive() {
					return errors.New("refusing to delete without confirmation: stdin is not a terminal, pass --force")
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Delete tenant %q (%s) and its database %s? Type its primary domain to confirm: ",
					t.Name, t.PrimaryDomain(), t.DatabaseName)
				answer, _ := bufio.NewReader(o.in).ReadString('\n')
				if strings.TrimSpace(answer) != t.PrimaryDomain() {
					return errors.New("not confirmed: nothing deleted")
				}
			}
			if _, err := e.mgr.Delete(ctx, t.UUID); err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"deleted": true, "uuid": t.UUID})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted tenant %s (%s) and database %s\n", t.Name, t.UUID, t.DatabaseName)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	return cmd
}

func newStatusCmd(o *options, use string, status tenancy.Status, short string) *cobra.Command {
	var reason, visitor string
	cmd := &cobra.Command{
		Use:   use + " TENANT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.ChangeStatus(ctx, args[0], tenancy.StatusChange{Status: status, Reason: reason, VisitorMessage: visitor})
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant %s (%s) is now %s\n", t.Name, t.PrimaryDomain(), t.Status)
			return nil
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded on the tenant and in the audit log; never shown to visitors)")
	cmd.Flags().StringVar(&visitor, "visitor-message", "", "message shown to visitors while the status refuses them (replaces the previous one)")
	return cmd
}

func newMaintenanceCmd(o *options) *cobra.Command {
	var (
		enable, disable bool
		message         string
	)
	cmd := &cobra.Command{
		Use:   "maintenance TENANT --enable [--message M] | --disable",
		Short: "Turn a tenant's maintenance mode on or off",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if enable == disable {
				return errors.New("give exactly one of --enable or --disable")
			}
			if disable && cmd.Flags().Changed("message") {
				return errors.New("--message goes with --enable")
			}
			t, err := e.mgr.SetMaintenance(ctx, args[0], enable, message)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), t)
			}
			state := "off"
			if t.Maintenance {
				state = "on"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Maintenance mode of %s (%s) is %s\n", t.Name, t.PrimaryDomain(), state)
			if t.Maintenance {
				fmt.Fprintf(cmd.OutOrStdout(), "To get past it in a browser, open http://%s%s%s once\n",
					t.PrimaryDomain(), tenancy.MaintenanceBypassPrefix, t.MaintenanceSecret)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&enable, "enable", false, "turn maintenance mode on")
	f.BoolVar(&disable, "disable", false, "turn maintenance mode off")
	f.StringVar(&message, "message", "", "message shown to visitors")
	return cmd
}

func newDomainsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domains",
		Short: "Manage a tenant's domains",
		Args:  cobra.NoArgs,
	}
	var primary bool
	add := &cobra.Command{
		Use:   "add TENANT DOMAIN",
		Short: "Add a domain to a tenant",
		Args:  cobra.ExactArgs(2),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.AddDomain(ctx, args[0], tenancy.DomainRequest{Domain: args[1], Primary: primary})
			if err != nil {
				return err
			}
			return printDomains(cmd, o, t)
		}),
	}
	add.Flags().BoolVar(&primary, "primary", false, "make it the primary domain")
	list := &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's domains",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return printDomains(cmd, o, t)
		}),
	}
	remove := &cobra.Command{
		Use:   "remove TENANT DOMAIN",
		Short: "Remove a domain from a tenant",
		Args:  cobra.ExactArgs(2),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			t, err := e.mgr.RemoveDomain(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			return printDomains(cmd, o, t)
		}),
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func printDomains(cmd *cobra.Command, o *options, t *tenancy.Tenant) error {
	if o.outputJSON() {
		return printJSON(cmd.OutOrStdout(), t.Domains)
	}
	tb := newTable(cmd.OutOrStdout(), "ID", "DOMAIN", "PRIMARY", "SSL", "CREATED")
	for _, d := range t.Domains {
		tb.row(d.ID, d.Domain, d.IsPrimary, d.SSLEnabled, formatTime(&d.CreatedAt))
	}
	return tb.flush()
}
