package tenantdbtest

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/tenantdb"
)

// Options supplies the engine-specific parts of the suite. A nil *Options,
// or a nil field, skips the checks that need them.
type Options struct {
	// CountObjects returns the number of user-visible schema objects
	// (tables, views, triggers, indexes, sequences...) in db, excluding the
	// engine's own bookkeeping. The suite asserts it is 0 after Wipe. When
	// nil, the suite instead checks portably that the tables it made are
	// gone.
	CountObjects func(ctx context.Context, db *sql.DB) (int, error)
	// Inventory lists everything the provisioner's storage holds that could
	// belong to a tenant database (for SQLite the entries of its directory;
	// for a server the databases or schemas it may have made), in any order.
	// It must see only what the given provisioner made, e.g. a directory of
	// its own or a name prefix reserved for the test. The suite asserts that
	// calls with invalid names change nothing and that Drop leaves no trace.
	Inventory func(ctx context.Context, p tenantdb.Provisioner) ([]string, error)
	// Timeout bounds each subtest; default 1 minute.
	Timeout time.Duration
	// DDL, when not nil, runs the suite's schema statements (CREATE TABLE,
	// CREATE INDEX, CREATE VIEW) for the named database instead of the
	// suite executing them through the database's handle. It is for
	// provisioners whose tenants share tables that the application's role
	// may not change (postgres-rls), where the owner makes them in a
	// migration. It must be idempotent: the suite makes the same table for
	// several databases, and again after Drop and Wipe.
	DDL func(ctx context.Context, p tenantdb.Provisioner, name, stmt string) error
	// SharedSchema says that Wipe removes the database's rows but leaves
	// the tables, views and indexes, which other tenants share
	// (postgres-rls). The Wipe test then checks that the database's tables
	// and views are empty instead of gone, and CountObjects is only
	// checked before Wipe.
	SharedSchema bool
}

// Run runs the conformance suite against provisioners made by
// newProvisioner, which is called once per subtest and should register any
// cleanup with t.Cleanup. Subtests run sequentially (a shared server's
// Inventory stays meaningful); callers may call t.Parallel before Run. Every
// database the suite creates is named by tenantdb.GenerateName and dropped
// at the end of its subtest.
func Run(t *testing.T, newProvisioner func(t *testing.T) tenantdb.Provisioner, opts *Options) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	s := &suite{newProvisioner: newProvisioner, opts: o}
	tests := []struct {
		name string
		fn   func(t *testing.T, p tenantdb.Provisioner, ctx context.Context)
	}{
		{"Dialect", s.testDialect},
		{"Lifecycle", s.testLifecycle},
		{"CreateTwice", s.testCreateTwice},
		{"CreateConcurrent", s.testCreateConcurrent},
		{"OpenMissing", s.testOpenMissing},
		{"DropMissing", s.testDropMissing},
		{"SizeMissing", s.testSizeMissing},
		{"InvalidNames", s.testInvalidNames},
		{"DropWhileOpen", s.testDropWhileOpen},
		{"Wipe", s.testWipe},
		{"Isolation", s.testIsolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := s.newProvisioner(t)
			if p == nil {
				t.Fatal("newProvisioner returned nil")
			}
			ctx, cancel := context.WithTimeout(t.Context(), o.Timeout)
			defer cancel()
			tc.fn(t, p, ctx)
		})
	}
}

type suite struct {
	newProvisioner func(t *testing.T) tenantdb.Provisioner
	opts           Options
}

// newName returns a fresh valid name that is dropped when the test ends.
func (s *suite) newName(t *testing.T, p tenantdb.Provisioner) string {
	t.Helper()
	name := tenantdb.GenerateName("conformance")
	if err := tenantdb.ValidateName(name); err != nil {
		t.Fatalf("GenerateName gave an invalid name: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Drop(context.Background(), name); err != nil {
			t.Errorf("cleanup: Drop(%q): %v", name, err)
		}
	})
	return name
}

// create makes a new database and returns its name.
func (s *suite) create(t *testing.T, p tenantdb.Provisioner, ctx context.Context) string {
	t.Helper()
	name := s.newName(t, p)
	if err := p.Create(ctx, name); err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return name
}

