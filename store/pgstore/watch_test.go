package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// The engine-independent promises of Watch (the initial call, changes
// heard, several watchers, cancel, restart, Close and ErrClosed, bad
// arguments) are checked by TestWatcherConformance; these are
// PostgreSQL's own.

func TestWatchSeesOtherNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	watched := openStore(t, url)
	other := openStore(t, url) // stands for another node

	// A short interval: keepalive pings run between notifications.
	w := watchertest.Start(t, watched, 20*time.Millisecond)
	w.Wait(t, 1, "the initial call")

	p := w.Mark()
	tn := storetest.NewTenant("Other", "other.test")
	if err := other.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a tenant created by another node")

	p = w.Mark()
	tn.Status = model.StatusBlocked
	if err := other.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a status change by another node")

	// Routine writes (last access, operation records, API keys, audit) do
	// not notify: only the domain added after them is reported, once. The
	// next change, committed once the domain was heard, closes the phase:
	// notifications arrive in commit order, so one for the routine writes
	// would come before its own. (TestWatchIgnoresRoutineWrites reads the
	// notifications themselves.)
	p = w.Mark()
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
	// A commit through the watched store's own pool is seen too.
	if err := watched.AddDomain(ctx, &model.Domain{TenantID: tn.ID, Domain: "www.other.test"}); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a domain added by the same store")
	next := w.Mark()
	if err := watched.SetPrimaryDomain(ctx, tn.ID, "www.other.test"); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, next, 1, "a primary domain set by the same store")
	if got := w.In(p); got != 1 {
		t.Fatalf("onChange called %d times for one relevant commit among routine ones", got)
	}

	p = w.Mark()
	if err := other.RemoveDomain(ctx, tn.ID, "other.test"); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "the domain removal")

	// Deleting the tenant is a change.
	p = w.Mark()
	if err := other.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "the deletion")

	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
}

// TestWatchIgnoresRoutineWrites reads the notifications themselves: the
// routine writes send none, so the first one after them is the next
// change's.
func TestWatchIgnoresRoutineWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	tn := storetest.NewTenant("A", "a.test")
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	conn := listen(t, url)
	if err := s.TouchTenants(ctx, map[int64]time.Time{tn.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperation(ctx, model.OperationRecord{TenantID: tn.ID, Operation: model.OpMigrate, State: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAudit(ctx, &model.AuditEntry{Actor: "cli", Action: "tenant.touch", Outcome: model.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	next := storetest.NewTenant("B", "b.test")
	if err := s.CreateTenant(ctx, next); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testwait.DefaultTimeout)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Payload != next.UUID {
		t.Fatalf("first notification after routine writes: %q, want the next change's %q", n.Payload, next.UUID)
	}
}

// listen returns a connection LISTENing on the catalog's channel.
func listen(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `LISTEN `+pgstore.Channel); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestWatchFoldsBursts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	w := watchertest.Start(t, s, time.Hour)
	w.Wait(t, 1, "the initial call")
	// Twenty tenants in one transaction: twenty notifications (one uuid
	// each) arrive together at commit and make one call.
	p := w.Mark()
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
	w.WaitIn(t, p, 1, "the burst")
	// A change committed once the burst was heard closes the phase: the
	// burst's notifications all come before its own.
	next := w.Mark()
	if err := s.CreateTenant(ctx, storetest.NewTenant("After", "after.test")); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, next, 1, "the change after the burst")
	if got := w.In(p); got != 1 {
		t.Fatalf("onChange called %d times for one burst, want 1", got)
	}
	w.Cancel()
	if err := w.Stopped(t); err != nil {
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

// TestWatchFailsWhenItsConnectionIsKilled: a lost connection makes Watch
// return an error; restarted, it calls onChange at once and listens again.
func TestWatchFailsWhenItsConnectionIsKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	s := openStore(t, url)
	// No keepalive ping during the test: the connection's last query stays
	// the LISTEN, which is how the test finds it.
	w := watchertest.Start(t, s, time.Hour)
	w.Wait(t, 1, "the initial call")

	var killed bool
	err := s.Pool().QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = 'LISTEN `+pgstore.Channel+`'`).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate the listening connection: %v, %v", killed, err)
	}
	err = w.Stopped(t)
	if err == nil {
		t.Fatal("Watch returned nil after its connection was killed")
	}
	t.Logf("Watch returned: %v", err)

	// Restarted, it calls onChange at once (the caller reloads) and
	// listens again.
	w = watchertest.Start(t, s, time.Hour)
	w.Wait(t, 1, "the call on restart")
	p := w.Mark()
	if err := s.CreateTenant(ctx, storetest.NewTenant("A", "a.test")); err != nil {
		t.Fatal(err)
	}
	w.WaitIn(t, p, 1, "a change after the restart")
	if n := w.In(0); n != 1 {
		t.Fatalf("onChange called %d times on restart, want 1", n)
	}
	w.Cancel()
	if err := w.Stopped(t); err != nil {
		t.Fatal(err)
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
