package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/tenantdb"
)

func TestStmtWithoutTenant(t *testing.T) {
	if _, err := tenancy.Stmt(context.Background(), "SELECT 1"); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("Stmt without a tenant: %v, want ErrNoTenant", err)
	}
}

func TestStmtIsPreparedOncePerOpenDatabase(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	a, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "B", Domain: "b.test"})
	if err != nil {
		t.Fatal(err)
	}
	const q = "SELECT 41 + 1"
	stmtOf := func(tn *tenancy.Tenant) *sql.Stmt {
		t.Helper()
		var st *sql.Stmt
		err := f.mgr.Run(ctx, tn, func(ctx context.Context) error {
			var err error
			if st, err = tenancy.Stmt(ctx, q); err != nil {
				return err
			}
			var n int
			if err := st.QueryRowContext(ctx).Scan(&n); err != nil || n != 42 {
				return fmt.Errorf("query gave %d, %v", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := stmtOf(a)
	if again := stmtOf(a); again != first {
		t.Fatal("a second request prepared the statement again")
	}
	if other := stmtOf(b); other == first {
		t.Fatal("two tenants share one prepared statement")
	}
	// Closing the database closes its statements; the next request prepares anew.
	if n := f.mgr.Databases().CloseUnused(); n != 2 {
		t.Fatalf("CloseUnused closed %d handles, want 2", n)
	}
	if _, err := first.QueryContext(ctx); err == nil {
		t.Fatal("the statement of a closed database still runs")
	}
	if fresh := stmtOf(a); fresh == first {
		t.Fatal("a reopened database reused a closed statement")
	}
}

func TestStmtBeyondTheHandleLimitIsClosedWithTheScope(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	var extra *sql.Stmt
	err = f.mgr.Run(ctx, tn, func(ctx context.Context) error {
		for i := range tenantdb.MaxStmts + 1 {
			st, err := tenancy.Stmt(ctx, fmt.Sprintf("SELECT %d", i))
			if err != nil {
				return err
			}
			var n int
			if err := st.QueryRowContext(ctx).Scan(&n); err != nil || n != i {
				return fmt.Errorf("statement %d gave %d, %v", i, n, err)
			}
			extra = st
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extra.QueryContext(ctx); err == nil {
		t.Fatal("a statement beyond the handle's limit outlived its scope")
	}
}
