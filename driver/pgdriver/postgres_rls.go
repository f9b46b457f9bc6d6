package pgdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
)

// postgres-rls names.
const (
	// DefaultRLSSchema is the schema of postgres-rls's shared tables.
	DefaultRLSSchema = "tenant_data"
	// RLSTenantColumn is the column SecureTables adds to every tenant table.
	RLSTenantColumn = "tenant_id"
	// RLSSetting is the setting that binds a transaction to a tenant.
	RLSSetting = "app.tenant_id"

	rlsRegistrySchema = "tenancy_rls" // holds the registry of tenants
	rlsRegistry       = rlsRegistrySchema + ".tenants"
	rlsRegistered     = rlsRegistrySchema + ".registered" // function: is a tenant registered
	rlsPolicy         = "tenancy_tenant_isolation"
	rlsForeignKey     = "tenancy_tenant_fk"
	rlsLockSetup      = 0x74656e616e6379 // "tenancy": advisory lock of setup and SecureTables
	rlsLockMigrate    = 0x74656e616e6370 // advisory lock held while Prepare migrates
)

// RLSConfig configures RLS.
type RLSConfig struct {
	// Config gives the shards and the pool settings (Template and
	// Strategy are ignored). Each shard URL's database holds the shared
	// tables; its role (the owner) runs migrations and owns the tables.
	Config
	// AppRole is the role tenant handles connect as; required, an
	// identifier like a database name. It is created on first use if
	// missing (LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEDB, NOCREATEROLE,
	// NOINHERIT; which needs CREATEROLE for the owner), and refused if it
	// is a superuser or may bypass row-level security. It must not be the
	// shard URL's role.
	AppRole string
	// AppPassword is the AppRole's password, set on the role at first use
	// when not empty; empty when the server trusts the role otherwise.
	AppPassword string
	// Schema holds the shared tables; default tenant_data. It is created
	// if missing. Tenant handles and Prepare's migrations run with
	// search_path set to it alone.
	Schema string
	// SharedTables are tables of Schema that belong to no tenant and are
	// left unsecured; the application role may only read them. Default:
	// goose_db_version, so that migrate.Set.Up through a tenant handle finds
	// the migrations applied.
	SharedTables []string
}

// RLS is the postgres-rls tenantdb.Provisioner: every tenant's rows live in
// shared tables, in one schema of one database per shard, told apart by a
// tenant_id column that row-level security policies enforce.
//
// The schema is made by migrations that Prepare runs as the owner (the
// shard URL's role), followed by SecureTables, which gives every table of
// the schema (SharedTables aside) a column
//
//	tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id')
//
// referencing the tenant registry (ON DELETE CASCADE, so a row of a
// dropped or unknown tenant cannot be written), an index on it, ENABLE and
// FORCE ROW LEVEL SECURITY and the policy
//
//	USING (tenant_id = current_setting('app.tenant_id', true))
//	WITH CHECK (tenant_id = current_setting('app.tenant_id', true))
//
// and grants the application role SELECT, INSERT, UPDATE and DELETE. Views
// get security_invoker (PostgreSQL 15), so they apply the policies of the
// role querying them rather than bypassing them as their owner.
//
// The application connects as AppRole, which owns nothing and cannot alter
// the tables or their policies. A transaction is bound to a tenant with
// set_config('app.tenant_id', tenant, true), which lasts until the
// transaction ends; a transaction bound to no tenant sees no rows and can
// write none. BindTenant and InTenantTx do it for pools shared by tenants
// (OpenShard).
//
// Tenant handles share one pool per shard of at most Budget / shards
// connections, as AppRole (see Config). Open returns a *sql.DB that holds
// no connection of its own and binds the tenant in every transaction it
// runs (app.tenant_id, and search_path to Schema), local to the
// transaction: in the same round trip as the statement for statements
// outside a transaction, with BEGIN for explicit ones. So plain
// db.QueryContext calls see the tenant's rows, while no connection
// carries a tenant between transactions, which makes the mode safe behind
// a proxy in transaction pooling mode (behind one without protocol-level
// prepared statements, PgBouncer before 1.21, add
// default_query_exec_mode=exec to the shard URL). The binding also checks
// the tenant's registration: a handle of a dropped tenant fails with
// tenantdb.ErrUnavailable. What it cannot prevent: the application
// choosing another tenant itself, with set_config or SET inside its own
// transaction (the setting is not a secret; RLS here protects against
// forgotten WHERE clauses, not against hostile application code).
//
// Create registers the tenant (a row in tenancy_rls.tenants); Drop deletes
// its rows from every secured table and then the registration; Wipe
// deletes the handle's tenant's rows and leaves the shared tables; Size is
// approximate (see Size). Limits of the shared-table model: unique
// constraints and sequences span tenants (a duplicate key tells a tenant
// that another has the key; include tenant_id in unique keys where that
// matters), and foreign keys are checked without policies, so a row can
// reference another tenant's row by key.
//
// It is safe for concurrent use.
type RLS struct {
	*pgBase
	appRole     string
	appPassword string
	schema      string
	shared      []string

	pools []*sharedPool // by shard, as AppRole

	mu    sync.Mutex
	ready []bool // shard i's setup is done
}

