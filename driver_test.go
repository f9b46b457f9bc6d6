package tenancy_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/migrate"
)

func TestMigrationsFSRefusesToFindNothing(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"migrations/00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (x INT);\n")},
		"empty/README":           {Data: []byte("nothing here")},
	}
	if set := tenancy.MigrationsFS(fsys, "migrations"); set.Err() != nil || set.Len() != 1 {
		t.Fatalf("migrations: len %d, err %v", set.Len(), set.Err())
	}
	for _, dir := range []string{"empty", "missing", "../up"} {
		set := tenancy.MigrationsFS(fsys, dir)
		if set.Err() == nil || !strings.Contains(set.Err().Error(), dir) {
			t.Errorf("MigrationsFS(%q) = %v, want an error naming the directory", dir, set.Err())
		}
		_, err := tenancy.New(context.Background(), sqlitedriver.Open(t.TempDir()), &tenancy.Config{Migrations: set})
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("New with MigrationsFS(%q) = %v, want the load error", dir, err)
		}
	}
	// Loading the embed root itself, whose only entry is the directory, is
	// an error rather than an empty set.
	if _, err := migrate.Load(fsys); err == nil || !strings.Contains(err.Error(), "migrations") {
		t.Fatalf("Load(embed root) = %v, want an error naming the directory", err)
	}
}

func TestNewTakesStoreAndProvisionerFromTheDriver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := tenancy.New(ctx, nil, nil); err == nil {
		t.Fatal("nil driver accepted")
	}
	f := newFixture(t, fixtureOptions{})
	if _, err := tenancy.New(ctx, sqlitedriver.Open(t.TempDir()), &tenancy.Config{Store: f.store}); err == nil {
		t.Fatal("Config.Store accepted beside a driver")
	}
}

func TestEnsureTenantIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir() + "/a/b/data" // created on Connect
	mgr, err := tenancy.New(ctx, sqlitedriver.Open(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	var created atomic.Int32
	unsubscribe := mgr.On(tenancy.EventCreated, func(context.Context, tenancy.Event) error { created.Add(1); return nil })
	req := tenancy.CreateRequest{Name: "Acme", Domain: "Acme.Example.com"}
	first, err := mgr.EnsureTenant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := mgr.EnsureTenant(ctx, req)
	if err != nil || again.UUID != first.UUID {
		t.Fatalf("second EnsureTenant = %+v, %v; want %s", again, err, first.UUID)
	}
	if n := created.Load(); n != 1 {
		t.Fatalf("%d created events, want 1", n)
	}
	unsubscribe()
	if _, err := mgr.EnsureTenant(ctx, tenancy.CreateRequest{Name: "Bolt", Domain: "bolt.example.com"}); err != nil {
		t.Fatal(err)
	}
	if n := created.Load(); n != 1 {
		t.Fatalf("the unsubscribed hook ran: %d created events", n)
	}
}

// TestManagerClockTimesOperations runs a migration on a clock that moves a
// second at each reading: the outcome lasts exactly one second.
func TestManagerClockTimesOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ticks atomic.Int64
	now := func() time.Time { return time.Unix(1_700_000_000+ticks.Add(1), 0) }
	mgr, err := tenancy.New(ctx, sqlitedriver.Open(t.TempDir()), &tenancy.Config{
		Now:        now,
		Migrations: tenancy.MigrationsFS(embeddedFS, "testdata/embedded/migrations"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := mgr.Migrate(ctx, tn, tenancy.MigrateOptions{})
	if err != nil || o.Applied != 1 {
		t.Fatalf("Migrate = %+v, %v", o, err)
	}
	if o.Duration != time.Second {
		t.Fatalf("Duration = %s, want 1s on the injected clock", o.Duration)
	}
}
