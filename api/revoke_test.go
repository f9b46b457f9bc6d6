package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/pgstore"
)

// node is one API process over a shared catalog: its own store, Manager,
// resolution cache (watching the store) and API.
type node struct {
	mgr *tenancy.Manager
	cp  *controlplane.ControlPlane
	api *API
}

// newNode starts a node over store, with a key cache that would trust a
// verification for an hour: only the catalog watcher can make it forget.
func newNode(t *testing.T, store interface {
	tenancy.Store
	controlplane.Store
	resolve.Watcher
}) *node {
	t.Helper()
	ctx := context.Background()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(t.TempDir(), "tenants")})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: store, Provisioner: prov, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	res, err := resolve.NewCache(ctx, mgr, &resolve.CacheConfig{Watcher: store, PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cp := testenv.ControlPlane(t, store)
	a, err := New(&Config{Manager: mgr, ControlPlane: cp, Resolver: res, KeyCacheTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return &node{mgr: mgr, cp: cp, api: a}
}

// status is the answer's code to a read with key.
func (n *node) status(key string) int {
	r := httptest.NewRequest(http.MethodGet, "http://central.test/tenancy/tenants", nil)
	r.Header.Set("X-API-Key", key)
	w := httptest.NewRecorder()
	n.api.ServeHTTP(w, r)
	return w.Code
}

// eventually polls n until a read with key answers want (a cross-process
// change: the deadline is generous, the poll short).
func (n *node) eventually(t *testing.T, what, key string, want int) {
	t.Helper()
	var got int
	if !testwait.Poll(10*time.Second, func() bool { got = n.status(key); return got == want }) {
		t.Fatalf("%s: still %d, want %d", what, got, want)
	}
}

// testRevocationReachesEveryNode creates a key on node a, uses it on node
// b (which then remembers it for an hour), revokes it on a and waits for b
// to refuse it.
func testRevocationReachesEveryNode(t *testing.T, a, b *node) {
	ctx := context.Background()
	_, secret, err := a.cp.CreateAPIKey(ctx, "shared", []controlplane.Scope{controlplane.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "a key created on another node", secret, http.StatusOK)
	if got := b.status(secret); got != http.StatusOK { // now from b's key cache
		t.Fatalf("second use: %d", got)
	}
	if err := a.cp.RevokeAPIKey(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "a key revoked on another node", secret, http.StatusUnauthorized)
	if got := a.status(secret); got != http.StatusUnauthorized {
		t.Fatalf("the revoking node still accepts the key: %d", got)
	}
}

func TestRevokedKeyStopsWorkingOnEveryNodeSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, st1 := testenv.NewManager(t, dir, nil)
	_, st2 := testenv.NewManager(t, dir, nil) // another process on the same catalog
	testRevocationReachesEveryNode(t, newNode(t, st1), newNode(t, st2))
}

func TestRevokedKeyStopsWorkingOnEveryNodePostgres(t *testing.T) {
	t.Parallel()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	open := func() *pgstore.Store {
		st, err := pgstore.Open(context.Background(), &pgstore.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	testRevocationReachesEveryNode(t, newNode(t, open()), newNode(t, open()))
}