var (
	_ tenantdb.Provisioner = (*RLS)(nil)
	_ tenantdb.RowScoped   = (*RLS)(nil)
	_ tenantdb.Sharded     = (*RLS)(nil)
	_ tenantdb.Budgeted    = (*RLS)(nil)
)

// NewRLS returns a postgres-rls provisioner for cfg. It connects to
// nothing until used; the role, registry and schema are set up on each
// shard on first use. Close closes its administrative pools.
func NewRLS(cfg *RLSConfig) (*RLS, error) {
	const what = "postgres-rls"
	if cfg == nil {
		return nil, fmt.Errorf("tenantdb: %s config: Shards and AppRole are required", what)
	}
	if cfg.AppRole == "" {
		return nil, fmt.Errorf("tenantdb: %s config: AppRole is required", what)
	}
	if err := tenantdb.ValidateName(cfg.AppRole); err != nil {
		return nil, fmt.Errorf("tenantdb: %s config: AppRole: %w", what, err)
	}
	if strings.ContainsRune(cfg.AppPassword, 0) {
		return nil, fmt.Errorf("tenantdb: %s config: AppPassword contains a NUL byte", what)
	}
	schema := cfg.Schema
	if schema == "" {
		schema = DefaultRLSSchema
	}
	if err := validateSchemaName(schema); err != nil {
		return nil, fmt.Errorf("tenantdb: %s config: Schema: %w", what, err)
	}
	shared := cfg.SharedTables
	if shared == nil {
		shared = []string{"goose_db_version"}
	}
	for _, t := range shared {
		if t == "" || strings.ContainsRune(t, 0) {
			return nil, fmt.Errorf("tenantdb: %s config: SharedTables: invalid table name %q", what, t)
		}
	}
	b, err := newPGBase(what, &cfg.Config)
	if err != nil {
		return nil, err
	}
	for _, s := range b.shards {
		if s.cfg.User == cfg.AppRole {
			_ = b.Close()
			return nil, fmt.Errorf("tenantdb: %s config: shard %q connects as AppRole %q, which must not own the tables", what, s.name, cfg.AppRole)
		}
	}
	p := &RLS{
		pgBase:      b,
		appRole:     cfg.AppRole,
		appPassword: cfg.AppPassword,
		schema:      schema,
		shared:      slices.Clone(shared),
		ready:       make([]bool, len(b.shards)),
	}
	if p.pools, err = b.sharedPools(p.appConfig); err != nil {
		_ = b.Close()
		return nil, err
	}
	names := make([]string, len(b.shards))
	for i, s := range b.shards {
		names[i] = s.name
	}
	b.set = tenantdb.NewShardSet(names, p.existsOn, p.countOn)
	return p, nil
}

// MaxOpenTenants returns how many handles may be open at once: handles
// hold no connection, so the budget does not bound them.
func (p *RLS) MaxOpenTenants() int { return sharedMaxOpen }

// Close closes the shared pools (waiting for borrowed connections to come
// back) and the administrative pools.
func (p *RLS) Close() error {
	closeSharedPools(p.pools)
	return p.pgBase.Close()
}

