package tenantdb_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/tenantdb"
)

// A tenant's database from creation to drop: provision it, use it through
// the connection manager, and drop it after forgetting its handle.
func Example() {
	dir, err := os.MkdirTemp("", "tenantdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	p, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenantdb.NewConnManager(p, &tenantdb.ConnConfig{MaxOpen: 64})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	name := tenantdb.GenerateName("Acme Corp")
	if err := p.Create(ctx, name); err != nil {
		log.Fatal(err)
	}

	h, err := m.Acquire(ctx, name)
	if err != nil {
		log.Fatal(err)
	}
	db := h.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)"); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO posts (title) VALUES ('hello')"); err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM posts").Scan(&n); err != nil {
		log.Fatal(err)
	}
	h.Release()
	fmt.Println("posts:", n)

	m.Forget(name) // close the handle before dropping the database
	if err := p.Drop(ctx, name); err != nil {
		log.Fatal(err)
	}
	_, err = m.Acquire(ctx, name)
	fmt.Println("after drop:", errors.Is(err, tenantdb.ErrNotExist))
	// Output:
	// posts: 1
	// after drop: true
}

func ExampleGenerateName() {
	name := tenantdb.GenerateName("Acme Corp.")
	fmt.Println(strings.HasPrefix(name, "tenant_acme_corp_"), len(name), tenantdb.ValidateName(name))

	name = tenantdb.GenerateName("株式会社")
	fmt.Println(strings.HasPrefix(name, "tenant_"), len(name))
	// Output:
	// true 25 <nil>
	// true 15
}

func ExampleValidateName() {
	fmt.Println(tenantdb.ValidateName("tenant_acme_1a2b3c4d"))
	fmt.Println(tenantdb.ValidateName("Acme"))
	fmt.Println(tenantdb.ValidateName("acme-corp"))
	// Output:
	// <nil>
	// invalid database name "Acme": must start with a lower-case ASCII letter (a-z)
	// invalid database name "acme-corp": byte 4 ('-') is not a lower-case ASCII letter, digit or underscore
}

func ExampleQuoteIdent() {
	fmt.Println("DROP TABLE " + tenantdb.QuoteIdent(`odd "name"`))
	// Output:
	// DROP TABLE "odd ""name"""
}
