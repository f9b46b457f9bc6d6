package controlplane_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

type fixture struct {
	cp    *controlplane.ControlPlane
	store *sqlitestore.Store
}

type fixtureOptions struct{}

// newFixture returns a control plane over a fresh SQLite catalog.
func newFixture(t *testing.T, _ fixtureOptions) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(t.TempDir(), "catalog.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cp, err := controlplane.New(st, &controlplane.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{cp: cp, store: st}
}
