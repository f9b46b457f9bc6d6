package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// The whole lifecycle: a Manager over a SQLite catalog and SQLite tenant
// databases, a tenant created with its migrations, code run in its context.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tenancy-example")
	defer os.RemoveAll(dir)

	store, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		log.Fatal(err)
	}
	migrations, err := migrate.Load(fstest.MapFS{
		"00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (body TEXT);\n-- +goose Down\nDROP TABLE notes;\n")},
	})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: store, Provisioner: prov, Migrations: migrations})
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Close()

	t, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "Acme.Example.com", Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	err = mgr.Run(ctx, t, func(ctx context.Context) error {
		db, err := tenancy.DB(ctx)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('hello')`); err != nil {
			return err
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			return err
		}
		tn, _ := tenancy.FromContext(ctx)
		fmt.Println(tn.Name, tn.PrimaryDomain(), tn.Status, n)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: Acme acme.example.com active 1
}

// Without a tenant in the context, tenant-scoped calls fail closed.
func ExampleDB() {
	_, err := tenancy.DB(context.Background())
	fmt.Println(errors.Is(err, tenancy.ErrNoTenant))
	// Output: true
}

func ExampleNormalizeDomain() {
	d, _ := tenancy.NormalizeDomain("Bücher.Example.COM.:8080")
	fmt.Println(d)
	_, err := tenancy.NormalizeDomain("https://example.com/")
	fmt.Println(err)
	// Output:
	// xn--bcher-kva.example.com
	// invalid domain: "https://example.com/": must be a host name, without scheme, path or spaces
}

func ExampleParseStatus() {
	s, _ := tenancy.ParseStatus("Suspended")
	fmt.Println(s, s.Served())
	_, err := tenancy.ParseStatus("paused")
	fmt.Println(err)
	// Output:
	// suspended false
	// invalid status: unknown status "paused" (want one of active, inactive, suspended, blocked)
}
