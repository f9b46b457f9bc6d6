package pgdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/driver/pgdriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/gotenancy/tenancy/tenantdb/tenantdbtest"
)

func newPostgresDatabase(t testing.TB, cfg *pgdriver.Config) *pgdriver.Database {
	t.Helper()
	p, err := pgdriver.NewDatabase(cfg)
	if err != nil {
		t.Fatalf("NewPostgresDatabase: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPostgresDatabaseConformance(t *testing.T) {
	t.Parallel()
	shards := pgShards(t, 2)
	servers := []*sql.DB{pgOpen(t, testenv.PostgresURL(t)), pgOpen(t, testenv.PostgresURL2(t))}
	inventory := func(ctx context.Context, _ tenantdb.Provisioner) ([]string, error) {
		var all []string
		for _, db := range servers {
			names, err := tenantdbtest.QueryNames(ctx, db, `SELECT datname FROM pg_database`)
			if err != nil {
				return nil, err
			}
			all = append(all, tenantdbtest.ValidOrPrefixed(names, "tenant_conformance_")...)
		}
		return all, nil
	}
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
		return newPostgresDatabase(t, &pgdriver.Config{Shards: shards, Strategy: "file_copy"})
	}, &tenantdbtest.Options{CountObjects: pgCountObjects(false), Inventory: inventory})
}