// open opens name and closes the handle when the test ends.
func open(t *testing.T, p tenantdb.Provisioner, ctx context.Context, name string) *sql.DB {
	t.Helper()
	db, err := p.Open(ctx, name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	if db == nil {
		t.Fatalf("Open(%q) returned a nil *sql.DB", name)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func exec(t *testing.T, ctx context.Context, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// ddl runs a schema statement for the database name: through
// Options.DDL when set, else through db.
func (s *suite) ddl(t *testing.T, p tenantdb.Provisioner, ctx context.Context, db *sql.DB, name, stmt string) {
	t.Helper()
	if s.opts.DDL == nil {
		exec(t, ctx, db, stmt)
		return
	}
	if err := s.opts.DDL(ctx, p, name, stmt); err != nil {
		t.Fatalf("DDL for %s: %s: %v", name, stmt, err)
	}
}

func count(t *testing.T, ctx context.Context, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("SELECT count(*) FROM %s: %v", table, err)
	}
	return n
}

func exists(t *testing.T, p tenantdb.Provisioner, ctx context.Context, name string) bool {
	t.Helper()
	ok, err := p.Exists(ctx, name)
	if err != nil {
		t.Fatalf("Exists(%q): %v", name, err)
	}
	return ok
}

// inventory returns the sorted inventory, or nil when Options.Inventory is nil.
func (s *suite) inventory(t *testing.T, p tenantdb.Provisioner, ctx context.Context) []string {
	t.Helper()
	if s.opts.Inventory == nil {
		return nil
	}
	inv, err := s.opts.Inventory(ctx, p)
	if err != nil {
		t.Fatalf("Inventory: %v", err)
	}
	inv = slices.Clone(inv)
	slices.Sort(inv)
	return inv
}

func (s *suite) checkInventory(t *testing.T, p tenantdb.Provisioner, ctx context.Context, want []string, when string) {
	t.Helper()
	if s.opts.Inventory == nil {
		return
	}
	if got := s.inventory(t, p, ctx); !slices.Equal(got, want) {
		t.Errorf("%s: storage holds %q, want %q", when, got, want)
	}
}

func (s *suite) testDialect(t *testing.T, p tenantdb.Provisioner, _ context.Context) {
	switch d := p.Dialect(); d {
	case "sqlite3", "postgres", "mysql":
	default:
		t.Errorf("Dialect() = %q, want a goose dialect name (sqlite3, postgres, mysql)", d)
	}
}

// testLifecycle: create, exists, open, write, read, size, drop.
func (s *suite) testLifecycle(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	before := s.inventory(t, p, ctx)
	name := s.newName(t, p)
	if exists(t, p, ctx, name) {
		t.Fatalf("Exists(%q) = true before Create", name)
	}
	if err := p.Create(ctx, name); err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if !exists(t, p, ctx, name) {
		t.Fatalf("Exists(%q) = false after Create", name)
	}

	db := open(t, p, ctx, name)
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	for i := 1; i <= 3; i++ {
		exec(t, ctx, db, "INSERT INTO t (id, v) VALUES ("+strconv.Itoa(i)+", 'x')")
	}
	if n := count(t, ctx, db, "t"); n != 3 {
		t.Fatalf("count = %d, want 3", n)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The data survives a reopen.
	db2 := open(t, p, ctx, name)
	if n := count(t, ctx, db2, "t"); n != 3 {
		t.Fatalf("count after reopen = %d, want 3", n)
	}
	size, err := p.Size(ctx, name)
	if err != nil {
		t.Fatalf("Size(%q): %v", name, err)
	}
	if size <= 0 {
		t.Errorf("Size(%q) = %d, want > 0", name, size)
	}
	if err := db2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if err := p.Drop(ctx, name); err != nil {
		t.Fatalf("Drop(%q): %v", name, err)
	}
	if exists(t, p, ctx, name) {
		t.Errorf("Exists(%q) = true after Drop", name)
	}
	if _, err := p.Open(ctx, name); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("Open after Drop: err = %v, want ErrNotExist", err)
	}
	s.checkInventory(t, p, ctx, before, "after Drop")

	// The name is free again and the new database starts empty.
	if err := p.Create(ctx, name); err != nil {
		t.Fatalf("Create(%q) after Drop: %v", name, err)
	}
	db3 := open(t, p, ctx, name)
	s.ddl(t, p, ctx, db3, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	if n := count(t, ctx, db3, "t"); n != 0 {
		t.Errorf("count in re-created database = %d, want 0", n)
	}
}

func (s *suite) testCreateTwice(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	name := s.create(t, p, ctx)
	db := open(t, p, ctx, name)
	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	exec(t, ctx, db, "INSERT INTO t (id, v) VALUES (1, 'keep')")

	if err := p.Create(ctx, name); !errors.Is(err, tenantdb.ErrExists) {
		t.Fatalf("second Create(%q): err = %v, want ErrExists", name, err)
	}
	// Never clobbered.
	if n := count(t, ctx, db, "t"); n != 1 {
		t.Errorf("count after second Create = %d, want 1", n)
	}
	db2 := open(t, p, ctx, name)
	if n := count(t, ctx, db2, "t"); n != 1 {
		t.Errorf("count in a new handle after second Create = %d, want 1", n)
	}
}

func (s *suite) testCreateConcurrent(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	name := s.newName(t, p)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = p.Create(ctx, name) })
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, tenantdb.ErrExists):
		default:
			t.Errorf("concurrent Create(%q): %v", name, err)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d concurrent Creates succeeded, want exactly 1", created, n)
	}
	db := open(t, p, ctx, name)
	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
}