// AppRole returns the role tenant handles connect as.
func (p *RLS) AppRole() string { return p.appRole }

// Schema returns the schema of the shared tables.
func (p *RLS) Schema() string { return p.schema }

// setup makes sure shard i has the application role, the registry and the
// schema, once per provisioner (again after a failure).
func (p *RLS) setup(ctx context.Context, i int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready[i] {
		return nil
	}
	if err := p.setupShard(ctx, i); err != nil {
		return fmt.Errorf("set up shard %q: %w", p.shards[i].name, err)
	}
	p.ready[i] = true
	return nil
}

func (p *RLS) setupShard(ctx context.Context, i int) error {
	admin := p.shards[i].admin
	role := pgIdent(p.appRole)
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, p.appRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		stmt := "CREATE ROLE " + role + " LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
		if p.appPassword != "" {
			stmt += " PASSWORD " + pgQuoteLiteral(p.appPassword)
		}
		// Roles are per server: another shard or process may make it first.
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			if c := pgCode(err); c != pgDuplicateObject && c != pgUniqueViolation {
				return fmt.Errorf("create role %s: %w", role, err)
			}
		}
	} else if p.appPassword != "" {
		if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" PASSWORD "+pgQuoteLiteral(p.appPassword)); err != nil {
			return fmt.Errorf("set password of role %s: %w", role, err)
		}
	}
	var super, bypass bool
	if err := admin.QueryRowContext(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, p.appRole).Scan(&super, &bypass); err != nil {
		return fmt.Errorf("role %s: %w", role, err)
	}
	if super || bypass {
		return fmt.Errorf("role %s is a superuser or has BYPASSRLS: row-level security would not apply to it", role)
	}

	tx, err := admin.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	schema := pgIdent(p.schema)
	for _, stmt := range []string{
		fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", rlsLockSetup),
		"CREATE SCHEMA IF NOT EXISTS " + rlsRegistrySchema,
		"REVOKE ALL ON SCHEMA " + rlsRegistrySchema + " FROM PUBLIC",
		`CREATE TABLE IF NOT EXISTS ` + rlsRegistry + ` (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	created_at timestamptz NOT NULL DEFAULT now()
)`,
		// The binding of tenant handles checks the registration, and
		// may only ask about the tenant it binds.
		`CREATE OR REPLACE FUNCTION ` + rlsRegistered + `(tenant text) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
	AS $$ SELECT EXISTS (SELECT 1 FROM ` + rlsRegistry + ` WHERE name = tenant) $$`,
		"REVOKE ALL ON FUNCTION " + rlsRegistered + "(text) FROM PUBLIC",
		"GRANT USAGE ON SCHEMA " + rlsRegistrySchema + " TO " + role,
		"GRANT EXECUTE ON FUNCTION " + rlsRegistered + "(text) TO " + role,
		"CREATE SCHEMA IF NOT EXISTS " + schema,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return tx.Commit()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (p *RLS) existsOn(ctx context.Context, i int, name string) (bool, error) {
	if err := p.setup(ctx, i); err != nil {
		return false, err
	}
	return p.queryExists(ctx, i, `SELECT EXISTS (SELECT 1 FROM `+rlsRegistry+` WHERE name = $1)`, name)
}

func (p *RLS) countOn(ctx context.Context, i int) (int, error) {
	if err := p.setup(ctx, i); err != nil {
		return 0, err
	}
	return p.queryCount(ctx, i, `SELECT count(*) FROM `+rlsRegistry)
}

// Prepare runs up, the shared migrations, as the owner on every shard's
// database (with search_path set to Schema, under an advisory lock so that
// nodes preparing at once take turns), then SecureTables. The Manager
// calls it once at startup; per-tenant migrate.Set.Up calls through tenant
// handles then find every migration applied (goose_db_version is shared)
// and do nothing. up is typically
//
//	func(ctx context.Context, db *sql.DB) error {
//		_, err := migrations.Up(ctx, p.Dialect(), db)
//		return err
//	}
func (p *RLS) Prepare(ctx context.Context, up func(ctx context.Context, db *sql.DB) error) error {
	for i, sh := range p.shards {
		if err := p.setup(ctx, i); err != nil {
			return fmt.Errorf("tenantdb: prepare postgres-rls: %w", err)
		}
		if up != nil {
			if err := p.migrate(ctx, i, up); err != nil {
				return fmt.Errorf("tenantdb: prepare postgres-rls: migrate shard %q: %w", sh.name, err)
			}
		}
		if err := p.secure(ctx, i); err != nil {
			return fmt.Errorf("tenantdb: prepare postgres-rls: secure shard %q: %w", sh.name, err)
		}
	}
	return nil
}

// migrate runs up on shard i as the owner, through a handle that binds
// search_path to Schema in every transaction (so it works behind a
// transaction pooling proxy too), under a session advisory lock held on a
// connection of the administrative pool.
func (p *RLS) migrate(ctx context.Context, i int, up func(ctx context.Context, db *sql.DB) error) (err error) {
	sp, err := newSharedPool(p.shards[i].cfg.Copy(), p.shards[i].name, 2, p.idle)
	if err != nil {
		return err
	}
	defer closeSharedPools([]*sharedPool{sp})
	db := sp.handle(searchPathBinding(p.schema))
	defer db.Close()
	lock, err := p.shards[i].admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", rlsLockMigrate)); err != nil {
		return err
	}
	defer func() {
		if _, uerr := lock.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("SELECT pg_advisory_unlock(%d)", rlsLockMigrate)); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	return up(ctx, db)
}

