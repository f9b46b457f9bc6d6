package backups_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
)

// TestMoveBetweenShards moves a tenant between two PostgreSQL servers in
// the database and schema modes: its rows follow, it is served from the
// new shard, the old copy is gone, its neighbour stays.
func TestMoveBetweenShards(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgdriver.Mode{pgdriver.ModeDatabase, pgdriver.ModeSchema} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := engine{mode: "postgres-" + string(mode), engine: "postgres", dialect: "postgres", driver: func(t *testing.T) tenancy.Driver {
				return pgdriver.Open(testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), &pgdriver.DriverConfig{Mode: mode, Shards: []tenantdb.Shard{
					{Name: "a", URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))},
					{Name: "b", URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL2(t))},
				}})
			}}
			f := newEngineFixture(t, e)
			mk := func(name, shard string) *tenancy.Tenant {
				tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: name, Domain: domain(name), Shard: shard, Migrate: true})
				if err != nil {
					t.Fatal(err)
				}
				return tn
			}
			a, b := mk("mova", "a"), mk("movb", "a")
			f.exec(t, a, `INSERT INTO notes (body) VALUES ('one'), ('two')`, settingsInsert(e, "k", "v"))
			f.exec(t, b, `INSERT INTO notes (body) VALUES ('b')`)
			want := f.query(t, a, notesQuery)

			var verr *backups.ValidationError
			for _, shard := range []string{"a", "nosuch", ""} {
				if _, _, err := f.svc.Move(ctx, a, shard); !errors.As(err, &verr) {
					t.Errorf("move to %q: %v, want a validation error", shard, err)
				}
			}
			moved, rep, err := f.svc.Move(ctx, a, "b")
			if err != nil {
				t.Fatal(err)
			}
			if moved.Shard != "b" || rep.From != "a" || rep.To != "b" || rep.Rows != 3 || moved.Generation != a.Generation+1 || moved.Maintenance {
				t.Fatalf("moved %+v, report %+v", moved, rep)
			}
			sharded := f.mgr.DataOps().Provisioner().(tenantdb.Sharded)
			if got, err := sharded.ShardOf(ctx, moved.DatabaseName); err != nil || got != "b" {
				t.Fatalf("the new database is on %q (%v)", got, err)
			}
			if ok, _ := f.mgr.DataOps().Provisioner().Exists(ctx, a.DatabaseName); ok {
				t.Fatalf("the old database %s is still there", a.DatabaseName)
			}
			if got := f.query(t, moved, notesQuery); !reflect.DeepEqual(got, want) {
				t.Fatalf("notes after the move %q, want %q", got, want)
			}
			f.exec(t, moved, `INSERT INTO notes (body) VALUES ('three')`)
			if got := f.query(t, moved, notesQuery); len(got) != 3 {
				t.Fatalf("an insert after the move: %q", got)
			}
			if got := f.query(t, b, notesQuery); !reflect.DeepEqual(got, []string{"b"}) {
				t.Fatalf("the neighbour's notes %q", got)
			}
		})
	}
}