func (s *suite) testOpenMissing(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	before := s.inventory(t, p, ctx)
	name := s.newName(t, p)
	db, err := p.Open(ctx, name)
	if !errors.Is(err, tenantdb.ErrNotExist) {
		if db != nil {
			_ = db.Close()
		}
		t.Fatalf("Open(missing %q): err = %v, want ErrNotExist", name, err)
	}
	if db != nil {
		t.Errorf("Open(missing) returned a non-nil *sql.DB with its error")
	}
	if exists(t, p, ctx, name) {
		t.Errorf("Open(missing %q) created it", name)
	}
	s.checkInventory(t, p, ctx, before, "after Open of a missing database")
}

func (s *suite) testDropMissing(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	name := s.newName(t, p)
	if err := p.Drop(ctx, name); err != nil {
		t.Errorf("Drop(missing %q) = %v, want nil", name, err)
	}
	// Twice in a row, after a real one.
	name2 := s.create(t, p, ctx)
	for i := range 2 {
		if err := p.Drop(ctx, name2); err != nil {
			t.Errorf("Drop #%d(%q) = %v, want nil", i+1, name2, err)
		}
	}
}

func (s *suite) testSizeMissing(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	name := s.newName(t, p)
	if _, err := p.Size(ctx, name); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("Size(missing %q): err = %v, want ErrNotExist", name, err)
	}
}

// invalidNames are rejected by ValidateName; several would escape a
// directory or inject SQL if they reached a path or a statement.
var invalidNames = []string{
	"",
	"Tenant",
	"1tenant",
	"_tenant",
	"tenant-1",
	"tenant.db",
	"../escape",
	"a/b",
	`a\b`,
	"a b",
	`t"; DROP TABLE x; --`,
	"t'x",
	"t\x00x",
	"ténant",
	"a23456789012345678901234567890123456789012345678901234567890123x", // 64 bytes
}

func (s *suite) testInvalidNames(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	before := s.inventory(t, p, ctx)
	for _, name := range invalidNames {
		if tenantdb.ValidateName(name) == nil {
			t.Fatalf("suite bug: %q is valid", name)
		}
		if err := p.Create(ctx, name); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Create(%q): err = %v, want ErrInvalidName", name, err)
		}
		if _, err := p.Exists(ctx, name); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Exists(%q): err = %v, want ErrInvalidName", name, err)
		}
		db, err := p.Open(ctx, name)
		if !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Open(%q): err = %v, want ErrInvalidName", name, err)
		}
		if db != nil {
			_ = db.Close()
			t.Errorf("Open(%q) returned a handle", name)
		}
		if _, err := p.Size(ctx, name); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Size(%q): err = %v, want ErrInvalidName", name, err)
		}
		if err := p.Drop(ctx, name); !errors.Is(err, tenantdb.ErrInvalidName) {
			t.Errorf("Drop(%q): err = %v, want ErrInvalidName", name, err)
		}
	}
	s.checkInventory(t, p, ctx, before, "after calls with invalid names")
}

