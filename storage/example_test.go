package storage_test

import (
	"fmt"
	"log"
	"os"

	"github.com/gotenancy/tenancy/storage"
)

// Each tenant writes into its own root, which no path can leave.
func ExampleStorage_Root() {
	dir, err := os.MkdirTemp("", "storage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := storage.New(&storage.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	const tenant = "0190a6f2-7c1e-7a3b-8c4d-5e6f70819201"
	root, err := s.Root(tenant)
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close()

	if err := root.WriteFile("invoice.txt", []byte("total: 42"), 0o644); err != nil {
		log.Fatal(err)
	}
	_, err = root.Open("../../etc/passwd")
	fmt.Println("escape refused:", err != nil)

	used, err := s.Usage(tenant)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bytes used:", used)

	_, err = s.Root("../not-a-uuid")
	fmt.Println(err)
	// Output:
	// escape refused: true
	// bytes used: 9
	// storage: invalid tenant id: "../not-a-uuid"
}
