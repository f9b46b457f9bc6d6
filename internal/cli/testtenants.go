package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/demo"
)

func newTestTenantsCmd(o *options) *cobra.Command {
	var (
		count    int
		prefix   string
		withData bool
	)
	cmd := &cobra.Command{
		Use:   "create-test-tenants",
		Short: "Create test tenants test1.localhost … with the demo application's schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 || count > 10000 {
				return fmt.Errorf("invalid --count %d: must be between 1 and 10000", count)
			}
			if _, err := install(cmd.Context(), o); err != nil {
				return err
			}
			return withEnv(o, true, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
				var made []*tenancy.Tenant
				for i := 1; i <= count; i++ {
					domain := fmt.Sprintf("%s%d.localhost", prefix, i)
					req := tenancy.CreateRequest{
						Name:    fmt.Sprintf("Test Tenant %d", i),
						Domain:  domain,
						Notes:   "created by create-test-tenants",
						Migrate: true,
						Seed:    withData,
					}
					if withData {
						req.Seeders = []string{demo.SampleSeeder, demo.ProfileSeeder}
					}
					t, err := e.mgr.Create(ctx, req)
					if errors.Is(err, tenancy.ErrDomainTaken) {
						if !o.outputJSON() {
							fmt.Fprintf(cmd.OutOrStdout(), "%s exists already, kept\n", domain)
						}
						continue
					}
					if err != nil {
						return err
					}
					made = append(made, t)
					if !o.outputJSON() {
						fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s)\n", domain, t.UUID)
					}
				}
				if o.outputJSON() {
					return printTenants(cmd.OutOrStdout(), o, made)
				}
				return nil
			})(cmd, args)
		},
	}
	f := cmd.Flags()
	f.IntVar(&count, "count", 5, "number of tenants")
	f.StringVar(&prefix, "domain-prefix", "test", "domains are <prefix><n>.localhost")
	f.BoolVar(&withData, "with-data", false, "seed sample notes")
	return cmd
}
