package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// lockedBy asserts that err is a *LockedError naming holder.
func lockedBy(t *testing.T, err error, tenantUUID, holder string) {
	t.Helper()
	var le *model.LockedError
	if !errors.As(err, &le) || !errors.Is(err, model.ErrLocked) || le.Holder != holder || le.Tenant != tenantUUID {
		t.Fatalf("got %v, want the lock of %s held by %s", err, tenantUUID, holder)
	}
}

func TestTenantLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	a, b := openStore(t, url), openStore(t, url) // two processes
	tenant := uuid.NewString()
	if err := a.TryLockTenant(ctx, tenant, "host-a:1:migrate-x", time.Second); err != nil {
		t.Fatal(err)
	}
	// The same holder locking again keeps its lock; another holder, in
	// this process or another, is told who holds it.
	if err := a.TryLockTenant(ctx, tenant, "host-a:1:migrate-x", time.Second); err != nil {
		t.Fatalf("same holder again: %v", err)
	}
	lockedBy(t, b.TryLockTenant(ctx, tenant, "host-b:2:seed-y", time.Second), tenant, "host-a:1:migrate-x")
	lockedBy(t, a.TryLockTenant(ctx, tenant, "host-a:1:seed-z", time.Second), tenant, "host-a:1:migrate-x")
	// Other tenants' locks are independent.
	if err := b.TryLockTenant(ctx, uuid.NewString(), "host-b:2:seed-y", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.RenewTenantLock(ctx, tenant, "host-a:1:migrate-x", time.Second); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := b.RenewTenantLock(ctx, tenant, "host-b:2:seed-y", time.Second); !errors.Is(err, model.ErrLockLost) {
		t.Fatalf("renew by a non-holder: %v", err)
	}
	// Releasing a lock one does not hold changes nothing.
	if err := b.UnlockTenant(ctx, tenant, "host-a:1:migrate-x"); err != nil {
		t.Fatal(err)
	}
	if err := b.UnlockTenant(ctx, tenant, "host-b:2:seed-y"); err != nil {
		t.Fatal(err)
	}
	lockedBy(t, b.TryLockTenant(ctx, tenant, "host-b:2:seed-y", time.Second), tenant, "host-a:1:migrate-x")

	if err := a.UnlockTenant(ctx, tenant, "host-a:1:migrate-x"); err != nil {
		t.Fatal(err)
	}
	if err := a.RenewTenantLock(ctx, tenant, "host-a:1:migrate-x", time.Second); !errors.Is(err, model.ErrLockLost) {
		t.Fatalf("renew after unlock: %v", err)
	}
	if err := b.TryLockTenant(ctx, tenant, "host-b:2:seed-y", time.Second); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	// Closing a store releases its locks: it closes their sessions, which
	// the server ends in its own time (Close does not wait for it), so
	// until then the lock is still b's.
	b.Close()
	testwait.Eventually(t, "the lock to be free after the holder's store closed", func() bool {
		err := a.TryLockTenant(ctx, tenant, "host-a:1:migrate-x", time.Second)
		if err != nil {
			lockedBy(t, err, tenant, "host-b:2:seed-y")
		}
		return err == nil
	})
	// Held locks take no connection from the pool.
	if st := a.Pool().Stat(); st.AcquiredConns() != 0 {
		t.Fatalf("%d pool connections acquired while only locks are held", st.AcquiredConns())
	}
}

func TestTenantLockLongHolderName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	a, b := openStore(t, url), openStore(t, url)
	tenant := uuid.NewString()
	// The holder is named as application_name keeps it: printable ASCII,
	// 63 bytes at most.
	holder := strings.Repeat("h", 60) + "é:42:migrate"
	if err := a.TryLockTenant(ctx, tenant, holder, time.Second); err != nil {
		t.Fatal(err)
	}
	lockedBy(t, b.TryLockTenant(ctx, tenant, "other", time.Second), tenant, strings.Repeat("h", 60)+"?:4")
	if err := a.RenewTenantLock(ctx, tenant, holder, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTenantLockOfDeadHolderIsFree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	a, b := openStore(t, url), openStore(t, url)
	tenant := uuid.NewString()
	const holder = "host-a:1:migrate-dead"
	if err := a.TryLockTenant(ctx, tenant, holder, time.Second); err != nil {
		t.Fatal(err)
	}
	// The holder's process dies: its session ends without unlocking.
	var terminated bool
	if err := b.Pool().QueryRow(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, holder).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate the holder's session: %v, %v", terminated, err)
	}
	// The server ends the session in its own time.
	testwait.Eventually(t, "the lock of the terminated session to be free", func() bool {
		err := b.TryLockTenant(ctx, tenant, "host-b:2:migrate", time.Second)
		if err != nil {
			lockedBy(t, err, tenant, holder)
		}
		return err == nil
	})
	if err := a.RenewTenantLock(ctx, tenant, holder, time.Second); !errors.Is(err, model.ErrLockLost) {
		t.Fatalf("renew by the terminated holder: %v", err)
	}
	lockedBy(t, a.TryLockTenant(ctx, tenant, holder, time.Second), tenant, "host-b:2:migrate")
}

func TestConcurrentRemoveDomainKeepsOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	a, b := openStore(t, url), openStore(t, url)
	for round := range 30 {
		tn := storetest.NewTenant(fmt.Sprint("R", round), fmt.Sprintf("one.r%d.test", round))
		tn.Domains = append(tn.Domains, model.Domain{Domain: fmt.Sprintf("two.r%d.test", round)})
		if err := a.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  [2]error
		)
		for i, s := range []*pgstore.Store{a, b} {
			wg.Go(func() {
				<-start
				errs[i] = s.RemoveDomain(ctx, tn.ID, tn.Domains[i].Domain)
			})
		}
		close(start)
		wg.Wait()
		ok, last := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, model.ErrLastDomain):
				last++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || last != 1 {
			t.Fatalf("round %d: %d removals succeeded, %d refused; want 1 and 1", round, ok, last)
		}
		got, err := a.TenantByUUID(ctx, tn.UUID)
		if err != nil || len(got.Domains) != 1 || !got.Domains[0].IsPrimary {
			t.Fatalf("round %d: %+v, %v", round, got, err)
		}
	}
	if err := a.RemoveDomain(ctx, 1<<40, "x.test"); !errors.Is(err, model.ErrDomainNotFound) {
		t.Fatalf("remove a domain of a missing tenant: %v", err)
	}
}