// testDropWhileOpen: Drop succeeds while a handle is open, and the database
// is gone for good, also once the handle is closed.
func (s *suite) testDropWhileOpen(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	before := s.inventory(t, p, ctx)
	name := s.create(t, p, ctx)
	db, err := p.Open(ctx, name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	exec(t, ctx, db, "INSERT INTO t (id, v) VALUES (1, 'x')")

	if err := p.Drop(ctx, name); err != nil {
		_ = db.Close()
		t.Fatalf("Drop(%q) with an open handle: %v", name, err)
	}
	if exists(t, p, ctx, name) {
		t.Errorf("Exists(%q) = true after Drop", name)
	}
	// What the stale handle does is engine-specific; it must not bring the
	// database back.
	_, _ = db.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (2, 'y')")
	_ = db.Close()
	if exists(t, p, ctx, name) {
		t.Errorf("Exists(%q) = true after the stale handle was used and closed", name)
	}
	if _, err := p.Open(ctx, name); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("Open after Drop: err = %v, want ErrNotExist", err)
	}
	s.checkInventory(t, p, ctx, before, "after Drop with an open handle")

	// A database created under the same name afterwards is new and empty.
	if err := p.Create(ctx, name); err != nil {
		t.Fatalf("Create(%q) after Drop: %v", name, err)
	}
	db2 := open(t, p, ctx, name)
	s.ddl(t, p, ctx, db2, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	if n := count(t, ctx, db2, "t"); n != 0 {
		t.Errorf("count in re-created database = %d, want 0", n)
	}
}

func (s *suite) testWipe(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	name := s.create(t, p, ctx)
	db := open(t, p, ctx, name)

	// An empty database wipes fine.
	if err := p.Wipe(ctx, db); err != nil {
		t.Fatalf("Wipe(empty): %v", err)
	}

	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	s.ddl(t, p, ctx, db, name, "CREATE TABLE child (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id))")
	s.ddl(t, p, ctx, db, name, "CREATE INDEX child_t_id ON child (t_id)")
	s.ddl(t, p, ctx, db, name, "CREATE VIEW t_view AS SELECT id, v FROM t")
	exec(t, ctx, db, "INSERT INTO t (id, v) VALUES (1, 'x')")
	exec(t, ctx, db, "INSERT INTO child (id, t_id) VALUES (1, 1)")
	if s.opts.CountObjects != nil {
		n, err := s.opts.CountObjects(ctx, db)
		if err != nil {
			t.Fatalf("CountObjects: %v", err)
		}
		if n < 4 {
			t.Errorf("CountObjects before Wipe = %d, want at least 4 (2 tables, an index, a view)", n)
		}
	}

	// In a shared schema, another tenant's rows must survive the Wipe.
	var other string
	var otherDB *sql.DB
	if s.opts.SharedSchema {
		other = s.create(t, p, ctx)
		otherDB = open(t, p, ctx, other)
		s.ddl(t, p, ctx, otherDB, other, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
		exec(t, ctx, otherDB, "INSERT INTO t (id, v) VALUES (2, 'other')")
	}

	if err := p.Wipe(ctx, db); err != nil {
		t.Fatalf("Wipe: %v", err)
	}

	if s.opts.SharedSchema {
		for _, obj := range []string{"t", "child", "t_view"} {
			if n := count(t, ctx, db, obj); n != 0 {
				t.Errorf("%s has %d rows of the wiped database, want 0", obj, n)
			}
		}
		if n := count(t, ctx, otherDB, "t"); n != 1 {
			t.Errorf("Wipe of %q left %d rows of %q in t, want 1", name, n, other)
		}
	} else if s.opts.CountObjects != nil {
		n, err := s.opts.CountObjects(ctx, db)
		if err != nil {
			t.Fatalf("CountObjects: %v", err)
		}
		if n != 0 {
			t.Errorf("CountObjects after Wipe = %d, want 0", n)
		}
	}
	for _, obj := range []string{"t", "child", "t_view"} {
		if s.opts.SharedSchema {
			break
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+obj).Scan(&n); err == nil {
			t.Errorf("%s still queryable after Wipe", obj)
		}
	}
	// The same objects can be made again, and the handle works on.
	s.ddl(t, p, ctx, db, name, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	s.ddl(t, p, ctx, db, name, "CREATE TABLE child (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id))")
	s.ddl(t, p, ctx, db, name, "CREATE INDEX child_t_id ON child (t_id)")
	s.ddl(t, p, ctx, db, name, "CREATE VIEW t_view AS SELECT id, v FROM t")
	exec(t, ctx, db, "INSERT INTO t (id, v) VALUES (1, 'x')")
	if n := count(t, ctx, db, "t"); n != 1 {
		t.Errorf("count after Wipe and re-create = %d, want 1", n)
	}
	if !exists(t, p, ctx, name) {
		t.Errorf("Exists(%q) = false after Wipe", name)
	}
}

// testIsolation: two tenant databases do not see each other's data.
func (s *suite) testIsolation(t *testing.T, p tenantdb.Provisioner, ctx context.Context) {
	a := s.create(t, p, ctx)
	b := s.create(t, p, ctx)
	dbA := open(t, p, ctx, a)
	dbB := open(t, p, ctx, b)
	s.ddl(t, p, ctx, dbA, a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	exec(t, ctx, dbA, "INSERT INTO t (id, v) VALUES (1, 'a')")
	s.ddl(t, p, ctx, dbB, b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	if n := count(t, ctx, dbB, "t"); n != 0 {
		t.Errorf("database %q sees %d rows written to %q", b, n, a)
	}
	if err := p.Drop(ctx, b); err != nil {
		t.Fatalf("Drop(%q): %v", b, err)
	}
	if !exists(t, p, ctx, a) {
		t.Errorf("Drop(%q) removed %q", b, a)
	}
	if n := count(t, ctx, dbA, "t"); n != 1 {
		t.Errorf("count in %q after dropping %q = %d, want 1", a, b, n)
	}
}
