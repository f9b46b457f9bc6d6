package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// openStore opens a Store on url, closed when the test ends.
func openStore(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), &pgstore.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) model.Store {
		s, err := pgstore.Open(context.Background(), &pgstore.Config{URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenValidatesConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, cfg := range map[string]*pgstore.Config{
		"nil":            nil,
		"no URL":         {},
		"negative conns": {URL: "postgres://localhost/x", MaxConns: -1},
		"bad URL":        {URL: "postgres://user:secret@localhost:notaport/x"},
	} {
		_, err := pgstore.Open(ctx, cfg)
		if err == nil {
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

func TestOpenUnreachableServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgstore.Open(ctx, &pgstore.Config{URL: "postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=2"})
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestOpenTogetherAndReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewPostgresDatabase(t, testenv.PostgresURL(t))
	// Nodes starting at once on an empty catalog: one migrates, the others
	// wait for it and find the schema current.
	var wg sync.WaitGroup
	stores := make([]*pgstore.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = pgstore.Open(ctx, &pgstore.Config{URL: url}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		stores[i].Close()
	}
	s := openStore(t, url)
	if got := s.Pool().Config().MaxConns; got != pgstore.DefaultMaxConns {
		t.Errorf("MaxConns = %d, want %d", got, pgstore.DefaultMaxConns)
	}
	tn := storetest.NewTenant("A", "a.test")
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, url)
	if _, err := s.TenantByDomain(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM domains`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("DB(): %d domains, %v", n, err)
	}
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	s, err := pgstore.Open(context.Background(), &pgstore.Config{URL: testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)), MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Pool().Config().MaxConns; got != 3 {
		t.Fatalf("MaxConns = %d, want 3", got)
	}
}

func TestSearchTakesEveryCharacterLiterally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)))
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
	s := openStore(t, testenv.NewPostgresDatabase(t, testenv.PostgresURL(t)))
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
