package tenantdb

import (
	"context"
	"testing"
)

// A tenant deleted and a new one created with the same database name never
// share a handle: the new tenant's key opens the new database, even while
// the old tenant's handle (on the unlinked file) is still open.
func TestConnManagerKeysSeparateTenantsOfOneName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"acme_db"})
	m := newManager(t, o, nil)

	a, err := m.AcquireKey(ctx, Key{Database: "acme_db", Tenant: "tenant-a", Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB().ExecContext(ctx, `CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('secret of a')`); err != nil {
		t.Fatal(err)
	}
	a.Release()
	// The database is dropped behind the manager's back (another process)
	// and recreated empty for another tenant.
	if err := o.p.Drop(ctx, "acme_db"); err != nil {
		t.Fatal(err)
	}
	createAll(t, o.p, []string{"acme_db"})

	b, err := m.AcquireKey(ctx, Key{Database: "acme_db", Tenant: "tenant-b", Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	var n int
	if err := b.DB().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'notes'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("tenant b was handed tenant a's deleted database")
	}

	// A newer generation of the same tenant also gets a fresh handle.
	a2, err := m.AcquireKey(ctx, Key{Database: "acme_db", Tenant: "tenant-a", Generation: 2})
	if err != nil {
		t.Fatal(err)
	}
	a2.Release()
	if got := o.opens.Load(); got != 3 {
		t.Errorf("opens = %d, want 3 (one per key)", got)
	}
}

// ForgetTenant closes every handle of one tenant and leaves the others.
func TestConnManagerForgetTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newCountingOpener(t)
	createAll(t, o.p, []string{"one", "two"})
	m := newManager(t, o, nil)
	for _, k := range []Key{{Database: "one", Tenant: "t1", Generation: 1}, {Database: "two", Tenant: "t2", Generation: 1}} {
		h, err := m.AcquireKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		h.Release()
	}
	m.ForgetTenant("t1")
	if s := m.Stats(); s.Open != 1 {
		t.Fatalf("open after ForgetTenant = %d, want 1", s.Open)
	}
	m.ForgetTenant("") // no tenant: nothing
	if s := m.Stats(); s.Open != 1 {
		t.Fatalf("open after ForgetTenant(\"\") = %d, want 1", s.Open)
	}
}
