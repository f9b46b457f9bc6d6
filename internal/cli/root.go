package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Main runs the command line with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "Error:", oneLine(err))
		return 1
	}
	return 0
}

// oneLine joins a possibly multi-line error into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// options are the global flags.
type options struct {
	dataDir    string
	output     string
	migrations string
	seeders    string
	maxOpen    int
	maxOpenSet bool // --max-open-databases was given; else the engine's bound applies
	in         io.Reader

	databaseURL string
	tenantDB    string
	shards      string
	redisURL    string
	connBudget  int

	// log receives what the command's background parts report (Redis
	// outages): warnings and errors on the command's stderr; serve
	// replaces it with its own logger.
	log *slog.Logger
	// centralDomains are the control plane's hosts: serve answers the
	// central routes on them, and no tenant may take one as its domain.
	centralDomains []string
}

// outputJSON reports whether -o json was asked for.
func (o *options) outputJSON() bool { return o.output == "json" }

// interactive reports whether stdin is a terminal a person can answer on.
func (o *options) interactive() bool {
	f, ok := o.in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secretFlags names the flag of each environment variable that may hold a
// password and so is read when the command runs, not shown as a default.
var secretFlags = map[string]string{
	"TENANCY_DATABASE_URL": "database-url",
	"TENANCY_SHARDS":       "shards",
	"TENANCY_REDIS_URL":    "redis-url",
}

func newRoot(stdin io.Reader) *cobra.Command {
	o := &options{in: stdin}
	root := &cobra.Command{
		Use:           "tenancy",
		Short:         "Manage the tenants of a multi-tenant Go application",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			warnUnknownVariables(cmd.ErrOrStderr())
			// Secrets come from the environment here rather than as flag
			// defaults, so that --help never prints them.
			for env, dst := range map[string]*string{
				"TENANCY_DATABASE_URL": &o.databaseURL, "TENANCY_SHARDS": &o.shards, "TENANCY_REDIS_URL": &o.redisURL,
			} {
				if f := cmd.Flag(secretFlags[env]); f != nil && !f.Changed {
					*dst = os.Getenv(env)
				}
			}
			if o.output != "table" && o.output != "json" {
				return fmt.Errorf("invalid --output %q: want table or json", o.output)
			}
			if o.dataDir == "" {
				return errors.New("--data-dir must not be empty")
			}
			if o.maxOpen < 1 {
				return fmt.Errorf("invalid --max-open-databases %d: must be at least 1", o.maxOpen)
			}
			if f := cmd.Flag("max-open-databases"); f != nil {
				o.maxOpenSet = f.Changed
			}
			if o.connBudget < 1 {
				return fmt.Errorf("invalid --connection-budget %d: must be at least 1", o.connBudget)
			}
			if !slices.Contains(tenantDBModes, o.tenantDB) {
				return fmt.Errorf("invalid --tenant-db %q: want one of %s", o.tenantDB, strings.Join(tenantDBModes, ", "))
			}
			if o.redisURL != "" && !strings.HasPrefix(o.redisURL, "redis://") && !strings.HasPrefix(o.redisURL, "rediss://") {
				return fmt.Errorf("invalid --redis-url %q: want redis://… or rediss://…", redact(o.redisURL))
			}
			o.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			quietRedis()
			return nil
		},
	}
	dataDir := os.Getenv("TENANCY_DATA_DIR")
	if dataDir == "" {
		dataDir = "./tenancy-data"
	}
	f := root.PersistentFlags()
	f.StringVar(&o.dataDir, "data-dir", dataDir, "data directory holding the catalog and tenant databases (env TENANCY_DATA_DIR)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&o.migrations, "migrations", "", "tenant migrations directory (default <data-dir>/migrations/tenant)")
	f.StringVar(&o.seeders, "seeders", "", "SQL seeders directory (default <data-dir>/seeders/tenant)")
	f.IntVar(&o.maxOpen, "max-open-databases", 256, "most tenant databases open at once (postgres-schema and postgres-rls: default 16384, their handles hold no connection)")
	f.StringVar(&o.databaseURL, "database-url", "", "central catalog: postgres://… or mysql://…; empty for SQLite in the data directory (default: env TENANCY_DATABASE_URL)")
	f.StringVar(&o.tenantDB, "tenant-db", envOr("TENANCY_TENANT_DB", modeSQLite), "tenant databases: "+strings.Join(tenantDBModes, ", ")+" (env TENANCY_TENANT_DB)")
	f.StringVar(&o.shards, "shards", "", "database servers for tenant databases: name=url,name=url (default: env TENANCY_SHARDS)")
	f.IntVar(&o.connBudget, "connection-budget", envInt("TENANCY_CONNECTION_BUDGET", 80), "most connections all tenant pools together hold on PostgreSQL or MySQL (env TENANCY_CONNECTION_BUDGET)")
	f.StringSliceVar(&o.centralDomains, "central-domains", envList("TENANCY_CENTRAL_DOMAINS", []string{"localhost", "127.0.0.1"}),
		"hosts of the control plane: serve answers the central routes there, and tenants cannot take them as domains (env TENANCY_CENTRAL_DOMAINS)")
	f.StringVar(&o.redisURL, "redis-url", "", "Redis for the cache, shared rate limits and the change feed between nodes (default: env TENANCY_REDIS_URL)")
	root.AddCommand(
		newInstallCmd(o),
		newCreateCmd(o),
		newListCmd(o),
		newShowCmd(o),
		newUpdateCmd(o),
		newDeleteCmd(o),
		newRepairCmd(o),
		newStatusCmd(o, "activate", "active", "Activate a tenant"),
		newStatusCmd(o, "suspend", "suspended", "Suspend a tenant temporarily"),
		newStatusCmd(o, "block", "blocked", "Block a tenant permanently"),
		newStatusCmd(o, "deactivate", "inactive", "Deactivate a tenant, keeping its data"),
		newDomainsCmd(o),
		newMigrateCmd(o),
		newSeedCmd(o),
		newRunCmd(o),
		newTestTenantsCmd(o),
		newMaintenanceCmd(o),
		newServeCmd(o),
		newAPIKeyCmd(o),
		newAuditCmd(o),
		newAdminCmd(o),
		newHealthCmd(o), newStatsCmd(o), newMonitorCmd(o), newReportCmd(o),
		newBackupCmd(o), newBackupListCmd(o), newRestoreCmd(o), newBackupAllCmd(o), newBackupScheduledCmd(o),
		newExportCmd(o), newImportCmd(o), newEraseCmd(o), newCloneCmd(o), newMoveCmd(o),
	)
	return root
}

// quietRedis keeps go-redis from printing each failed dial to stderr (a
// line per connection attempt while Redis is down): the feed and the
// cache report outages themselves, once and then at most every ten
// seconds.
func quietRedis() {
	quietRedisOnce.Do(func() { redis.SetLogger(discardRedisLog{}) })
}

var quietRedisOnce sync.Once

// discardRedisLog is a go-redis logger that drops everything.
type discardRedisLog struct{}

// Printf drops the message.
func (discardRedisLog) Printf(context.Context, string, ...any) {}
