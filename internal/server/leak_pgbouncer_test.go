package server

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
)

// TestLeakSuitePgBouncer runs the leak suite with the tenants in
// postgres-schema and in postgres-rls mode, their shard reached through
// PgBouncer in pool_mode=transaction (which hands each transaction
// whichever server connection is free) and a budget of 8 connections for
// 50 tenants: every response and row still belongs to the asking tenant.
func TestLeakSuitePgBouncer(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"schema", "rls"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			shard := pgbouncerShard(t)
			cfg := pgdriver.Config{Shards: []tenantdb.Shard{{Name: "a", URL: shard}}, Budget: 8}
			var prov interface {
				tenantdb.Provisioner
				Close() error
			}
			var err error
			if mode == "schema" {
				prov, err = pgdriver.NewSchema(&cfg)
			} else {
				role := testenv.Name("leak_app")
				t.Cleanup(func() { dropRole(t, role) }) // after the database is gone
				prov, err = pgdriver.NewRLS(&pgdriver.RLSConfig{Config: cfg, AppRole: role})
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { prov.Close() })
			f := newFixtureOn(t, leakTenants, &testenv.ManagerConfig{Demo: true, Provisioner: prov})
			leakSuite(t, f, 20_000)
		})
	}
}

// pgbouncerShard creates a database on the first PostgreSQL server
// (dropped when the test ends) and returns its URL through PgBouncer.
func pgbouncerShard(t *testing.T) string {
	t.Helper()
	direct, err := url.Parse(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testenv.PgBouncerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = direct.Path
	return u.String()
}

// dropRole drops a role of the first PostgreSQL server.
func dropRole(t *testing.T, role string) {
	db, err := sql.Open("pgx", testenv.PostgresURL(t))
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.ExecContext(context.Background(), `DROP ROLE IF EXISTS "`+role+`"`)
}
