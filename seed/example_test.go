package seed_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/gotenancy/tenancy/seed"
	_ "modernc.org/sqlite"
)

func ExampleRegistry_Run() {
	r := seed.NewRegistry()
	// SQL seeders, e.g. from an embed.FS; each file runs in one transaction.
	err := r.LoadFS(fstest.MapFS{
		"01_schema.sql": {Data: []byte("CREATE TABLE plans (name TEXT PRIMARY KEY);")},
		"02_plans.sql":  {Data: []byte("INSERT INTO plans VALUES ('free');\nINSERT INTO plans VALUES ('pro');")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Go seeders.
	err = r.Register("03_report", func(ctx context.Context, db *sql.DB) error {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM plans").Scan(&n); err != nil {
			return err
		}
		fmt.Println("plans:", n)
		return nil
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

	fmt.Println(r.Names())
	// No names: every seeder, in name order.
	if err := r.Run(context.Background(), db); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Run(context.Background(), db, "04_missing"))
	// Output:
	// [01_schema 02_plans 03_report]
	// plans: 2
	// unknown seeder: "04_missing"
}