// SecureTables secures every table of Schema on every shard that lacks any
// part of it (column, foreign key, index, row-level security, policy,
// grants), as described on RLS; views get security_invoker and
// grants, sequences USAGE. Prepare calls it after migrating; call it again
// after creating tables otherwise. It refuses a table that has rows but no
// tenant_id column (they would belong to nobody), and one owned by the
// application role.
func (p *RLS) SecureTables(ctx context.Context) error {
	for i, sh := range p.shards {
		if err := p.setup(ctx, i); err != nil {
			return fmt.Errorf("tenantdb: secure tables: %w", err)
		}
		if err := p.secure(ctx, i); err != nil {
			return fmt.Errorf("tenantdb: secure tables on shard %q: %w", sh.name, err)
		}
	}
	return nil
}

type rlsRelation struct {
	name, kind, owner                  string
	hasColumn, hasFK, hasIndex, hasRLS bool
	hasRLSForced, hasPolicy            bool
}

// secure secures shard i's schema in one transaction.
func (p *RLS) secure(ctx context.Context, i int) (err error) {
	tx, err := p.shards[i].admin.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", rlsLockSetup)); err != nil {
		return err
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return err
	}
	rels, err := p.relations(ctx, tx)
	if err != nil {
		return err
	}
	role := pgIdent(p.appRole)
	var stmts []string
	for _, r := range rels {
		t := pgIdent(p.schema, r.name)
		if r.owner == p.appRole {
			return fmt.Errorf("%s is owned by the application role %s", t, role)
		}
		if r.kind == "v" {
			if version < 150000 {
				// A view runs with its owner's rights, bypassing the
				// policies: the application may not use it.
				stmts = append(stmts, "REVOKE ALL ON "+t+" FROM "+role)
				continue
			}
			stmts = append(stmts,
				"ALTER VIEW "+t+" SET (security_invoker = true)",
				"GRANT SELECT, INSERT, UPDATE, DELETE ON "+t+" TO "+role)
			continue
		}
		if slices.Contains(p.shared, r.name) {
			stmts = append(stmts, "GRANT SELECT ON "+t+" TO "+role)
			continue
		}
		if !r.hasColumn {
			var hasRows bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&hasRows); err != nil {
				return err
			}
			if hasRows {
				return fmt.Errorf("%s has rows but no %s column: they would belong to no tenant", t, RLSTenantColumn)
			}
			// The default is set apart from ADD COLUMN: a default given
			// there would be evaluated once for existing rows (none), and
			// fail without a tenant.
			stmts = append(stmts, "ALTER TABLE "+t+" ADD COLUMN "+RLSTenantColumn+" text"+
				", ALTER COLUMN "+RLSTenantColumn+" SET DEFAULT current_setting('"+RLSSetting+"')"+
				", ALTER COLUMN "+RLSTenantColumn+" SET NOT NULL")
		}
		if !r.hasFK {
			stmts = append(stmts, "ALTER TABLE "+t+" ADD CONSTRAINT "+rlsForeignKey+
				" FOREIGN KEY ("+RLSTenantColumn+") REFERENCES "+rlsRegistry+" (name) ON DELETE CASCADE")
		}
		if !r.hasIndex {
			stmts = append(stmts, "CREATE INDEX ON "+t+" ("+RLSTenantColumn+")")
		}
		if !r.hasRLS || !r.hasRLSForced {
			stmts = append(stmts, "ALTER TABLE "+t+" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
		}
		if !r.hasPolicy {
			cond := "(" + RLSTenantColumn + " = current_setting('" + RLSSetting + "', true))"
			stmts = append(stmts, "CREATE POLICY "+rlsPolicy+" ON "+t+" USING "+cond+" WITH CHECK "+cond)
		}
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+t+" TO "+role)
	}
	stmts = append(stmts, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "+pgIdent(p.schema)+" TO "+role)
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit()
}

