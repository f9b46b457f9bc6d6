package controlplane_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testclock"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

type fixture struct {
	cp    *controlplane.ControlPlane
	store *sqlitestore.Store
}

type fixtureOptions struct {
	// clock, when set, is the control plane's clock.
	clock *testclock.Clock
}

// newFixture returns a control plane over a fresh SQLite catalog.
func newFixture(t *testing.T, opts fixtureOptions) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(t.TempDir(), "catalog.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &controlplane.Config{Logger: slog.New(slog.DiscardHandler)}
	if opts.clock != nil {
		cfg.Now = opts.clock.Now
	}
	cp, err := controlplane.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{cp: cp, store: st}
}
