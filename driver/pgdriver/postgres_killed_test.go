package pgdriver_test

import (
	"context"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
)

// A tenant connection the server ended (57P01, as pg_terminate_backend or
// a DROP DATABASE … WITH (FORCE) of another node does) is replaced: the
// next statement runs on a fresh connection instead of failing, in the
// database mode and in the RLS mode (whose statements run in their own
// bound transactions).
func TestPostgresKilledConnectionIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgOpen(t, testenv.PostgresURL(t))
	shards := pgShards(t, 1)
	provs := map[string]tenantdb.Provisioner{
		"database": newPostgresDatabase(t, &pgdriver.Config{Shards: shards, Strategy: "file_copy"}),
	}
	rlsShards := pgShards(t, 1)
	rls := newPostgresRLS(t, &pgdriver.RLSConfig{Config: pgdriver.Config{Shards: rlsShards}, AppRole: rlsRole(t, rlsShards)})
	if err := rls.SecureTables(ctx); err != nil {
		t.Fatal(err)
	}
	provs["rls"] = rls
	for mode, p := range provs {
		t.Run(mode, func(t *testing.T) {
			if err := p.Create(ctx, "tenant_killed"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Drop(context.WithoutCancel(ctx), "tenant_killed") })
			db, err := p.Open(ctx, "tenant_killed")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			var pid int
			if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			var ok bool
			if err := admin.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
				t.Fatalf("terminate backend %d: %v, %v", pid, ok, err)
			}
			var again int
			if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&again); err != nil {
				t.Fatalf("statement after the server ended the connection: %v", err)
			}
			if again == pid {
				t.Fatalf("ran on the ended backend %d", pid)
			}
			if _, err := db.ExecContext(ctx, `SELECT 1`); err != nil {
				t.Fatal(err)
			}
		})
	}
}
