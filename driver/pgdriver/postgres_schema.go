package pgdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
)

// schemaMarker is the comment Schema puts on the schemas it makes.
const schemaMarker = "tenancy tenant schema"

// Schema is the postgres-schema tenantdb.Provisioner: one schema per tenant,
// named after the tenant's database name, in the database of a shard's URL.
// Shards work as for Database: Create uses the shard named by
// tenantdb.WithShard, or PickShard's; the other methods find the schema wherever it
// is. Tenant schemas carry a comment, which PickShard counts and Wipe
// checks.
//
// Tenant handles share one pool per shard of at most Budget / shards
// connections (see Config): Open returns a *sql.DB that holds no
// connection of its own and binds the tenant in every transaction it runs,
// with set_config('search_path', '"<schema>"', true), local to the
// transaction: in the same round trip as the statement for statements
// outside a transaction, with BEGIN for explicit ones. Unqualified names
// resolve in the tenant's schema and CREATE statements create there
// (public is not on the path: a table left in public is invisible, not
// shared); objects in pg_catalog stay visible. Extensions must be
// installed in pg_catalog or referred to schema-qualified. A connection
// carries no tenant between transactions, so the mode is safe behind a
// proxy in transaction pooling mode (PgBouncer pool_mode=transaction); a
// SET search_path, RESET ALL or DISCARD ALL of the application lasts at
// most until its transaction ends, and the next transaction on that
// connection binds its own tenant again. Behind a proxy without
// protocol-level prepared statements (PgBouncer before 1.21) add
// default_query_exec_mode=exec to the shard URL.
//
// Isolation is by name resolution, not by privilege: tenant connections
// use the shard URL's role, which can read every schema, so a statement
// naming another schema explicitly, or a SET search_path inside a
// transaction, reaches another tenant. Use postgres-database, or
// postgres-rls's policies, where that matters.
//
// It is safe for concurrent use.
type Schema struct {
	*pgBase
	pools []*sharedPool // by shard
}

var (
	_ tenantdb.Provisioner = (*Schema)(nil)
	_ tenantdb.Sharded     = (*Schema)(nil)
	_ tenantdb.Budgeted    = (*Schema)(nil)
)

// NewSchema returns a postgres-schema provisioner for cfg (Template
// and Strategy are ignored). It connects to nothing until used; Close
// closes its administrative pools.
func NewSchema(cfg *Config) (*Schema, error) {
	b, err := newPGBase("postgres-schema", cfg)
	if err != nil {
		return nil, err
	}
	pools, err := b.sharedPools(func(i int) *pgx.ConnConfig { return b.shards[i].cfg.Copy() })
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	p := &Schema{pgBase: b, pools: pools}
	names := make([]string, len(b.shards))
	for i, s := range b.shards {
		names[i] = s.name
	}
	b.set = tenantdb.NewShardSet(names, p.existsOn, p.countOn)
	return p, nil
}

func (p *Schema) existsOn(ctx context.Context, i int, name string) (bool, error) {
	return p.queryExists(ctx, i, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name)
}

func (p *Schema) countOn(ctx context.Context, i int) (int, error) {
	return p.queryCount(ctx, i, `SELECT count(*) FROM pg_namespace WHERE obj_description(oid, 'pg_namespace') = $1`, schemaMarker)
}

// reservedSchema reports schema names that are never tenants: PostgreSQL's
// own (pg_*, information_schema), public, and postgres-rls's.
func reservedSchema(name string) bool {
	return name == "public" || name == "information_schema" || name == rlsRegistrySchema ||
		strings.HasPrefix(name, "pg_")
}

// Create makes the schema, with its marker comment, in one transaction on
// the shard named by tenantdb.WithShard (or picked by PickShard), unless a schema of
// that name exists on any shard (tenantdb.ErrExists). Reserved names (public,
// information_schema, pg_*, tenancy_rls) give tenantdb.ErrInvalidName.
func (p *Schema) Create(ctx context.Context, name string) error {
	if err := validateSchemaName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	if _, found, err := p.set.Locate(ctx, name); err != nil {
		return fmt.Errorf("tenantdb: create postgres schema %q: %w", name, err)
	} else if found {
		return fmt.Errorf("tenantdb: create postgres schema %q: %w", name, tenantdb.ErrExists)
	}
	i, err := p.set.Target(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: create postgres schema %q: %w", name, err)
	}
	sh := p.shards[i]
	// One simple query: both statements commit together.
	stmt := "CREATE SCHEMA " + pgIdent(name) + "; COMMENT ON SCHEMA " + pgIdent(name) + " IS " + pgQuoteLiteral(schemaMarker)
	if _, err := sh.admin.ExecContext(ctx, stmt); err != nil {
		switch pgCode(err) {
		case pgDuplicateSchema, pgUniqueViolation:
			return fmt.Errorf("tenantdb: create postgres schema %q on shard %q: %w", name, sh.name, tenantdb.ErrExists)
		}
		return fmt.Errorf("tenantdb: create postgres schema %q on shard %q: %w", name, sh.name, err)
	}
	p.set.Remember(name, i)
	return nil
}

// validateSchemaName is tenantdb.ValidateName plus the reserved schema names.
func validateSchemaName(name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return err
	}
	if reservedSchema(name) {
		return fmt.Errorf("%w %q: reserved schema name", tenantdb.ErrInvalidName, name)
	}
	return nil
}

