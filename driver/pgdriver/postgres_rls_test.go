package pgdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/gotenancy/tenancy/tenantdb/tenantdbtest"
)

// rlsRole returns a fresh application role name, dropped (with its grants
// in the shards' databases) when the test ends, after the provisioners
// made later have closed.
func rlsRole(t testing.TB, shards []tenantdb.Shard) string {
	t.Helper()
	role := testenv.Name("app")
	t.Cleanup(func() {
		ctx := context.Background()
		for _, s := range shards {
			db, err := sql.Open("pgx", s.URL)
			if err != nil {
				continue
			}
			// Only present where a provisioner used the shard.
			var exists bool
			_ = db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists)
			if exists {
				if _, err := db.ExecContext(ctx, `DROP OWNED BY `+role+`; DROP ROLE `+role); err != nil {
					t.Errorf("drop role %s: %v", role, err)
				}
			}
			_ = db.Close()
		}
	})
	return role
}

func newPostgresRLS(t testing.TB, cfg *pgdriver.RLSConfig) *pgdriver.RLS {
	t.Helper()
	p, err := pgdriver.NewRLS(cfg)
	if err != nil {
		t.Fatalf("NewPostgresRLS: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// rlsDDL runs a suite statement as the owner, idempotently, through
// Prepare (which secures the tables afterwards).
func rlsDDL(ctx context.Context, p tenantdb.Provisioner, _, stmt string) error {
	for _, r := range [][2]string{
		{"CREATE TABLE ", "CREATE TABLE IF NOT EXISTS "},
		{"CREATE INDEX ", "CREATE INDEX IF NOT EXISTS "},
		{"CREATE VIEW ", "CREATE OR REPLACE VIEW "},
	} {
		stmt = strings.Replace(stmt, r[0], r[1], 1)
	}
	return p.(*pgdriver.RLS).Prepare(ctx, func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, stmt)
		return err
	})
}

func TestPostgresRLSConformance(t *testing.T) {
	t.Parallel()
	shards := pgShards(t, 2)
	role := rlsRole(t, shards)
	dbs := []*sql.DB{pgOpen(t, shards[0].URL), pgOpen(t, shards[1].URL)}
	inventory := func(ctx context.Context, _ tenantdb.Provisioner) ([]string, error) {
		var all []string
		for i, db := range dbs {
			names, err := tenantdbtest.QueryNames(ctx, db, `SELECT name FROM tenancy_rls.tenants`)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				all = append(all, shards[i].Name+"/"+n)
			}
		}
		return all, nil
	}
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
		p := newPostgresRLS(t, &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: role})
		if err := p.SecureTables(t.Context()); err != nil { // sets the shards up
			t.Fatal(err)
		}
		return p
	}, &tenantdbtest.Options{Inventory: inventory, DDL: rlsDDL, SharedSchema: true})
}

// rlsFixture is a postgres-rls provisioner on one shard with a notes table
// and a view over it, and tenants a and b with 3 and 2 notes.
type rlsFixture struct {
	p        *pgdriver.RLS
	owner    *sql.DB // the shard URL's role, search_path = the schema
	app      *sql.DB // the application role, bound to no tenant
	appURL   string
	a, b     string
	dbA, dbB *sql.DB
}

