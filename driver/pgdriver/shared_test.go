package pgdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/jackc/pgx/v5"
)

// sharedFixture is a postgres-schema provisioner whose shared pool has
// ONE server connection, and two tenant schemas a and b whose notes
// tables hold 1 and 2 rows: every statement of either tenant runs on the
// same server connection, one after the other.
type sharedFixture struct {
	p      *pgdriver.Schema
	admin  *sql.DB
	a, b   *sql.DB
	shards []tenantdb.Shard
}

func newSharedFixture(t *testing.T) *sharedFixture {
	t.Helper()
	ctx := t.Context()
	shards := pgShards(t, 1)
	p := newPostgresSchema(t, &pgdriver.Config{Shards: shards, Budget: 1, MaxConnsPerTenant: 1})
	f := &sharedFixture{p: p, admin: pgOpen(t, shards[0].URL), shards: shards}
	for _, name := range []string{"sh_a", "sh_b"} {
		if err := p.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.admin.ExecContext(ctx, `
CREATE TABLE sh_a.notes (id bigserial PRIMARY KEY, body text NOT NULL);
CREATE TABLE sh_b.notes (id bigserial PRIMARY KEY, body text NOT NULL);
INSERT INTO sh_a.notes (body) VALUES ('a1');
INSERT INTO sh_b.notes (body) VALUES ('b1'), ('b2');`); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.a, err = p.Open(ctx, "sh_a"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.a.Close() })
	if f.b, err = p.Open(ctx, "sh_b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.b.Close() })
	return f
}

// seen returns the schema and note count a statement of db sees, and the
// server connection's pid.
func seen(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (schema string, notes, pid int) {
	t.Helper()
	if err := q.QueryRowContext(t.Context(), `SELECT current_schema(), (SELECT count(*) FROM notes), pg_backend_pid()`).Scan(&schema, &notes, &pid); err != nil {
		t.Fatal(err)
	}
	return schema, notes, pid
}

func wantSeen(t *testing.T, what string, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, schema string, notes int) int {
	t.Helper()
	s, n, pid := seen(t, q)
	if s != schema || n != notes {
		t.Errorf("%s: sees schema %s with %d notes, want %s with %d", what, s, n, schema, notes)
	}
	return pid
}

// TestSharedPoolOneConnectionTwoTenants: two tenants take turns on one
// server connection, with plain statements, a statement prepared under a
// and run under b, and explicit transactions; each always sees its own
// schema.
func TestSharedPoolOneConnectionTwoTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	pa := wantSeen(t, "a", f.a, "sh_a", 1)
	pb := wantSeen(t, "b", f.b, "sh_b", 2)
	if pa != pb {
		t.Fatalf("the tenants ran on server connections %d and %d: the pool is not shared", pa, pb)
	}
	// One SQL text, prepared on the connection under a, runs under b.
	sa, err := f.a.PrepareContext(ctx, `SELECT count(*) FROM notes WHERE body <> $1`)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := f.b.PrepareContext(ctx, `SELECT count(*) FROM notes WHERE body <> $1`)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for i := range 3 {
		var na, nb int
		if err := sa.QueryRowContext(ctx, "none").Scan(&na); err != nil {
			t.Fatal(err)
		}
		if err := sb.QueryRowContext(ctx, "none").Scan(&nb); err != nil {
			t.Fatal(err)
		}
		if na != 1 || nb != 2 {
			t.Fatalf("round %d: prepared statement counts a=%d b=%d, want 1 and 2", i, na, nb)
		}
	}
	// Explicit transactions see their tenant, and writes land there.
	for _, c := range []struct {
		db     *sql.DB
		schema string
		notes  int
	}{{f.a, "sh_a", 1}, {f.b, "sh_b", 2}} {
		tx, err := c.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantSeen(t, c.schema+" in a transaction", tx, c.schema, c.notes)
		if _, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, "tx"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	wantSeen(t, "a after its transaction", f.a, "sh_a", 2)
	wantSeen(t, "b after its transaction", f.b, "sh_b", 3)
	// A script of several statements runs in the tenant's schema.
	if _, err := f.a.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('s1'); INSERT INTO notes (body) VALUES ('s2')`); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "a after a script", f.a, "sh_a", 4)
	wantSeen(t, "b after a's script", f.b, "sh_b", 3)
}

// TestSharedPoolResultTypeChanges: a statement prepared against a's table
// runs against b's table of other column types; b gets its own result.
func TestSharedPoolResultTypeChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	if _, err := f.admin.ExecContext(ctx, `CREATE TABLE sh_a.kv (v text); INSERT INTO sh_a.kv VALUES ('x');
CREATE TABLE sh_b.kv (v bigint); INSERT INTO sh_b.kv VALUES (7);`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var va, vb any
		if err := f.a.QueryRowContext(ctx, `SELECT v FROM kv`).Scan(&va); err != nil {
			t.Fatal(err)
		}
		if err := f.b.QueryRowContext(ctx, `SELECT v FROM kv`).Scan(&vb); err != nil {
			t.Fatal(err)
		}
		if va != "x" || vb != int64(7) {
			t.Fatalf("a read %#v, b read %#v; want \"x\" and 7", va, vb)
		}
	}
}

// TestSharedPoolSessionChangesDoNotLeak: whatever session state the
// application changes (SET search_path, RESET ALL, DISCARD ALL, a
// session-level set_config), the other tenant's next statement and
// transaction on the same server connection see the other tenant.
func TestSharedPoolSessionChangesDoNotLeak(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	for _, stmt := range []string{
		`SET search_path TO sh_a`,
		`SET SESSION search_path TO sh_a, public`,
		`SELECT set_config('search_path', 'sh_a', false)`,
		`RESET ALL`,
		`RESET search_path`,
		`DISCARD ALL`,
		`DEALLOCATE ALL`,
		`SET search_path TO sh_a; SELECT 1`,
	} {
		// a changes its session, in a statement and in a transaction.
		_, err := f.a.ExecContext(ctx, stmt)
		t.Logf("a ran %q: err=%v", stmt, err)
		if tx, err := f.a.BeginTx(ctx, nil); err != nil {
			t.Fatal(err)
		} else {
			_, err := tx.ExecContext(ctx, stmt)
			t.Logf("a ran %q in a transaction: err=%v", stmt, err)
			_ = tx.Commit()
		}
		wantSeen(t, "b after a ran "+stmt, f.b, "sh_b", 2)
		tx, err := f.b.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantSeen(t, "b's transaction after a ran "+stmt, tx, "sh_b", 2)
		_ = tx.Rollback()
		wantSeen(t, "a after it ran "+stmt, f.a, "sh_a", 1)
	}
}

// TestSharedPoolTransactionEndedByStatement: a COMMIT run as a statement
// ends the transaction; the statements after it fail instead of running
// unbound.
func TestSharedPoolTransactionEndedByStatement(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	tx, err := f.a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('after')`); err == nil {
		t.Error("a statement after COMMIT ran in the ended transaction")
	}
	if err := tx.Commit(); err == nil {
		t.Error("Commit of a transaction ended by a statement succeeded")
	}
	wantSeen(t, "a afterwards", f.a, "sh_a", 1)
	wantSeen(t, "b afterwards", f.b, "sh_b", 2)
}

// TestSharedPoolMissingSchema: a schema dropped behind the provisioner's
// back makes its tenant's statements fail with tenantdb.ErrUnavailable,
// and no statement of it runs anywhere else; the other tenant keeps
// working.
func TestSharedPoolMissingSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	if _, err := f.admin.ExecContext(ctx, `DROP SCHEMA sh_a CASCADE`); err != nil {
		t.Fatal(err)
	}
	_, err := f.a.ExecContext(ctx, `CREATE TABLE notes (id int)`)
	if !errors.Is(err, tenantdb.ErrUnavailable) || !strings.Contains(err.Error(), "sh_a") {
		t.Errorf("statement of a dropped schema: %v, want tenantdb.ErrUnavailable naming it", err)
	}
	if _, err := f.a.BeginTx(ctx, nil); !errors.Is(err, tenantdb.ErrUnavailable) {
		t.Errorf("transaction of a dropped schema: %v, want tenantdb.ErrUnavailable", err)
	}
	if _, err := f.a.ExecContext(ctx, `CREATE TABLE notes (id int); SELECT 1`); !errors.Is(err, tenantdb.ErrUnavailable) {
		t.Errorf("script of a dropped schema: %v, want tenantdb.ErrUnavailable", err)
	}
	var n int
	if err := f.admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'notes' AND schemaname NOT IN ('sh_b')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("tables named notes outside sh_b: %d (%v), want 0", n, err)
	}
	wantSeen(t, "b", f.b, "sh_b", 2)
}

