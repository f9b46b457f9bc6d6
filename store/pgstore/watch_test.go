package pgstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watch runs s.Watch in the background, counting calls of onChange; the
// returned channel receives Watch's result.
func watch(ctx context.Context, s *pgstore.Store, interval time.Duration, calls *atomic.Int64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, interval, func() { calls.Add(1) }) }()
	return done
}

// result waits for Watch to return.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return")
		return nil
	}
}

func TestWatchSeesOtherNodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	watched := openStore(t, url)
	other := openStore(t, url) // stands for another node

	var calls atomic.Int64
	// A short interval: keepalive pings run between notifications.
	done := watch(ctx, watched, 20*time.Millisecond, &calls)
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })

	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a tenant created by another node", time.Second, func() bool { return calls.Load() > 1 })

	before := calls.Load()
	tn.Status = model.StatusBlocked
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a status change by another node", time.Second, func() bool { return calls.Load() > before })

	// A commit through the watched store's own pool is seen too.
	before = calls.Load()
	if err := watched.SetPrimaryDomain(ctx, tn.ID, "other.test"); err != nil {
		t.Fatal(err)
	}
	if err := watched.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "www.other.test", IsPrimary: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a domain added by the same store", time.Second, func() bool { return calls.Load() > before })

	// Routine writes (last access, operation records, API keys, audit) do
	// not notify: only the domain removed after them is reported, once.
	time.Sleep(50 * time.Millisecond)
	before = calls.Load()
	if err := other.TouchTenants(ctx, map[int64]time.Time{tn.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordOperation(ctx, model.OperationRecord{TenantID: tn.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordAudit(ctx, &model.AuditEntry{Actor: "cli", Action: "tenant.touch", Outcome: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	// Saving a tenant unchanged is no change either.
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := other.RemoveDomain(ctx, tn.ID, "other.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the domain removal", time.Second, func() bool { return calls.Load() > before })
	time.Sleep(200 * time.Millisecond)
	if got := calls.Load(); got != before+1 {
		t.Fatalf("onChange called %d times for one relevant commit among routine ones", got-before)
	}

	// Deleting the tenant is a change.
	before = calls.Load()
	if err := other.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", time.Second, func() bool { return calls.Load() > before })

	cancel()
	if err := result(t, done); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}

func TestWatchFoldsBursts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	var calls atomic.Int64
	done := watch(ctx, s, time.Hour, &calls)
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })
	// Twenty tenants in one transaction: twenty notifications (one uuid
	// each) arrive together at commit and make one call.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		tn := storetest.NewTenant("Burst", "burst"+string(rune('a'+i))+".test")
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (uuid, name, status, database_name, created_at, updated_at)
			VALUES ($1, $2, 'active', $3, now(), now())`, tn.UUID, tn.Name, tn.DatabaseName); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the burst", time.Second, func() bool { return calls.Load() > 1 })
	time.Sleep(100 * time.Millisecond)
	if got := calls.Load(); got != 2 {
		t.Fatalf("onChange called %d times for one burst, want 1", got-1)
	}
	cancel()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestWatchNotificationPayload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgstore.Channel); err != nil {
		t.Fatal(err)
	}
	tn := storetest.NewTenant("A", "a.test")
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != pgstore.Channel || n.Payload != tn.UUID {
		t.Fatalf("notification %q on %q, want the tenant's uuid %q", n.Payload, n.Channel, tn.UUID)
	}
}

func TestWatchFailsWhenItsConnectionIsKilled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	var calls atomic.Int64
	// No keepalive ping during the test: the connection's last query stays
	// the LISTEN, which is how the test finds it.
	done := watch(ctx, s, time.Hour, &calls)
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })

	var killed bool
	err := s.Pool().QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = 'LISTEN `+pgstore.Channel+`'`).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate the listening connection: %v, %v", killed, err)
	}
	err = result(t, done)
	if err == nil {
		t.Fatal("Watch returned nil after its connection was killed")
	}
	t.Logf("Watch returned: %v", err)

	// Restarted, it calls onChange at once (the caller reloads) and
	// listens again.
	before := calls.Load()
	done = watch(ctx, s, time.Hour, &calls)
	waitFor(t, "the call on restart", 5*time.Second, func() bool { return calls.Load() == before+1 })
	if err := s.CreateTenant(ctx, storetest.NewTenant("A", "a.test")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a change after the restart", time.Second, func() bool { return calls.Load() == before+2 })
	cancel()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestWatchStopsOnClose(t *testing.T) {
	t.Parallel()
	s, err := pgstore.Open(context.Background(), &pgstore.Config{URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	done := watch(context.Background(), s, time.Hour, &calls)
	waitFor(t, "the initial call", 5*time.Second, func() bool { return calls.Load() == 1 })
	s.Close()
	if err := result(t, done); !errors.Is(err, pgstore.ErrClosed) {
		t.Fatalf("Watch returned %v after Close, want ErrClosed", err)
	}
	if err := s.Watch(context.Background(), time.Second, func() {}); !errors.Is(err, pgstore.ErrClosed) {
		t.Fatalf("Watch on a closed store: %v, want ErrClosed", err)
	}
}

func TestWatchRejectsBadArguments(t *testing.T) {
	t.Parallel()
	s := openStore(t, testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)))
	ctx := context.Background()
	if err := s.Watch(ctx, 0, func() {}); err == nil {
		t.Error("Watch with a zero interval succeeded")
	}
	if err := s.Watch(ctx, time.Second, nil); err == nil {
		t.Error("Watch without onChange succeeded")
	}
}

func TestWatchNotifiesLifecycleChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgstore.Channel); err != nil {
		t.Fatal(err)
	}
	tn := storetest.NewTenant("A", "a.test")
	tn.Status = model.StatusProvisioning
	// Each change commits on its own and sends one notification with the
	// tenant's uuid.
	steps := []struct {
		what   string
		change func() error
	}{
		{"create", func() error { return s.CreateTenant(ctx, tn) }},
		{"commit", func() error { return s.CommitTenant(ctx, tn.ID, model.StatusActive) }},
		{"visitor message", func() error {
			tn.Status, tn.VisitorMessage = model.StatusActive, "back soon"
			return s.UpdateTenant(ctx, tn)
		}},
		{"generation", func() error {
			_, err := s.Pool().Exec(ctx, `UPDATE tenants SET generation = generation + 1 WHERE id = $1`, tn.ID)
			return err
		}},
		{"mark deleting", func() error { return s.MarkDeleting(ctx, tn.ID) }},
	}
	for _, step := range steps {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil || n.Payload != tn.UUID {
			t.Fatalf("%s: notification %+v, %v; want one for %s", step.what, n, err, tn.UUID)
		}
	}
}
