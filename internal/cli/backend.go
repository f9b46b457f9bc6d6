package cli

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/driver/mysqldriver"
	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// The tenant database modes of --tenant-db.
const (
	modeSQLite           = "sqlite"
	modePostgresDatabase = "postgres-database"
	modePostgresSchema   = "postgres-schema"
	modePostgresRLS      = "postgres-rls"
	modeMySQLDatabase    = "mysql-database"
)

var tenantDBModes = []string{modeSQLite, modePostgresDatabase, modePostgresSchema, modePostgresRLS, modeMySQLDatabase}

// dialect is the SQL dialect of the tenant databases of --tenant-db, which
// decides the demo application's migrations that install copies.
func (o *options) dialect() string {
	switch o.tenantDB {
	case modePostgresDatabase, modePostgresSchema, modePostgresRLS:
		return "postgres"
	case modeMySQLDatabase:
		return "mysql"
	}
	return "sqlite3"
}

// envOr returns the environment variable's value, or def when unset: the
// default of a flag, so that flags win over the environment.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envInt is envOr for numbers; an unparsable value is left to the flag's
// validation by returning -1.
func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// envList is envOr for comma-separated lists (empty items dropped).
func envList(name string, def []string) []string {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// isPostgresURL reports whether a URL names a PostgreSQL server.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openStore opens the catalog --database-url names: SQLite in the data
// directory when empty.
// catalog is what the binary keeps in the central catalog: the tenancy
// catalog and the control plane's records.
type catalog interface {
	tenancy.Store
	controlplane.Store
}

func openStore(ctx context.Context, o *options) (catalog, error) {
	u := o.databaseURL
	switch {
	case u == "":
		return sqlitestore.Open(ctx, &sqlitestore.Config{Path: layout(o.dataDir).catalog()})
	case isPostgresURL(u):
		return pgstore.Open(ctx, &pgstore.Config{URL: u})
	case strings.HasPrefix(u, "mysql://"):
		cfg, err := mysqldriver.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("invalid --database-url: %w", err)
		}
		return mysqlstore.Open(ctx, &mysqlstore.Config{DSN: cfg.FormatDSN()})
	}
	return nil, fmt.Errorf("invalid --database-url %q: want postgres://…, mysql://… or empty for SQLite", redact(u))
}

// redact hides a URL's password for messages.
func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme > 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}

// openProvisioner makes the provisioner of --tenant-db. Without --shards,
// tenant databases live on the catalog's server.
func openProvisioner(ctx context.Context, o *options, migrations *migrate.Set) (tenantdb.Provisioner, error) {
	if o.tenantDB == modeSQLite {
		if o.shards != "" {
			return nil, fmt.Errorf("--shards needs a server --tenant-db mode (%s)", strings.Join(tenantDBModes[1:], ", "))
		}
		return sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: layout(o.dataDir).databases()})
	}
	var shards []tenantdb.Shard
	if o.shards != "" {
		var err error
		if shards, err = tenantdb.ParseShards(o.shards); err != nil {
			return nil, fmt.Errorf("invalid --shards: %w", err)
		}
	} else if o.databaseURL != "" {
		shards = []tenantdb.Shard{{Name: "default", URL: o.databaseURL}}
	} else {
		return nil, fmt.Errorf("--tenant-db %s needs --shards or a --database-url on the same server", o.tenantDB)
	}
	pg := pgdriver.Config{Shards: shards, Budget: o.connBudget}
	switch o.tenantDB {
	case modePostgresDatabase:
		return pgdriver.NewDatabase(&pg)
	case modePostgresSchema:
		return pgdriver.NewSchema(&pg)
	case modePostgresRLS:
		p, err := pgdriver.NewRLS(&pgdriver.RLSConfig{
			Config:      pg,
			AppRole:     envOr("TENANCY_RLS_APP_ROLE", "tenancy_app"),
			AppPassword: os.Getenv("TENANCY_RLS_APP_PASSWORD"),
		})
		if err != nil {
			return nil, err
		}
		// Shared tables: the owner migrates them once per shard and secures
		// every tenant table with row-level security.
		if migrations != nil && migrations.Len() > 0 {
			if err := p.Prepare(ctx, func(ctx context.Context, db *sql.DB) error {
				_, err := migrations.Up(ctx, "postgres", db)
				return err
			}); err != nil {
				return nil, err
			}
		}
		return p, nil
	case modeMySQLDatabase:
		return mysqldriver.NewDatabase(&mysqldriver.Config{Shards: shards, Budget: o.connBudget})
	}
	return nil, fmt.Errorf("invalid --tenant-db %q: want one of %s", o.tenantDB, strings.Join(tenantDBModes, ", "))
}