func newRLSFixture(t *testing.T) *rlsFixture {
	t.Helper()
	ctx := t.Context()
	shards := pgShards(t, 1)
	role := rlsRole(t, shards)
	p := newPostgresRLS(t, &pgdriver.RLSConfig{
		Config:      pgdriver.Config{Shards: shards},
		AppRole:     role,
		AppPassword: "s3cret'\\pw",
	})
	err := p.Prepare(ctx, func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, `
CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);
CREATE VIEW note_bodies AS SELECT body FROM notes;
CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	f := &rlsFixture{p: p, a: testenv.Name("ta"), b: testenv.Name("tb")}
	for _, n := range []string{f.a, f.b} {
		if err := p.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var oerr, aerr error
	f.dbA, oerr = p.Open(ctx, f.a)
	f.dbB, aerr = p.Open(ctx, f.b)
	if err := errors.Join(oerr, aerr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.dbA.Close(); f.dbB.Close() })
	for i := range 3 {
		tenantdbtest.MustExec(t, f.dbA, `INSERT INTO notes (body) VALUES ($1)`, fmt.Sprintf("a%d", i))
	}
	for i := range 2 {
		tenantdbtest.MustExec(t, f.dbB, `INSERT INTO notes (body) VALUES ($1)`, fmt.Sprintf("b%d", i))
	}
	u := mustParseURL(t, shards[0].URL)
	q := u.Query()
	q.Set("search_path", p.Schema())
	u.RawQuery = q.Encode()
	f.owner = pgOpen(t, u.String())
	u.User = url.UserPassword(role, "s3cret'\\pw")
	f.appURL = u.String()
	app, err := p.OpenShard(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	f.app = app
	return f
}

func countRows(t testing.TB, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestPostgresRLSPolicies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newRLSFixture(t)

	// The tables are secured, owned by the shard's role, not the app's.
	var owner string
	var rls, force bool
	if err := f.owner.QueryRowContext(ctx, `
SELECT tableowner, rowsecurity, c.relforcerowsecurity FROM pg_tables t
JOIN pg_class c ON c.relname = t.tablename AND c.relnamespace = to_regnamespace(t.schemaname)
WHERE schemaname = $1 AND tablename = 'notes'`, f.p.Schema()).Scan(&owner, &rls, &force); err != nil {
		t.Fatal(err)
	}
	if owner == f.p.AppRole() || !rls || !force {
		t.Errorf("notes: owner %s (app role %s), row security %v, forced %v", owner, f.p.AppRole(), rls, force)
	}

	// Each tenant handle sees its own rows, in the table and the view, with
	// plain statements outside transactions.
	for _, c := range []struct {
		db   *sql.DB
		want int
	}{{f.dbA, 3}, {f.dbB, 2}} {
		if n := countRows(t, c.db, `SELECT count(*) FROM notes`); n != c.want {
			t.Errorf("count = %d, want %d", n, c.want)
		}
		if n := countRows(t, c.db, `SELECT count(*) FROM note_bodies`); n != c.want {
			t.Errorf("count through the view = %d, want %d", n, c.want)
		}
	}
	if n := countRows(t, f.dbA, `SELECT count(*) FROM notes WHERE body LIKE 'b%'`); n != 0 {
		t.Errorf("tenant a sees %d of b's notes", n)
	}
	// Explicit transactions and prepared statements are bound too.
	tx, err := f.dbA.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, tx, `SELECT count(*) FROM notes`); n != 3 {
		t.Errorf("count in a transaction = %d, want 3", n)
	}
	_ = tx.Rollback()
	st, err := f.dbB.PrepareContext(ctx, `SELECT count(*) FROM notes WHERE body <> $1`)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, st2row{st}, "", "zzz"); n != 2 {
		t.Errorf("count through a prepared statement = %d, want 2", n)
	}
	_ = st.Close()

	// A query bound to no tenant sees no rows, in the table or the view.
	if n := countRows(t, f.app, `SELECT count(*) FROM notes`); n != 0 {
		t.Errorf("the app role without a tenant sees %d rows", n)
	}
	if n := countRows(t, f.app, `SELECT count(*) FROM note_bodies`); n != 0 {
		t.Errorf("the app role without a tenant sees %d rows through the view", n)
	}
	// InTenantTx binds one.
	err = pgdriver.InTenantTx(ctx, f.app, f.b, func(tx *sql.Tx) error {
		if n := countRows(t, tx, `SELECT count(*) FROM notes`); n != 2 {
			t.Errorf("InTenantTx(b) count = %d, want 2", n)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('b2')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.dbB, `SELECT count(*) FROM notes`); n != 3 {
		t.Errorf("b's count after InTenantTx insert = %d, want 3", n)
	}
	if err := pgdriver.InTenantTx(ctx, f.app, "Not valid", func(*sql.Tx) error { return nil }); !errors.Is(err, tenantdb.ErrInvalidName) {
		t.Errorf("InTenantTx with an invalid tenant: err = %v", err)
	}

	// The binding is transaction-local: on one connection, a transaction
	// bound to a is followed by statements that see nothing.
	conn, err := f.app.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err = conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgdriver.BindTenant(ctx, tx, f.a); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, tx, `SELECT count(*) FROM notes`); n != 3 {
		t.Errorf("bound transaction count = %d, want 3", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM notes`); n != 0 {
		t.Errorf("after a bound transaction, the same connection sees %d rows", n)
	}
	tenantdbtest.MustExec(t, conn, `BEGIN; SELECT set_config('app.tenant_id', '`+f.a+`', true); COMMIT`)
	if n := countRows(t, conn, `SELECT count(*) FROM notes`); n != 0 {
		t.Errorf("after set_config(..., true) in an ended transaction, the connection sees %d rows", n)
	}

	// Writing without a tenant, or as another tenant, fails.
	if _, err := conn.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('nobody')`); err == nil {
		t.Error("the app role inserted a row bound to no tenant")
	}
	if _, err := f.dbA.ExecContext(ctx, `INSERT INTO notes (body, tenant_id) VALUES ('x', $1)`, f.b); err == nil {
		t.Error("tenant a inserted a row for b")
	}
	if _, err := f.dbA.ExecContext(ctx, `UPDATE notes SET tenant_id = $1`, f.b); err == nil {
		t.Error("tenant a moved its rows to b")
	}
	if _, err := f.dbA.ExecContext(ctx, `INSERT INTO notes (body, tenant_id) VALUES ('x', 'ghost')`); err == nil {
		t.Error("a row of an unregistered tenant was written")
	}
	if res, err := f.dbA.ExecContext(ctx, `DELETE FROM notes WHERE body LIKE 'b%'`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 0 {
		t.Errorf("tenant a deleted %d of b's rows", n)
	}

	// The app role cannot turn the policies off, nor change them.
	for _, stmt := range []string{
		`ALTER TABLE notes DISABLE ROW LEVEL SECURITY`,
		`ALTER TABLE notes NO FORCE ROW LEVEL SECURITY`,
		`DROP POLICY tenancy_tenant_isolation ON notes`,
		`CREATE POLICY open ON notes USING (true)`,
		`ALTER VIEW note_bodies SET (security_invoker = false)`,
		`ALTER TABLE notes DROP COLUMN tenant_id`,
		`CREATE TABLE sneaky (id int)`,
		`SELECT count(*) FROM tenancy_rls.tenants`,
		`SET row_security = off; SELECT count(*) FROM notes`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err == nil {
			t.Errorf("the app role ran %q", stmt)
		}
	}

	// A session-level SET through a tenant handle does not switch tenants:
	// every transaction binds the handle's tenant again.
	tenantdbtest.MustExec(t, f.dbA, `SET app.tenant_id = '`+f.b+`'`)
	tenantdbtest.MustExec(t, f.dbA, `SELECT set_config('app.tenant_id', $1, false)`, f.b)
	for range 4 {
		if n := countRows(t, f.dbA, `SELECT count(*) FROM notes WHERE body LIKE 'a%'`); n != 3 {
			t.Errorf("after SET app.tenant_id, tenant a's handle sees %d of its rows, want 3", n)
		}
	}

	// A connection of the app role made from scratch (no pool, no driver
	// wrapper) sees nothing either.
	raw := pgOpen(t, f.appURL)
	if n := countRows(t, raw, `SELECT count(*) FROM notes`); n != 0 {
		t.Errorf("a fresh app-role connection sees %d rows", n)
	}
	// Shared tables are readable, not writable.
	if n := countRows(t, raw, `SELECT count(*) FROM goose_db_version`); n != 0 {
		t.Errorf("goose_db_version count = %d", n)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO goose_db_version (version_id) VALUES (1)`); err == nil {
		t.Error("the app role wrote a shared table")
	}

	// Size is approximate but grows with the tenant's rows; Drop removes
	// them and Open then fails.
	sa, err := f.p.Size(ctx, f.a)
	if err != nil || sa <= 0 {
		t.Fatalf("Size(a) = %d, %v", sa, err)
	}
	for i := range 20 {
		tenantdbtest.MustExec(t, f.dbA, `INSERT INTO notes (body) VALUES ($1)`, strings.Repeat("x", 100+i))
	}
	if sa2, err := f.p.Size(ctx, f.a); err != nil || sa2 <= sa+2000 {
		t.Errorf("Size(a) after 20 rows of 100 bytes = %d (was %d), %v", sa2, sa, err)
	}
	if err := f.p.Drop(ctx, f.a); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.owner, `SELECT count(*) FROM notes WHERE tenant_id = $1`, f.a); n != 0 {
		t.Errorf("%d rows of a left after Drop", n)
	}
	if n := countRows(t, f.dbB, `SELECT count(*) FROM notes`); n != 3 {
		t.Errorf("b's count after dropping a = %d, want 3", n)
	}
	if _, err := f.p.Open(ctx, f.a); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("Open after Drop: %v", err)
	}
}

