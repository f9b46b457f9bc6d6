package mysqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// openStore opens a Store on dsn, closed when the test ends.
func openStore(t testing.TB, dsn string) *mysqlstore.Store {
	t.Helper()
	s, err := mysqlstore.Open(context.Background(), &mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) model.Store {
		s, err := mysqlstore.Open(context.Background(), &mysqlstore.Config{DSN: testenv.NewMySQLDatabase(t), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenValidatesConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, cfg := range map[string]*mysqlstore.Config{
		"nil":         nil,
		"no DSN":      {},
		"bad DSN":     {DSN: "user:secret@tcp(localhost:3306"},
		"no database": {DSN: "user:secret@tcp(localhost:3306)/"},
	} {
		_, err := mysqlstore.Open(ctx, cfg)
		if err == nil {
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

func TestOpenAddsRequiredDSNParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A DSN without parseTime and multiStatements still works: Open adds them.
	cfg, err := mysql.ParseDSN(testenv.NewMySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime, cfg.MultiStatements = false, false
	s := openStore(t, cfg.FormatDSN())
	tn := storetest.NewTenant("A", "a.test")
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	got, err := s.TenantByDomain(ctx, "a.test")
	if err != nil || !got.CreatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("TenantByDomain: %+v, %v", got, err)
	}
}

func TestOpenTogetherAndReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.NewMySQLDatabase(t)
	// Nodes starting at once on an empty catalog: one migrates, the others
	// wait for it and find the schema current.
	var wg sync.WaitGroup
	stores := make([]*mysqlstore.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = mysqlstore.Open(ctx, &mysqlstore.Config{DSN: dsn}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		stores[i].Close()
	}
	s := openStore(t, dsn)
	if err := s.CreateTenant(ctx, storetest.NewTenant("A", "a.test")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dsn)
	if _, err := s.TenantByDomain(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM domains`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("DB(): %d domains, %v", n, err)
	}
}

func TestSearchTakesEveryCharacterLiterally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	for i, name := range []string{"bang!x", "back\\slash", "quote'd", "Ünïcode", "plain"} {
		if err := s.CreateTenant(ctx, storetest.NewTenant(name, fmt.Sprintf("t%d.search.test", i))); err != nil {
			t.Fatal(err)
		}
	}
	for search, want := range map[string]string{
		"!":     "bang!x",
		"g!x":   "bang!x",
		"!!":    "",
		"\\":    "back\\slash",
		"k\\s":  "back\\slash",
		"'":     "quote'd",
		"nïc":   "Ünïcode",
		"PLAIN": "plain",
	} {
		got, total, err := s.ListTenants(ctx, model.ListOptions{Search: search})
		if err != nil {
			t.Fatalf("search %q: %v", search, err)
		}
		var names []string
		for _, tn := range got {
			names = append(names, tn.Name)
		}
		if want == "" && total != 0 || want != "" && (total != 1 || names[0] != want) {
			t.Errorf("search %q found %v, want %q", search, names, want)
		}
	}
}

func TestTenantWithoutDomains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewMySQLDatabase(t))
	tn := storetest.NewTenant("Bare", "unused.test")
	tn.Domains = nil
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	got, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil || got.ID != tn.ID || got.Domains == nil || len(got.Domains) != 0 {
		t.Fatalf("TenantByUUID: %+v, %v", got, err)
	}
	// Its first domain becomes primary.
	d := &model.Domain{TenantID: tn.ID, Domain: "first.test"}
	if err := s.AddDomain(ctx, d); err != nil || !d.IsPrimary {
		t.Fatalf("AddDomain: %+v, %v", d, err)
	}
}
