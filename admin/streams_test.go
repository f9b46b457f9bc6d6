package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotenancy/tenancy/api"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/monitor"
)

// stream opens an event stream through the dashboard and returns a
// channel closed when the stream has ended.
func stream(a *Admin, path string, header http.Header) <-chan struct{} {
	r := httptest.NewRequest(http.MethodGet, "http://localhost"+path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ServeHTTP(httptest.NewRecorder(), r)
	}()
	return done
}

// ended reports whether a stream has ended, once everything in the
// bubble is idle.
func ended(done <-chan struct{}) bool {
	synctest.Wait()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// TestStreamsEndWithTheirCredential checks that the monitoring stream and
// a fleet migration's progress stream close within recheckInterval of
// their session ending (sign-out, expiry, the user deleted) and of their
// API key being revoked, and stay open while it is valid. The catalog is
// real; the clock is synctest's: its sleeps move the bubble's virtual
// time, and ended waits (synctest.Wait) for every goroutine to block.
func TestStreamsEndWithTheirCredential(t *testing.T) {
	t.Parallel()
	mgr := dashManager(t, t.TempDir())
	ctx := context.Background()
	user, err := cpOf(mgr).CreateAdminUser(ctx, dashEmail, dashPassword)
	if err != nil {
		t.Fatal(err)
	}
	cookie := func(token string) http.Header {
		return http.Header{"Cookie": {(&http.Cookie{Name: SessionCookie, Value: token}).String()}}
	}
	// dashboard makes the dashboard (with the monitoring routes and API
	// keys for them) inside the bubble, so that its timers and channels
	// run on the bubble's clock.
	dashboard := func(t *testing.T) *Admin {
		mon, err := monitor.New(&monitor.Config{Manager: mgr, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := api.New(&api.Config{Manager: mgr, ControlPlane: cpOf(mgr), KeyCacheTTL: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(&Config{Manager: mgr, ControlPlane: cpOf(mgr), Monitoring: mon.AdminHandler(), APIKeyAllows: keys.Allows, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			a.Close()
			mon.Close()
			keys.Close()
		})
		return a
	}
	session := func(t *testing.T, ttl time.Duration) string {
		token, _, err := cpOf(mgr).CreateAdminSession(ctx, user.ID, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	const monitoring = "/admin/monitoring/stream"

	for _, c := range []struct {
		name string
		// open returns a credential that stays valid for 1.5
		// recheckIntervals, and end, which ends it then (a session
		// that expires has ended by itself).
		open func(t *testing.T, a *Admin) (header http.Header, end func())
	}{
		{"sign-out", func(t *testing.T, a *Admin) (http.Header, func()) {
			token := session(t, time.Hour)
			return cookie(token), func() { cpOf(mgr).DeleteAdminSession(ctx, token) }
		}},
		{"expiry", func(t *testing.T, a *Admin) (http.Header, func()) {
			return cookie(session(t, 3*recheckInterval/2)), func() {}
		}},
		{"API key revoked", func(t *testing.T, a *Admin) (http.Header, func()) {
			_, secret, err := cpOf(mgr).CreateAPIKey(ctx, "stream-key", []controlplane.Scope{controlplane.ScopeRead})
			if err != nil {
				t.Fatal(err)
			}
			return http.Header{"X-Api-Key": {secret}}, func() { cpOf(mgr).RevokeAPIKey(ctx, "stream-key") }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := dashboard(t)
				header, end := c.open(t, a)
				done := stream(a, monitoring, header)
				// A valid credential keeps it open across a check.
				time.Sleep(3*recheckInterval/2 - time.Millisecond)
				if ended(done) {
					t.Fatal("the stream ended while its credential was valid")
				}
				end()
				time.Sleep(recheckInterval)
				if !ended(done) {
					t.Fatalf("the stream is still open %s after its credential ended", recheckInterval)
				}
			})
		})
	}

	t.Run("user deleted, migration progress", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := dashboard(t)
			other, err := cpOf(mgr).CreateAdminUser(ctx, "other@example.test", dashPassword)
			if err != nil {
				t.Fatal(err)
			}
			token, _, err := cpOf(mgr).CreateAdminSession(ctx, other.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			run, _ := a.fleet.start("admin:other@example.test", runOptions{}) // stays running: never executed
			progress := stream(a, "/admin/migrations/runs/"+run.ID+"/events", cookie(token))
			samples := stream(a, monitoring, cookie(token))
			time.Sleep(recheckInterval + time.Second)
			if ended(progress) || ended(samples) {
				t.Fatal("a stream ended while its session was valid")
			}
			if err := cpOf(mgr).DeleteAdminUser(ctx, "other@example.test"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(recheckInterval)
			if !ended(progress) || !ended(samples) {
				t.Fatalf("streams still open %s after their user was deleted (progress ended %v, monitoring ended %v)",
					recheckInterval, ended(progress), ended(samples))
			}
		})
	})
}