// st2row adapts a prepared statement to countRows.
type st2row struct{ st *sql.Stmt }

func (s st2row) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

// TestPostgresRLSSecureTables: SecureTables refuses tables that have rows
// and no tenant column, and is idempotent.
func TestPostgresRLSSecureTables(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newRLSFixture(t)
	if err := f.p.SecureTables(ctx); err != nil {
		t.Fatalf("second SecureTables: %v", err)
	}
	tenantdbtest.MustExec(t, f.owner, `CREATE TABLE legacy (id int); INSERT INTO legacy VALUES (1)`)
	err := f.p.SecureTables(ctx)
	if err == nil || !strings.Contains(err.Error(), "no tenant_id column") {
		t.Errorf("SecureTables with a populated legacy table: err = %v", err)
	}
	tenantdbtest.MustExec(t, f.owner, `DELETE FROM legacy`)
	if err := f.p.SecureTables(ctx); err != nil {
		t.Fatal(err)
	}
	tenantdbtest.MustExec(t, f.dbA, `INSERT INTO legacy VALUES (7)`)
	if n := countRows(t, f.dbB, `SELECT count(*) FROM legacy`); n != 0 {
		t.Errorf("b sees %d of a's legacy rows", n)
	}
	if n := countRows(t, f.dbA, `SELECT count(*) FROM legacy`); n != 1 {
		t.Errorf("a sees %d legacy rows, want 1", n)
	}
}