// TestSharedPoolConnectionLost: the server connection ends in the middle
// of a transaction: the transaction fails with tenantdb.ErrUnavailable,
// nothing of it is kept, and the next statements run on a new connection.
func TestSharedPoolConnectionLost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	tx, err := f.a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('lost')`); err != nil {
		t.Fatal(err)
	}
	_, _, pid := seen(t, tx)
	if _, err := f.admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('lost 2')`)
	if !errors.Is(err, tenantdb.ErrUnavailable) {
		t.Errorf("statement after the connection was lost: %v, want tenantdb.ErrUnavailable", err)
	}
	_ = tx.Rollback()
	wantSeen(t, "a afterwards", f.a, "sh_a", 1)
	wantSeen(t, "b afterwards", f.b, "sh_b", 2)
}

// TestSharedPoolShardDown: a shard that cannot be reached fails its
// tenants' statements with tenantdb.ErrUnavailable.
func TestSharedPoolShardDown(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	// A provisioner whose shard is a port nobody listens on.
	down := newPostgresSchema(t, &pgdriver.Config{Shards: []tenantdb.Shard{{Name: "down", URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}}})
	if _, err := down.Open(ctx, "sh_a"); !errors.Is(err, tenantdb.ErrUnavailable) {
		t.Errorf("Open on a shard that is down: %v, want tenantdb.ErrUnavailable", err)
	}
	wantSeen(t, "a on the shard that is up", f.a, "sh_a", 1)
}

