package sqlitestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) model.Store {
		s, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(t.TempDir(), "catalog.sqlite"), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.sqlite")
	s, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	tn := storetest.NewTenant("A", "a.test")
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(ctx, &sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.TenantByDomain(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRequiresPath(t *testing.T) {
	t.Parallel()
	if _, err := sqlitestore.Open(context.Background(), nil); err == nil {
		t.Fatal("Open(nil) succeeded")
	}
	// A missing directory is created (TestOpenCreatesTheDirectory); one
	// that cannot be, under a file, is an error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitestore.Open(context.Background(), &sqlitestore.Config{Path: filepath.Join(file, "dir", "c.sqlite")}); err == nil {
		t.Fatal("Open under a file succeeded")
	}
}
