package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/seed"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// fixture is a Manager on a temporary data directory.
type fixture struct {
	mgr   *tenancy.Manager
	cp    *controlplane.ControlPlane
	store tenancy.Store
	prov  *sqlitedriver.Provisioner
	dir   string
}

type fixtureOptions struct {
	migrations string // testdata directory
	wrapStore  func(tenancy.Store) tenancy.Store
	wrapProv   func(tenantdb.Provisioner) tenantdb.Provisioner
	seeders    map[string]seed.Func
	central    []string
}

func newFixture(t *testing.T, fo fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tenancy.Config{Store: st, Provisioner: prov, CentralDomains: fo.central, Audit: st}
	if fo.wrapStore != nil {
		cfg.Store = fo.wrapStore(st)
	}
	if fo.wrapProv != nil {
		cfg.Provisioner = fo.wrapProv(prov)
	}
	if fo.migrations != "" {
		if cfg.Migrations, err = migrate.LoadDir(filepath.Join("testdata", fo.migrations), true); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Seeders = seed.NewRegistry()
	for name, fn := range fo.seeders {
		if err := cfg.Seeders.Register(name, fn); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tenancy.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cp, err := controlplane.New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{mgr: m, cp: cp, store: st, prov: prov, dir: dir}
}

// databaseFiles lists the files in the tenant database directory.
func (f *fixture) databaseFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.dir, "tenants"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (f *fixture) assertEmpty(t *testing.T) {
	t.Helper()
	res, err := f.mgr.List(context.Background(), tenancy.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 0 {
		t.Fatalf("catalog holds %d tenants, want none", res.Total)
	}
	if files := f.databaseFiles(t); len(files) != 0 {
		t.Fatalf("database files left behind: %v", files)
	}
}

func noteCount(t *testing.T, f *fixture, tn *tenancy.Tenant) int {
	t.Helper()
	var n int
	err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		return db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateMigrateSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations", seeders: map[string]seed.Func{
		"notes": func(ctx context.Context, db *sql.DB) error {
			tn, err := tenancy.MustFromContext(ctx)
			if err != nil {
				return err
			}
			_, err = db.ExecContext(ctx, `INSERT INTO notes (body) VALUES (?)`, "hello "+tn.Name)
			return err
		},
	}})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: " Acme Corp ", Domain: "Acme.Example.com:8080", Migrate: true, Seed: true, Notes: "vip"})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Name != "Acme Corp" || tn.Status != tenancy.StatusActive || tn.PrimaryDomain() != "acme.example.com" ||
		!strings.HasPrefix(tn.DatabaseName, "tenant_acme_corp_") || tn.Notes != "vip" {
		t.Fatalf("created %+v", tn)
	}
	if _, err := os.Stat(f.prov.Path(tn.DatabaseName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if n := noteCount(t, f, tn); n != 1 {
		t.Fatalf("seeded notes = %d", n)
	}
	ops, err := f.mgr.OperationStatus(ctx, tenancy.OpMigrate)
	if err != nil || len(ops) != 1 || ops[0].Last == nil || ops[0].Last.Version != 2 || ops[0].Last.State != tenancy.StateSucceeded {
		t.Fatalf("create did not record its migration: %+v %v", ops, err)
	}
	for _, ref := range []string{tn.UUID, "acme.example.com", "ACME.example.com."} {
		got, err := f.mgr.Get(ctx, ref)
		if err != nil || got.ID != tn.ID {
			t.Fatalf("Get(%q) = %v, %v", ref, got, err)
		}
	}
}

// failingStore fails CreateTenant.
type failingStore struct{ tenancy.Store }

func (failingStore) CreateTenant(context.Context, *tenancy.Tenant) error {
	return errors.New("injected store failure")
}

// failingProv fails Create after making the file, like a crash half-way.
type failingProv struct{ tenantdb.Provisioner }

func (p failingProv) Create(ctx context.Context, name string) error {
	if err := p.Provisioner.Create(ctx, name); err != nil {
		return err
	}
	p.Provisioner.Drop(ctx, name)
	return errors.New("injected database failure")
}

func TestCreateIsAllOrNothing(t *testing.T) {
	t.Parallel()
	failSeed := map[string]seed.Func{"boom": func(ctx context.Context, db *sql.DB) error {
		if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('half')`); err != nil {
			return err
		}
		return errors.New("injected seed failure")
	}}
	cases := []struct {
		name string
		fo   fixtureOptions
		req  tenancy.CreateRequest
		hook bool
		want string
	}{
		{name: "creating hook", hook: true, want: "veto"},
		{name: "record", fo: fixtureOptions{wrapStore: func(s tenancy.Store) tenancy.Store { return failingStore{s} }}, want: "injected store failure"},
		{name: "database", fo: fixtureOptions{wrapProv: func(p tenantdb.Provisioner) tenantdb.Provisioner { return failingProv{p} }}, want: "injected database failure"},
		{name: "migrations", fo: fixtureOptions{migrations: "broken"}, req: tenancy.CreateRequest{Migrate: true}, want: "00003_broken.sql"},
		{name: "seed", fo: fixtureOptions{migrations: "migrations", seeders: failSeed}, req: tenancy.CreateRequest{Migrate: true, Seed: true}, want: "injected seed failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.fo)
			if c.hook {
				f.mgr.On(tenancy.EventCreating, func(context.Context, tenancy.Event) error { return errors.New("veto") })
			}
			created := false
			f.mgr.On(tenancy.EventCreated, func(context.Context, tenancy.Event) error { created = true; return nil })
			req := c.req
			req.Name, req.Domain = "Doomed", "doomed.test"
			_, err := f.mgr.Create(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Create error = %v, want one containing %q", err, c.want)
			}
			if created {
				t.Fatal("created hook ran for a failed create")
			}
			f.assertEmpty(t)
			if _, err := f.store.TenantByDomain(context.Background(), "doomed.test"); !errors.Is(err, tenancy.ErrNotFound) {
				t.Fatalf("domain still taken: %v", err)
			}
		})
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	if _, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test", DatabaseName: "tenant_a"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req  tenancy.CreateRequest
		want error
	}{
		{tenancy.CreateRequest{Name: "", Domain: "b.test"}, nil},
		{tenancy.CreateRequest{Name: "   ", Domain: "b.test"}, nil},
		{tenancy.CreateRequest{Name: "B\x00", Domain: "b.test"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "not a domain"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "http://b.test/"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "b.test", Status: "maintenance"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "b.test", DatabaseName: "Robert'); DROP TABLE x;--"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "b.test", DatabaseName: "1abc"}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "b.test", Seed: true, Seeders: []string{"nope"}}, nil},
		{tenancy.CreateRequest{Name: "B", Domain: "A.TEST"}, tenancy.ErrDomainTaken},
		{tenancy.CreateRequest{Name: "B", Domain: "b.test", DatabaseName: "tenant_a"}, tenancy.ErrDatabaseTaken},
	}
	for _, c := range cases {
		_, err := f.mgr.Create(ctx, c.req)
		switch {
		case err == nil:
			t.Errorf("Create(%+v) succeeded", c.req)
		case c.want == nil && !tenancy.IsValidation(err):
			t.Errorf("Create(%+v) = %v, want a validation error", c.req, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("Create(%+v) = %v, want %v", c.req, err, c.want)
		}
	}
	res, _ := f.mgr.List(ctx, tenancy.ListOptions{})
	if res.Total != 1 || len(f.databaseFiles(t)) != 1 {
		t.Fatalf("bad input changed something: %d tenants, files %v", res.Total, f.databaseFiles(t))
	}
	// A database file that exists without a catalog entry is never clobbered.
	if err := f.prov.Create(ctx, "tenant_orphan"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "C", Domain: "c.test", DatabaseName: "tenant_orphan"}); !errors.Is(err, tenancy.ErrDatabaseTaken) {
		t.Fatalf("create over an existing database file: %v", err)
	}
	if ok, _ := f.prov.Exists(ctx, "tenant_orphan"); !ok {
		t.Fatal("the existing database file was removed by the undo")
	}
}

func TestLifecycleHooksAndDomains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	var mu sync.Mutex
	var events []string
	for _, k := range []tenancy.EventKind{tenancy.EventCreating, tenancy.EventCreated, tenancy.EventUpdated,
		tenancy.EventStatusChanged, tenancy.EventDeleting, tenancy.EventDeleted, tenancy.EventDomainAdded, tenancy.EventDomainRemoved} {
		f.mgr.On(k, func(_ context.Context, e tenancy.Event) error {
			mu.Lock()
			defer mu.Unlock()
			s := string(e.Kind)
			if e.Domain != "" {
				s += ":" + e.Domain
			}
			if e.PreviousStatus != "" {
				s += ":" + string(e.PreviousStatus) + "->" + string(e.Tenant.Status)
			}
			events = append(events, s)
			return nil
		})
	}
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if tn, err = f.mgr.ChangeStatus(ctx, "a.test", tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "unpaid"}); err != nil || tn.StatusReason != "unpaid" {
		t.Fatalf("SetStatus: %+v %v", tn, err)
	}
	if _, err := f.mgr.AddDomain(ctx, tn.UUID, tenancy.DomainRequest{Domain: "WWW.A.test", Primary: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.AddDomain(ctx, tn.UUID, tenancy.DomainRequest{Domain: "www.a.test"}); !errors.Is(err, tenancy.ErrDomainTaken) {
		t.Fatalf("duplicate AddDomain: %v", err)
	}
	if got, _ := f.mgr.Get(ctx, "a.test"); got.PrimaryDomain() != "www.a.test" {
		t.Fatalf("primary = %s", got.PrimaryDomain())
	}
	if _, err := f.mgr.SetPrimaryDomain(ctx, "www.a.test", "a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.RemoveDomain(ctx, tn.UUID, "www.a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.RemoveDomain(ctx, tn.UUID, "a.test"); !errors.Is(err, tenancy.ErrLastDomain) {
		t.Fatalf("removing the last domain: %v", err)
	}
	if _, err := f.mgr.RemoveDomain(ctx, tn.UUID, "other.test"); !errors.Is(err, tenancy.ErrDomainNotFound) {
		t.Fatalf("removing a foreign domain: %v", err)
	}
	if tn, err = f.mgr.SetMaintenance(ctx, tn.UUID, true, "back soon"); err != nil || !tn.Maintenance || tn.MaintenanceMessage != "back soon" {
		t.Fatalf("maintenance: %+v %v", tn, err)
	}
	if _, err := f.mgr.Delete(ctx, tn.UUID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tenant.creating", "tenant.created",
		"tenant.updated", "tenant.status_changed:active->suspended",
		"tenant.domain_added:www.a.test",
		"tenant.updated",
		"tenant.domain_removed:www.a.test",
		"tenant.updated",
		"tenant.deleting", "tenant.updated", "tenant.deleted",
	}
	if strings.Join(events, " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v", events, want)
	}
	f.assertEmpty(t)
	if _, err := f.mgr.Get(ctx, tn.UUID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
}

func TestDeleteRemovesDatabaseFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{migrations: "migrations"})
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	noteCount(t, f, tn) // leaves an open handle (and WAL files) in the pool
	if len(f.databaseFiles(t)) == 0 {
		t.Fatal("no database files")
	}
	if _, err := f.mgr.Delete(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	f.assertEmpty(t)
	// Vetoed deletes change nothing.
	tn, _ = f.mgr.Create(ctx, tenancy.CreateRequest{Name: "B", Domain: "b.test"})
	f.mgr.On(tenancy.EventDeleting, func(context.Context, tenancy.Event) error { return errors.New("protected") })
	if _, err := f.mgr.Delete(ctx, "b.test"); err == nil {
		t.Fatal("vetoed delete succeeded")
	}
	if ok, _ := f.prov.Exists(ctx, tn.DatabaseName); !ok {
		t.Fatal("vetoed delete dropped the database")
	}
}

func TestUpdateAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	for _, n := range []string{"b", "a", "c"} {
		if _, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: n, Domain: n + ".test"}); err != nil {
			t.Fatal(err)
		}
	}
	name, notes := "bee", "renamed"
	tn, err := f.mgr.Update(ctx, "b.test", tenancy.UpdateRequest{Name: &name, Notes: &notes})
	if err != nil || tn.Name != "bee" || tn.Notes != "renamed" {
		t.Fatalf("Update: %+v %v", tn, err)
	}
	bad := tenancy.Status("gone")
	if _, err := f.mgr.Update(ctx, "b.test", tenancy.UpdateRequest{Status: &bad}); !tenancy.IsValidation(err) {
		t.Fatalf("bad status: %v", err)
	}
	empty := ""
	if _, err := f.mgr.Update(ctx, "b.test", tenancy.UpdateRequest{Name: &empty}); !tenancy.IsValidation(err) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := f.mgr.Update(ctx, "nobody.test", tenancy.UpdateRequest{Name: &name}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	res, err := f.mgr.List(ctx, tenancy.ListOptions{Sort: "name", PerPage: 2})
	if err != nil || res.Total != 3 || res.LastPage() != 2 || len(res.Tenants) != 2 || res.Tenants[0].Name != "a" {
		t.Fatalf("List: %+v %v", res, err)
	}
	for _, o := range []tenancy.ListOptions{{PerPage: 101}, {PerPage: -1}, {Page: -1}, {Sort: "id; DROP"}, {Status: "nope"}} {
		if _, err := f.mgr.List(ctx, o); !tenancy.IsValidation(err) {
			t.Errorf("List(%+v) = %v, want validation error", o, err)
		}
	}
}

func TestFailClosedWithoutTenant(t *testing.T) {
	t.Parallel()
	if _, err := tenancy.DB(context.Background()); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("DB without tenant: %v", err)
	}
	if _, ok := tenancy.FromContext(context.Background()); ok {
		t.Fatal("FromContext found a tenant in an empty context")
	}
	// A context leaked out of Run no longer reaches the database.
	f := newFixture(t, fixtureOptions{})
	tn, err := f.mgr.Create(context.Background(), tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	var leaked context.Context
	f.mgr.Run(context.Background(), tn, func(ctx context.Context) error { leaked = ctx; return nil })
	if _, err := tenancy.DB(leaked); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("DB after Run returned: %v", err)
	}
	if st := f.mgr.Databases().Stats(); st.InUse != 0 {
		t.Fatalf("handles in use after Run: %d", st.InUse)
	}
}
