package demo_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/cache/rediscache"
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

// TestCacheWriteFailureIs503: a PUT /api/cache/{key} whose write the cache
// cannot carry out (Redis is down) is answered 503 with the JSON error
// envelope, not 200.
func TestCacheWriteFailureIs503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	rc, err := rediscache.New(ctx, &rediscache.Config{URL: s.URL(), Logger: slog.New(&testenv.LogRecorder{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	mgr, _ := testenv.NewManager(t, t.TempDir(), &testenv.ManagerConfig{Demo: true})
	mgr.Use(tenancy.NewLogBootstrapper(slog.New(&testenv.LogRecorder{})), cache.NewBootstrapper(rc))
	tn, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.test", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(ctx context.Context, value string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(ctx, http.MethodPut, "/api/cache/greeting", strings.NewReader(`{"value":"`+value+`"}`))
		r.Header.Set("Content-Type", "application/json")
		demo.Handler().ServeHTTP(w, r)
		return w
	}
	err = mgr.Run(ctx, tn, func(ctx context.Context) error {
		if w := put(ctx, "hello"); w.Code != http.StatusOK {
			t.Fatalf("PUT with Redis up: %d %s", w.Code, w.Body)
		}
		s.Stop()
		w := put(ctx, "lost")
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("PUT with Redis down: %d %s, want 503", w.Code, w.Body)
		}
		var env struct {
			Success bool   `json:"success"`
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Success || env.Code != http.StatusServiceUnavailable || env.Message == "" {
			t.Fatalf("PUT with Redis down answered %s, want the JSON error envelope", w.Body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