// TestSharedPoolValues: a shared-pool handle returns the same Go values as
// pgx's own database/sql driver.
func TestSharedPoolValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	const q = `SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, 1.25::numeric(5,2), 'x'::text,
'y'::varchar(3), true, '\x0102'::bytea, '{"a":1}'::jsonb, '{1,2}'::int[], '2024-01-02'::date,
'2024-01-02 03:04:05'::timestamp, '2024-01-02 03:04:05+00'::timestamptz, '00000000-0000-0000-0000-000000000001'::uuid,
NULL::text, 42::oid, $1::text, $2::int8`
	read := func(db *sql.DB) ([]any, []string) {
		rows, err := db.QueryContext(ctx, q, "arg", 7)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		types, err := rows.ColumnTypes()
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, len(types))
		for i, ct := range types {
			names[i] = fmt.Sprintf("%s %v", ct.DatabaseTypeName(), ct.ScanType())
		}
		vals := make([]any, len(types))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			t.Fatal("no row")
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		return vals, names
	}
	got, gotTypes := read(f.a)
	want, wantTypes := read(f.admin)
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) || gotTypes[i] != wantTypes[i] {
			t.Errorf("column %d: shared handle %#v (%s), pgx stdlib %#v (%s)", i+1, got[i], gotTypes[i], want[i], wantTypes[i])
		}
	}
}

// TestSharedPoolPgxTx: pgdriver.Tx gives pgx's API, bound to the tenant.
func TestSharedPoolPgxTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newSharedFixture(t)
	err := pgdriver.Tx(ctx, f.b, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("pgx transaction of b sees %d notes, want 2", n)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"notes"}, []string{"body"}, pgx.CopyFromRows([][]any{{"c1"}, {"c2"}}))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSeen(t, "b after CopyFrom", f.b, "sh_b", 4)
	wantSeen(t, "a after b's CopyFrom", f.a, "sh_a", 1)
}

// TestSharedPoolRLSSessionAndRegistration: in postgres-rls, a tenant that
// sets app.tenant_id for its session does not reach the next tenant's
// statements on the shared connections, and a tenant whose registration
// is deleted fails with tenantdb.ErrUnavailable instead of running bound
// to nobody.
func TestSharedPoolRLSSessionAndRegistration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newRLSFixture(t)
	for range 4 {
		if _, err := f.dbA.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, false)`, f.a); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, f.dbB, `SELECT count(*) FROM notes`); n != 2 {
			t.Errorf("b sees %d notes after a bound its session, want 2", n)
		}
		if n := countRows(t, f.app, `SELECT count(*) FROM notes`); n != 0 {
			t.Errorf("the shard handle sees %d notes after a bound its session, want 0", n)
		}
	}
	for _, q := range []string{`DELETE FROM notes WHERE tenant_id = $1`, `DELETE FROM tenancy_rls.tenants WHERE name = $1`} {
		if _, err := f.owner.ExecContext(ctx, q, f.a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.dbA.ExecContext(ctx, `SELECT count(*) FROM notes`); !errors.Is(err, tenantdb.ErrUnavailable) {
		t.Errorf("statement of an unregistered tenant: %v, want tenantdb.ErrUnavailable", err)
	}
	if n := countRows(t, f.dbB, `SELECT count(*) FROM notes`); n != 2 {
		t.Errorf("b sees %d notes, want 2", n)
	}
}