// relations lists the tables and views of the schema with what SecureTables
// needs to know about them.
func (p *RLS) relations(ctx context.Context, tx *sql.Tx) ([]rlsRelation, error) {
	rows, err := tx.QueryContext(ctx, `
SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner),
	EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped),
	EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = $3),
	EXISTS (SELECT 1 FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
		WHERE x.indrelid = c.oid AND a.attname = $2),
	c.relrowsecurity, c.relforcerowsecurity,
	EXISTS (SELECT 1 FROM pg_policy y WHERE y.polrelid = c.oid AND y.polname = $4)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY c.relname`, p.schema, RLSTenantColumn, rlsForeignKey, rlsPolicy)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rels []rlsRelation
	for rows.Next() {
		var r rlsRelation
		if err := rows.Scan(&r.name, &r.kind, &r.owner, &r.hasColumn, &r.hasFK, &r.hasIndex,
			&r.hasRLS, &r.hasRLSForced, &r.hasPolicy); err != nil {
			return nil, err
		}
		rels = append(rels, r)
	}
	return rels, rows.Err()
}

// securedTables lists the tables of the current schema that carry the
// tenant policy.
func securedTables(ctx context.Context, q queryer) ([]string, error) {
	return queryStrings(ctx, q, `
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = to_regnamespace(current_schema())::oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
	AND EXISTS (SELECT 1 FROM pg_policy y WHERE y.polrelid = c.oid AND y.polname = $1)
ORDER BY c.relname`, rlsPolicy)
}

// deleteTenantRows deletes a tenant's rows from tables (of the current
// schema) within tx. Tables referencing others must be emptied first, which
// an order cannot always give (cycles), so it goes in passes: a DELETE
// that a foreign key refuses is undone (to a savepoint) and retried in the
// next pass, until every table is done or a pass makes no progress.
func deleteTenantRows(ctx context.Context, tx *sql.Tx, tables []string, tenant string) error {
	pending := tables
	for len(pending) > 0 {
		var failed []string
		var lastErr error
		for _, t := range pending {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT tenancy_delete"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM "+pgIdent(t)+" WHERE "+RLSTenantColumn+" = $1", tenant)
			if err != nil {
				if pgCode(err) != pgForeignKey {
					return fmt.Errorf("delete from %s: %w", pgIdent(t), err)
				}
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT tenancy_delete"); rerr != nil {
					return rerr
				}
				failed = append(failed, t)
				lastErr = err
				continue
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT tenancy_delete"); err != nil {
				return err
			}
		}
		if len(failed) == len(pending) {
			return fmt.Errorf("delete tenant rows: %w", lastErr)
		}
		pending = failed
	}
	return nil
}

