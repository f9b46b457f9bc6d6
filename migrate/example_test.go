package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/gotenancy/tenancy/migrate"
	_ "modernc.org/sqlite"
)

func ExampleSet_Up() {
	set, err := migrate.Load(fstest.MapFS{
		"00001_create_notes.sql": {Data: []byte(
			"-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n" +
				"-- +goose Down\nDROP TABLE notes;\n")},
	})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tenant")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "acme.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	for range 2 {
		res, err := set.Up(ctx, "sqlite3", db)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("from %d to %d, applied %d\n", res.From, res.To, res.Applied)
	}
	// Output:
	// from 0 to 1, applied 1
	// from 1 to 1, applied 0
}

func ExampleLoadDir() {
	// An optional directory that does not exist is an empty set.
	set, err := migrate.LoadDir("no/such/dir", false)
	fmt.Println(set.Len(), err)

	_, err = migrate.LoadDir("no/such/dir", true)
	fmt.Println(errors.Is(err, migrate.ErrNoSource))
	// Output:
	// 0 <nil>
	// true
}

func ExampleRunFleet() {
	tenants := []string{"acme", "globex", "initech"}
	out, err := migrate.RunFleet(context.Background(), tenants, &migrate.FleetConfig{Concurrency: 2},
		func(ctx context.Context, tenant string) error {
			if tenant == "globex" {
				return errors.New("database unreachable")
			}
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range out {
		switch {
		case o.Skipped:
			fmt.Println(o.Item, "skipped")
		case o.Err != nil:
			fmt.Println(o.Item, "failed:", o.Err)
		default:
			fmt.Println(o.Item, "ok")
		}
	}
	// Output:
	// acme ok
	// globex failed: database unreachable
	// initech ok
}
