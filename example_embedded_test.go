package tenancy_test

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
)

//go:embed testdata/embedded/migrations/*.sql
var embeddedFS embed.FS

// Example_embedded is the embedded default, as the README's "Using the library"
// shows it: a SQLite data directory, migrations embedded in the binary,
// one tenant made idempotently at start-up, and the application behind
// Manager.Handler (resolution by host, the status gate, the tenant's
// context).
func Example_embedded() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenancy-embedded")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	mgr, err := tenancy.New(ctx, sqlitedriver.Open(dir+"/data"), &tenancy.Config{
		Migrations: tenancy.MigrationsFS(embeddedFS, "testdata/embedded/migrations"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Close()
	if _, err := mgr.EnsureTenant(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example.com", Migrate: true}); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		db, err := tenancy.DB(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var n int
		if err := db.QueryRowContext(r.Context(), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s has %d notes", t.Name, n)
	})
	srv := httptest.NewServer(mgr.Handler(mux)) // in production: http.ListenAndServe(":8080", mgr.Handler(mux))
	defer srv.Close()

	for _, host := range []string{"acme.example.com", "nobody.example.com"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/notes", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			body = nil
		}
		fmt.Println(host, res.StatusCode, string(body))
	}
	// Output:
	// acme.example.com 200 Acme has 0 notes
	// nobody.example.com 404
}
