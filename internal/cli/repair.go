package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
)

func newRepairCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "repair",
		Short: "Finish what crashed processes left half done: undo interrupted creates, finish interrupted deletes",
		Long: `repair undoes every create whose process died before it committed (the
tenant's database is dropped and its record removed, so the same create
can run again), finishes every delete whose process died, and drops
tenant databases that no tenant owns. Creates and deletes still running
elsewhere (their tenant's lock is held) are left alone and listed as in
progress. serve runs the same repair when it starts.`,
		Args: cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, _ []string) error {
			r, err := e.mgr.Repair(ctx)
			if err != nil {
				return err
			}
			if err := printRepair(cmd, o, r); err != nil {
				return err
			}
			if r.Failed > 0 {
				return fmt.Errorf("repair failed for %d of %d items", r.Failed, len(r.Actions))
			}
			return nil
		}),
	}
}

func printRepair(cmd *cobra.Command, o *options, r *tenancy.RepairReport) error {
	w := cmd.OutOrStdout()
	if o.outputJSON() {
		return printJSON(w, r)
	}
	if len(r.Actions) == 0 {
		_, err := fmt.Fprintln(w, "Nothing to repair")
		return err
	}
	t := newTable(w, "TENANT", "DOMAIN", "DATABASE", "ACTION", "HOLDER", "ERROR")
	for _, a := range r.Actions {
		t.row(a.Tenant, a.Domain, a.Database, a.Action, a.Holder, a.Error)
	}
	return t.flush()
}