// Drop drops the schema and everything in it (DROP SCHEMA ... CASCADE) on
// the shard holding it. Open handles keep their connections, but their
// search_path then names no schema: unqualified names resolve to nothing
// and nothing can be created. Dropping a missing schema returns nil.
func (p *Schema) Drop(ctx context.Context, name string) error {
	if err := validateSchemaName(name); err != nil {
		return err
	}
	unlock := p.set.Lock(name)
	defer unlock()
	i, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return fmt.Errorf("tenantdb: drop postgres schema %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	sh := p.shards[i]
	if _, err := sh.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+pgIdent(name)+" CASCADE"); err != nil {
		return fmt.Errorf("tenantdb: drop postgres schema %q on shard %q: %w", name, sh.name, err)
	}
	p.set.Forget(name)
	return nil
}

// Exists reports whether any shard holds the schema.
func (p *Schema) Exists(ctx context.Context, name string) (bool, error) {
	if err := validateSchemaName(name); err != nil {
		return false, err
	}
	_, ok, err := p.set.Locate(ctx, name)
	if err != nil {
		return false, fmt.Errorf("tenantdb: postgres schema %q: %w", name, err)
	}
	return ok, nil
}

// Open checks that the schema exists (tenantdb.ErrNotExist otherwise;
// trusting what this process knows of its shard) and returns its handle
// over the shard's shared pool, which binds search_path to the schema in
// every transaction. If the schema is dropped later, the handle's
// statements fail with tenantdb.ErrUnavailable.
func (p *Schema) Open(ctx context.Context, name string) (*sql.DB, error) {
	if err := validateSchemaName(name); err != nil {
		return nil, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("tenantdb: open postgres schema %q: %w: %w", name, tenantdb.ErrUnavailable, err)
	}
	if !ok {
		return nil, fmt.Errorf("tenantdb: open postgres schema %q: %w", name, tenantdb.ErrNotExist)
	}
	return p.pools[i].handle(schemaBinding(name)), nil
}

// MaxOpenTenants returns how many handles may be open at once: handles
// hold no connection, so the budget does not bound them.
func (p *Schema) MaxOpenTenants() int { return sharedMaxOpen }

// Close closes the shared pools (waiting for borrowed connections to come
// back) and the administrative pools.
func (p *Schema) Close() error {
	closeSharedPools(p.pools)
	return p.pgBase.Close()
}

// Size reports the bytes of the schema's tables and materialized views
// (with their indexes and TOAST) and sequences. A missing schema gives
// tenantdb.ErrNotExist.
func (p *Schema) Size(ctx context.Context, name string) (int64, error) {
	if err := validateSchemaName(name); err != nil {
		return 0, err
	}
	i, ok, err := p.set.Lookup(ctx, name)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return 0, fmt.Errorf("tenantdb: size of postgres schema %q: %w", name, err)
		}
		if !ok {
			return 0, fmt.Errorf("tenantdb: size of postgres schema %q: %w", name, tenantdb.ErrNotExist)
		}
		var size int64
		serr := p.shards[i].admin.QueryRowContext(ctx, `
SELECT coalesce(sum(CASE
	WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid)
	WHEN c.relkind = 'S' THEN pg_relation_size(c.oid)
	ELSE 0 END), 0)::bigint
FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
WHERE n.nspname = $1
GROUP BY n.oid`, name).Scan(&size)
		if serr == nil {
			return size, nil
		}
		if !errors.Is(serr, sql.ErrNoRows) {
			return 0, fmt.Errorf("tenantdb: size of postgres schema %q: %w", name, serr)
		}
		if attempt > 0 {
			return 0, fmt.Errorf("tenantdb: size of postgres schema %q: %w", name, tenantdb.ErrNotExist)
		}
		i, ok, err = p.set.Locate(ctx, name)
	}
}

// Wipe empties the tenant schema db's connections use (current_schema()),
// in one transaction: it drops the schema with CASCADE, taking every table,
// view, sequence, type and function along, and creates it again, empty. It
// refuses a schema that is not a tenant schema made by Create.
func (p *Schema) Wipe(ctx context.Context, db *sql.DB) (err error) {
	if db == nil {
		return errors.New("tenantdb: wipe postgres schema: nil *sql.DB")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenantdb: wipe postgres schema: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var schema, comment sql.NullString
	if err := tx.QueryRowContext(ctx, `
SELECT current_schema(), obj_description(to_regnamespace(current_schema())::oid, 'pg_namespace')`).Scan(&schema, &comment); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres schema: %w", err)
	}
	if !schema.Valid {
		return fmt.Errorf("tenantdb: wipe postgres schema: the handle's schema does not exist: %w", tenantdb.ErrNotExist)
	}
	if err := validateSchemaName(schema.String); err != nil || comment.String != schemaMarker {
		return fmt.Errorf("tenantdb: wipe postgres schema: %q is not a tenant schema", schema.String)
	}
	s := pgIdent(schema.String)
	for _, stmt := range []string{
		"DROP SCHEMA " + s + " CASCADE",
		"CREATE SCHEMA " + s,
		"COMMENT ON SCHEMA " + s + " IS " + pgQuoteLiteral(schemaMarker),
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("tenantdb: wipe postgres schema %s: %w", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenantdb: wipe postgres schema %s: %w", s, err)
	}
	return nil
}