// TestPostgresRLSConcurrentIsolation: tenants writing and reading at once,
// through a ConnManager cycling their pools, only ever see their own rows,
// while the app role bound to no tenant sees none.
func TestPostgresRLSConcurrentIsolation(t *testing.T) {
	t.Parallel()
	const (
		tenants = 20
		workers = 12
		rounds  = 40
	)
	ctx := t.Context()
	f := newRLSFixture(t)
	names := make([]string, tenants)
	for i := range names {
		names[i] = fmt.Sprintf("%s_%02d", f.a, i)
		if err := f.p.Create(ctx, names[i]); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tenantdb.NewConnManager(f.p, &tenantdb.ConnConfig{MaxOpen: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var inserted [tenants]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var blindChecks atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := f.app.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
				t.Errorf("unbound count: %v", err)
				return
			}
			if n != 0 {
				t.Errorf("the app role bound to no tenant saw %d rows", n)
			}
			blindChecks.Add(1)
		}
	}()
	for range workers {
		wg.Go(func() {
			for range rounds {
				i := rand.IntN(tenants)
				name := names[i]
				h, err := m.Acquire(ctx, name)
				if err != nil {
					t.Errorf("Acquire(%s): %v", name, err)
					return
				}
				db := h.DB()
				if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, name); err != nil {
					t.Errorf("insert for %s: %v", name, err)
				} else {
					inserted[i].Add(1)
				}
				var total, foreign int
				if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE body <> $1 OR tenant_id <> $1) FROM notes`, name).Scan(&total, &foreign); err != nil {
					t.Errorf("count for %s: %v", name, err)
				} else if foreign != 0 {
					t.Errorf("tenant %s saw %d rows of others", name, foreign)
				} else if total < 1 {
					t.Errorf("tenant %s saw none of its rows", name)
				}
				h.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	for i, name := range names {
		if n := countRows(t, f.owner, `SELECT count(*) FROM notes WHERE tenant_id = $1 AND body = $1`, name); int64(n) != inserted[i].Load() {
			t.Errorf("%s: %d rows stored, %d inserted", name, n, inserted[i].Load())
		}
	}
	t.Logf("%d unbound checks; %d pools opened", blindChecks.Load(), m.Stats().Misses)
}

func TestNewPostgresRLSConfig(t *testing.T) {
	t.Parallel()
	shards := []tenantdb.Shard{{Name: "a", URL: "postgres://owner@127.0.0.1:1/db"}}
	for _, tc := range []struct {
		name string
		cfg  *pgdriver.RLSConfig
		want string
	}{
		{"nil", nil, "required"},
		{"no role", &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}}, "AppRole is required"},
		{"bad role", &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: "App"}, "AppRole"},
		{"owner is app", &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: "owner"}, "must not own"},
		{"bad schema", &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: "app", Schema: "public"}, "Schema"},
		{"no shards", &pgdriver.RLSConfig{AppRole: "app"}, "at least one shard"},
		{"ok", &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: "app"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pgdriver.NewRLS(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Schema() != pgdriver.DefaultRLSSchema || p.Dialect() != "postgres" {
					t.Errorf("Schema %q, Dialect %q", p.Schema(), p.Dialect())
				}
				_ = p.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestPostgresRLSMigrations: the shared migrations run once as the owner
// through Prepare; then migrate.Set.Up, Version and Status through a tenant
// handle (what the Manager does for each tenant) find them applied, and
// the migrated tables are secured.
func TestPostgresRLSMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shards := pgShards(t, 1)
	p := newPostgresRLS(t, &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: shards}, AppRole: rlsRole(t, shards)})
	set := fiveMigrations(t)
	err := p.Prepare(ctx, func(ctx context.Context, db *sql.DB) error {
		res, err := set.Up(ctx, p.Dialect(), db)
		if err == nil && res.Applied != 5 {
			err = fmt.Errorf("applied %d migrations, want 5", res.Applied)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name("mig")
	if err := p.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	db, err := p.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := set.Up(ctx, p.Dialect(), db)
	if err != nil || res.Applied != 0 || res.To != 5 {
		t.Fatalf("Up through a tenant handle = %+v, %v; want nothing to apply at version 5", res, err)
	}
	if v, err := set.Version(ctx, p.Dialect(), db); err != nil || v != 5 {
		t.Errorf("Version = %d, %v", v, err)
	}
	st, err := set.Status(ctx, p.Dialect(), db)
	if err != nil || len(st) != 5 || !st[4].Applied {
		t.Errorf("Status = %+v, %v", st, err)
	}
	tenantdbtest.MustExec(t, db, `INSERT INTO table1 (id, name) VALUES (1, 'x')`)
	other, err := p.OpenShard(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n := countRows(t, other, `SELECT count(*) FROM table1`); n != 0 {
		t.Errorf("a migrated table is not secured: %d rows visible without a tenant", n)
	}
	// The same migrations again (a second node starting) change nothing.
	if err := p.Prepare(ctx, func(ctx context.Context, db *sql.DB) error {
		res, err := set.Up(ctx, p.Dialect(), db)
		if err == nil && res.Applied != 0 {
			err = fmt.Errorf("applied %d migrations again", res.Applied)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
