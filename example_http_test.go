package tenancy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/riverqueue/river"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/jobs"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/storage"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// exampleEnv is what the examples share: a Manager over a temporary data
// directory with cache and storage bootstrappers, and one tenant.
type exampleEnv struct {
	dir    string
	mgr    *tenancy.Manager
	tenant *tenancy.Tenant
	close  func()
}

func newExampleEnv() *exampleEnv {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenancy-example")
	if err != nil {
		log.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		log.Fatal(err)
	}
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
	backend, err := cache.NewMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{
		Store: st, Provisioner: prov, Migrations: migrations,
		Bootstrappers: []tenancy.Bootstrapper{cache.NewBootstrapper(backend), storage.NewBootstrapper(files)},
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	t, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example.com", Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	return &exampleEnv{dir: dir, mgr: mgr, tenant: t, close: func() {
		mgr.Close()
		st.Close()
		os.RemoveAll(dir)
	}}
}

// An application mounts its routes behind the middleware: each request is
// resolved to its tenant, refused if the tenant's status says so, and served
// in the tenant's context.
func ExampleMiddleware() {
	env := newExampleEnv()
	defer env.close()
	ctx := context.Background()

	resolver, err := resolve.NewCache(ctx, env.mgr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer resolver.Close()
	chain, err := resolve.NewChain(&resolve.ChainConfig{Cache: resolver})
	if err != nil {
		log.Fatal(err)
	}

	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		fmt.Fprintf(w, "hello from %s", t.Name)
	})
	handler := tenancy.Middleware(app, &tenancy.MiddlewareConfig{Manager: env.mgr, Resolver: chain})

	get := func(host string) {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/hello", nil))
		body, _ := io.ReadAll(w.Body)
		first, _, _ := strings.Cut(string(body), "\n")
		fmt.Println(w.Code, first)
	}
	get("acme.example.com:8080")
	get("unknown.example.com")
	env.mgr.ChangeStatus(ctx, "acme.example.com", tenancy.StatusChange{Status: tenancy.StatusSuspended, Reason: "unpaid"})
	get("acme.example.com")
	// Output:
	// 200 hello from Acme
	// 404 <!doctype html>
	// 403 <!doctype html>
}

// FromContext tells code which tenant it runs for; outside a tenant
// context there is none.
func ExampleFromContext() {
	env := newExampleEnv()
	defer env.close()
	env.mgr.Run(context.Background(), env.tenant, func(ctx context.Context) error {
		t, ok := tenancy.FromContext(ctx)
		fmt.Println(t.Name, ok)
		return nil
	})
	_, ok := tenancy.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// Acme true
	// false
}

// Cache is the tenant's own cache namespace.
func ExampleCache() {
	env := newExampleEnv()
	defer env.close()
	env.mgr.Run(context.Background(), env.tenant, func(ctx context.Context) error {
		c, err := tenancy.Cache(ctx)
		if err != nil {
			return err
		}
		c.Set(ctx, "greeting", []byte("hi"), 0)
		v, found, _ := c.Get(ctx, "greeting")
		fmt.Println(string(v), found)
		return nil
	})
	_, err := tenancy.Cache(context.Background())
	fmt.Println(err)
	// Output:
	// hi true
	// no tenant in context
}

// Storage is the tenant's own file root; no path escapes it.
func ExampleStorage() {
	env := newExampleEnv()
	defer env.close()
	env.mgr.Run(context.Background(), env.tenant, func(ctx context.Context) error {
		root, err := tenancy.Storage(ctx)
		if err != nil {
			return err
		}
		root.WriteFile("report.txt", []byte("q3"), 0o600)
		b, _ := root.ReadFile("report.txt")
		_, escape := root.ReadFile("../catalog.sqlite")
		fmt.Println(string(b), escape != nil)
		return nil
	})
	// Output: q3 true
}

// exampleNoteArgs is a job that writes a note in its tenant's database.
type exampleNoteArgs struct {
	Body string `json:"body"`
}

func (exampleNoteArgs) Kind() string { return "example_note" }

type exampleNoteWorker struct {
	river.WorkerDefaults[exampleNoteArgs]
	done chan struct{}
}

func (w *exampleNoteWorker) Work(ctx context.Context, job *river.Job[exampleNoteArgs]) error {
	defer close(w.done)
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO notes (body) VALUES (?)`, job.Args.Body)
	return err
}

// Enqueue starts a background job that runs later in the same tenant's
// context, with its database.
func ExampleEnqueue() {
	env := newExampleEnv()
	defer env.close()
	ctx := context.Background()
	db, err := jobs.OpenSQLite(ctx, filepath.Join(env.dir, "jobs.sqlite"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	worker := &exampleNoteWorker{done: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := jobs.Open(ctx, &jobs.Config{Manager: env.mgr, DB: db, Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	env.mgr.Use(client.Bootstrapper())
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	env.mgr.Run(ctx, env.tenant, func(ctx context.Context) error {
		return tenancy.Enqueue(ctx, exampleNoteArgs{Body: "written by a job"})
	})
	<-worker.done
	env.mgr.Run(ctx, env.tenant, func(ctx context.Context) error {
		db, _ := tenancy.DB(ctx)
		var body string
		db.QueryRowContext(ctx, `SELECT body FROM notes`).Scan(&body)
		fmt.Println(body)
		return nil
	})
	fmt.Println(tenancy.Enqueue(ctx, exampleNoteArgs{}))
	// Output:
	// written by a job
	// no tenant in context
}
