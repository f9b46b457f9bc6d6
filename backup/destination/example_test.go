package destination_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/gotenancy/tenancy/backup/destination"
)

func Example() {
	dir, err := os.MkdirTemp("", "backups")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// An S3-compatible store works the same:
	// "s3://ACCESS_KEY_ID:SECRET@bucket?endpoint=https://s3.example.com&region=us-east-1".
	d, err := destination.Open(ctx, "file://"+dir+"/nightly")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	n, err := d.Put(ctx, "tenant-a/2026-12-04.sql", strings.NewReader("-- dump\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", n, "bytes")

	objects, err := d.List(ctx, "tenant-a/")
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range objects {
		fmt.Println(o.Key, o.Size)
	}

	r, err := d.Get(ctx, "tenant-a/2026-12-04.sql")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	body, _ := io.ReadAll(r)
	fmt.Printf("%q\n", body)

	_, err = d.Get(ctx, "tenant-b/missing.sql")
	fmt.Println(errors.Is(err, destination.ErrNotFound))
	// Output:
	// stored 8 bytes
	// tenant-a/2026-12-04.sql 8
	// "-- dump\n"
	// true
}