// ownerTx begins a transaction as the owner on shard i, with search_path set
// to the schema and bound to tenant (the owner is subject to the policies,
// unless it is a superuser).
func (p *RLS) ownerTx(ctx context.Context, i int, tenant string) (*sql.Tx, error) {
	tx, err := p.shards[i].admin.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true), set_config('`+RLSSetting+`', $2, true)`,
		pgIdent(p.schema), tenant); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// Create registers the tenant on the shard named by tenantdb.WithShard (or picked by
// PickShard), unless it is registered on any shard (tenantdb.ErrExists). No DDL is
// needed: the tenant's rows go into the shared tables.
func (p *RLS) Create(ctx context.Context, name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	if _, found, err := p.set.Locate(ctx, name); err != nil {
		return fmt.Errorf("tenantdb: create postgres-rls tenant %q: %w", name, err)
	} else if found {
		return fmt.Errorf("tenantdb: create postgres-rls tenant %q: %w", name, tenantdb.ErrExists)
	}
	i, err := p.set.Target(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: create postgres-rls tenant %q: %w", name, err)
	}
	if err := p.setup(ctx, i); err != nil {
		return fmt.Errorf("tenantdb: create postgres-rls tenant %q: %w", name, err)
	}
	sh := p.shards[i]
	if _, err := sh.admin.ExecContext(ctx, `INSERT INTO `+rlsRegistry+` (name) VALUES ($1)`, name); err != nil {
		if pgCode(err) == pgUniqueViolation {
			return fmt.Errorf("tenantdb: create postgres-rls tenant %q on shard %q: %w", name, sh.name, tenantdb.ErrExists)
		}
		return fmt.Errorf("tenantdb: create postgres-rls tenant %q on shard %q: %w", name, sh.name, err)
	}
	p.set.Remember(name, i)
	return nil
}

// Drop deletes the tenant's rows from every secured table and its
// registration, in one transaction. Handles still open see no rows
// afterwards and cannot write any (the foreign key to the registry
// refuses them). Dropping a missing tenant returns nil.
func (p *RLS) Drop(ctx context.Context, name string) (err error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	i, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return fmt.Errorf("tenantdb: drop postgres-rls tenant %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	sh := p.shards[i]
	defer func() {
		if err != nil {
			err = fmt.Errorf("tenantdb: drop postgres-rls tenant %q on shard %q: %w", name, sh.name, err)
		}
	}()
	tx, err := p.ownerTx(ctx, i, name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	tables, err := securedTables(ctx, tx)
	if err != nil {
		return err
	}
	if err := deleteTenantRows(ctx, tx, tables, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+rlsRegistry+` WHERE name = $1`, name); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.set.Forget(name)
	return nil
}

// Exists reports whether the tenant is registered on any shard.
func (p *RLS) Exists(ctx context.Context, name string) (bool, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return false, err
	}
	_, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return false, fmt.Errorf("tenantdb: postgres-rls tenant %q: %w", name, err)
	}
	return ok, nil
}

// Open checks that the tenant is registered (tenantdb.ErrNotExist
// otherwise; trusting what this process knows of its shard) and returns
// its handle over the shard's shared pool, which binds the tenant in every
// transaction (see RLS).
func (p *RLS) Open(ctx context.Context, name string) (*sql.DB, error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return nil, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("tenantdb: open postgres-rls tenant %q: %w: %w", name, tenantdb.ErrUnavailable, err)
	}
	if !ok {
		return nil, fmt.Errorf("tenantdb: open postgres-rls tenant %q: %w", name, tenantdb.ErrNotExist)
	}
	return p.pools[i].handle(rlsBinding(name, p.schema)), nil
}

// appConfig is shard i's connection settings for AppRole.
func (p *RLS) appConfig(i int) *pgx.ConnConfig {
	cfg := p.shards[i].cfg.Copy()
	cfg.User = p.appRole
	cfg.Password = p.appPassword
	return cfg
}

// OpenShard returns a handle over the shard's shared pool, as AppRole,
// bound to no tenant: every query through it sees no tenant rows until a
// transaction binds one with BindTenant (or InTenantTx). It is for work
// that goes over many tenants, such as jobs; its connections come from the
// shard's pool, within the budget. The caller closes it.
func (p *RLS) OpenShard(ctx context.Context, shard string) (*sql.DB, error) {
	i, err := p.set.Index(shard)
	if err != nil {
		return nil, err
	}
	if err := p.setup(ctx, i); err != nil {
		return nil, fmt.Errorf("tenantdb: open postgres-rls shard %q: %w", shard, err)
	}
	return p.pools[i].handle(rlsBinding("", p.schema)), nil
}

// Size approximates the bytes of the tenant's rows: the sum of
// pg_column_size of each of its rows in every secured table, which counts
// the row values (TOASTed values as stored, compressed) but not page and
// tuple overhead, free space, dead rows or indexes; a shared table has no
// exact per-tenant size. A tenant without rows has size 0. A missing
// tenant gives tenantdb.ErrNotExist.
func (p *RLS) Size(ctx context.Context, name string) (size int64, err error) {
	if err := tenantdb.ValidateName(name); err != nil {
		return 0, err
	}
	i, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: size of postgres-rls tenant %q: %w", name, err)
	}
	if !ok {
		return 0, fmt.Errorf("tenantdb: size of postgres-rls tenant %q: %w", name, tenantdb.ErrNotExist)
	}
	tx, err := p.ownerTx(ctx, i, name)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: size of postgres-rls tenant %q: %w", name, err)
	}
	defer tx.Rollback()
	tables, err := securedTables(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: size of postgres-rls tenant %q: %w", name, err)
	}
	if len(tables) == 0 {
		return 0, nil
	}
	parts := make([]string, len(tables))
	for j, t := range tables {
		parts[j] = "(SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM " + pgIdent(t) + " AS r WHERE r." + RLSTenantColumn + " = $1)"
	}
	if err := tx.QueryRowContext(ctx, "SELECT ("+strings.Join(parts, " + ")+")::bigint", name).Scan(&size); err != nil {
		return 0, fmt.Errorf("tenantdb: size of postgres-rls tenant %q: %w", name, err)
	}
	return size, nil
}

// TenantColumn implements tenantdb.RowScoped: the column of every
// secured table that holds the tenant.
func (p *RLS) TenantColumn() string { return RLSTenantColumn }

// Wipe deletes the rows of the tenant db is bound to (a handle from Open)
// from every secured table, in one transaction, leaving the shared tables
// (and the tenant's registration) in place; db's transactions must be
// bound to a tenant, or Wipe refuses. Rows are deleted with an explicit
// tenant_id condition as well as under the policies, so a handle that
// bypasses row-level security still deletes only that tenant's rows.
func (p *RLS) Wipe(ctx context.Context, db *sql.DB) (err error) {
	if db == nil {
		return errors.New("tenantdb: wipe postgres-rls tenant: nil *sql.DB")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe postgres-rls tenant: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var tenant sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT current_setting('`+RLSSetting+`', true)`).Scan(&tenant); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres-rls tenant: %w", err)
	}
	if tenantdb.ValidateName(tenant.String) != nil {
		return errors.New("tenantdb: wipe postgres-rls tenant: the handle is bound to no tenant (use a handle from Open)")
	}
	tables, err := securedTables(ctx, tx)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe postgres-rls tenant %q: %w", tenant.String, err)
	}
	if err := deleteTenantRows(ctx, tx, tables, tenant.String); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres-rls tenant %q: %w", tenant.String, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres-rls tenant %q: %w", tenant.String, err)
	}
	return nil
}

// BindTenant binds tx to tenant for the rest of the transaction:
// set_config('app.tenant_id', tenant, true). Under postgres-rls's policies
// the transaction then sees and writes that tenant's rows only; the
// binding ends with the transaction.
func BindTenant(ctx context.Context, tx *sql.Tx, tenant string) error {
	if err := tenantdb.ValidateName(tenant); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('`+RLSSetting+`', $1, true)`, tenant); err != nil {
		return fmt.Errorf("tenantdb: bind tenant %q: %w", tenant, err)
	}
	return nil
}

// InTenantTx runs fn in a transaction of db bound to tenant (BindTenant),
// committing if fn returns nil and rolling back otherwise.
func InTenantTx(ctx context.Context, db *sql.DB, tenant string, fn func(*sql.Tx) error) (err error) {
	if err := tenantdb.ValidateName(tenant); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenantdb: tenant %q: begin: %w", tenant, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := BindTenant(ctx, tx, tenant); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenantdb: tenant %q: commit: %w", tenant, err)
	}
	return nil
}