func TestPostgresDatabaseShards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shards := pgShards(t, 2)
	p := newPostgresDatabase(t, &pgdriver.Config{Shards: shards, Strategy: "file_copy"})
	server := map[string]string{"a": testenv.PostgresURL(t), "b": testenv.PostgresURL2(t)}
	prefix := testenv.Name("shardtest")
	name := func(s string) string { return prefix + "_" + s }
	t.Cleanup(func() {
		for _, s := range []string{"a1", "a2", "b1", "b2", "b3", "moved"} {
			_ = p.Drop(context.Background(), name(s))
		}
	})

	if got := p.Shards(); strings.Join(got, ",") != "a,b" {
		t.Fatalf("Shards = %q", got)
	}
	if got, err := p.PickShard(ctx); err != nil || got != "a" {
		t.Fatalf("PickShard on empty shards = %q, %v; want a (first on a tie)", got, err)
	}
	for _, s := range []string{"a1", "a2"} {
		if err := p.Create(tenantdb.WithShard(ctx, "a"), name(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := p.PickShard(ctx); err != nil || got != "b" {
		t.Fatalf("PickShard = %q, %v; want b (a has 2, b 0)", got, err)
	}
	// Without a shard in the context, Create picks b.
	if err := p.Create(ctx, name("b1")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"b2", "b3"} {
		if err := p.Create(tenantdb.WithShard(ctx, "b"), name(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := p.PickShard(ctx); err != nil || got != "a" {
		t.Fatalf("PickShard = %q, %v; want a (a has 2, b 3)", got, err)
	}
	for s, want := range map[string]string{"a1": "a", "a2": "a", "b1": "b", "b2": "b", "b3": "b"} {
		got, err := p.ShardOf(ctx, name(s))
		if err != nil || got != want {
			t.Errorf("ShardOf(%s) = %q, %v; want %q", s, got, err, want)
		}
		// The database really is on that server, and only there.
		for sh, u := range server {
			var n int
			if err := pgOpen(t, u).QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name(s)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if wantN := map[bool]int{true: 1, false: 0}[sh == want]; n != wantN {
				t.Errorf("server of shard %s holds %d databases named %s, want %d", sh, n, name(s), wantN)
			}
		}
	}
	// A tenant handle connects to its own database on its own server.
	db, err := p.Open(ctx, name("b2"))
	if err != nil {
		t.Fatal(err)
	}
	var dbName, port string
	if err := db.QueryRowContext(ctx, `SELECT current_database(), current_setting('port')`).Scan(&dbName, &port); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	u, _ := url.Parse(server["b"])
	if dbName != name("b2") || port != u.Port() {
		t.Errorf("handle of b2 is on database %s port %s, want %s port %s", dbName, port, name("b2"), u.Port())
	}

	// Names are unique across shards.
	if err := p.Create(tenantdb.WithShard(ctx, "a"), name("b1")); !errors.Is(err, tenantdb.ErrExists) {
		t.Errorf("Create on a of a name b holds: err = %v, want ErrExists", err)
	}
	if err := p.Create(tenantdb.WithShard(ctx, "nope"), name("x")); !errors.Is(err, tenantdb.ErrUnknownShard) {
		t.Errorf("Create on an unknown shard: err = %v, want ErrUnknownShard", err)
	}
	if _, err := p.ShardOf(ctx, name("missing")); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("ShardOf(missing): err = %v, want ErrNotExist", err)
	}

	// A database moved behind the provisioner's back (dropped on a,
	// created on b) is found on b: the remembered shard is only a hint.
	if err := p.Create(tenantdb.WithShard(ctx, "a"), name("moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := pgOpen(t, server["a"]).ExecContext(ctx, `DROP DATABASE `+name("moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := pgOpen(t, server["b"]).ExecContext(ctx, `CREATE DATABASE `+name("moved")); err != nil {
		t.Fatal(err)
	}
	db, err = p.Open(ctx, name("moved"))
	if err != nil {
		t.Fatalf("Open of a moved database: %v", err)
	}
	_ = db.Close()
	if size, err := p.Size(ctx, name("moved")); err != nil || size <= 0 {
		t.Errorf("Size of a moved database = %d, %v", size, err)
	}
	if got, err := p.ShardOf(ctx, name("moved")); err != nil || got != "b" {
		t.Errorf("ShardOf(moved) = %q, %v; want b", got, err)
	}

	// Drop refuses the servers' own databases.
	adminDB := strings.TrimPrefix(mustParseURL(t, shards[0].URL).Path, "/")
	for _, n := range []string{"postgres", "template1", adminDB} {
		if err := p.Drop(ctx, n); err == nil {
			t.Errorf("Drop(%q) succeeded", n)
		}
	}
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNewPostgresDatabaseConfig(t *testing.T) {
	t.Parallel()
	ok := []tenantdb.Shard{{Name: "a", URL: "postgres://u@127.0.0.1:1/db"}}
	tests := []struct {
		name string
		cfg  *pgdriver.Config
		want string // error substring; "" for success
	}{
		{"nil", nil, "Shards are required"},
		{"no shards", &pgdriver.Config{}, "at least one shard"},
		{"bad shard name", &pgdriver.Config{Shards: []tenantdb.Shard{{Name: "A", URL: "postgres://x"}}}, "invalid shard name"},
		{"duplicate shard", &pgdriver.Config{Shards: append(ok, ok[0])}, "listed twice"},
		{"no url", &pgdriver.Config{Shards: []tenantdb.Shard{{Name: "a"}}}, "no URL"},
		{"bad url", &pgdriver.Config{Shards: []tenantdb.Shard{{Name: "a", URL: "postgres://u:secret@h:notaport/db"}}}, "shard \"a\""},
		{"negative conns", &pgdriver.Config{Shards: ok, MaxConnsPerTenant: -1}, "MaxConnsPerTenant"},
		{"negative budget", &pgdriver.Config{Shards: ok, Budget: -1}, "Budget"},
		{"budget too small", &pgdriver.Config{Shards: ok, MaxConnsPerTenant: 4, Budget: 3}, "less than"},
		{"bad template", &pgdriver.Config{Shards: ok, Template: "x; DROP"}, "Template"},
		{"bad strategy", &pgdriver.Config{Shards: ok, Strategy: "fast"}, "Strategy"},
		{"defaults", &pgdriver.Config{Shards: ok}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pgdriver.NewDatabase(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if p.MaxConnsPerTenant() != 2 || p.Budget() != 80 || p.MaxOpenTenants() != 40 {
					t.Errorf("defaults: %d conns, budget %d, %d tenants", p.MaxConnsPerTenant(), p.Budget(), p.MaxOpenTenants())
				}
				if p.Dialect() != "postgres" {
					t.Errorf("Dialect = %q", p.Dialect())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
