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
				made, err := createTestTenants(ctx, e, count, prefix, withData)
				if o.outputJSON() {
					if perr := printTenants(cmd.OutOrStdout(), o, made); perr != nil {
						return perr
					}
					return err
				}
				for _, t := range made {
					fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s)\n", t.PrimaryDomain(), t.UUID)
				}
				if kept := count - len(made); err == nil && kept > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%d exist already, kept\n", kept)
				}
				return err
			})(cmd, args)
		},
	}
	f := cmd.Flags()
	f.IntVar(&count, "count", 5, "number of tenants")
	f.StringVar(&prefix, "domain-prefix", "test", "domains are <prefix><n>.localhost")
	f.BoolVar(&withData, "with-data", false, "seed sample notes")
	return cmd
}

// createTestTenants creates <prefix>1.localhost … <prefix><count>.localhost,
// migrated, seeded with sample data when asked; existing ones are kept.
func createTestTenants(ctx context.Context, e *env, count int, prefix string, withData bool) ([]*tenancy.Tenant, error) {
	var made []*tenancy.Tenant
	for i := 1; i <= count; i++ {
		req := tenancy.CreateRequest{
			Name:    fmt.Sprintf("Test Tenant %d", i),
			Domain:  fmt.Sprintf("%s%d.localhost", prefix, i),
			Notes:   "created by create-test-tenants",
			Migrate: true,
			Seed:    withData,
		}
		if withData {
			req.Seeders = []string{demo.SampleSeeder, demo.ProfileSeeder}
		}
		t, err := e.mgr.Create(ctx, req)
		// Taken, or being created right now by another node: either way
		// the tenant is someone else's to make.
		if errors.Is(err, tenancy.ErrDomainTaken) || errors.Is(err, tenancy.ErrTenantState) {
			continue
		}
		if err != nil {
			return made, err
		}
		made = append(made, t)
	}
	return made, nil
}
