package demo_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// A request its client abandoned is not logged as a failure; one out of
// time and a query that really fails still are.
func TestFailSeparatesCanceledRequests(t *testing.T) {
	ctx := context.Background()
	mgr, _ := testenv.NewManager(t, t.TempDir(), &testenv.ManagerConfig{Demo: true})
	logs := &testenv.LogRecorder{}
	mgr.Use(tenancy.NewLogBootstrapper(slog.New(logs)))
	tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	count := func(ctx context.Context) int {
		w := httptest.NewRecorder()
		demo.Handler().ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/notes/count", nil))
		return w.Code
	}
	err = mgr.Run(ctx, tn, func(ctx context.Context) error {
		if code := count(ctx); code != http.StatusOK {
			t.Errorf("count: %d, want 200", code)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if code := count(gone); code != http.StatusServiceUnavailable {
			t.Errorf("count with the client gone: %d, want 503", code)
		}
		if n := logs.Count("demo request failed"); n != 0 {
			t.Errorf("a canceled request was logged as a failure %d times", n)
		}
		late, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		if code := count(late); code != http.StatusInternalServerError {
			t.Errorf("count out of time: %d, want 500", code)
		}
		if n := logs.Count("demo request failed"); n != 1 {
			t.Errorf("a request out of time was logged as a failure %d times, want 1", n)
		}
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `DROP TABLE notes`); err != nil {
			return err
		}
		if code := count(ctx); code != http.StatusInternalServerError {
			t.Errorf("count without the table: %d, want 500", code)
		}
		if n := logs.Count("demo request failed"); n != 2 {
			t.Errorf("failures logged %d times, want 2", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
