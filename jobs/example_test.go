package jobs_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/riverqueue/river"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/driver/sqlitedriver"
	"github.com/gotenancy/tenancy/jobs"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// WelcomeArgs are the arguments of a job that greets a new tenant.
type WelcomeArgs struct {
	Email string `json:"email"`
}

// Kind names the job.
func (WelcomeArgs) Kind() string { return "welcome" }

// WelcomeWorker works WelcomeArgs jobs; the tenant is in the context.
type WelcomeWorker struct {
	river.WorkerDefaults[WelcomeArgs]
	done chan struct{}
}

// Work greets the tenant's user.
func (w *WelcomeWorker) Work(ctx context.Context, job *river.Job[WelcomeArgs]) error {
	defer close(w.done)
	t, err := tenancy.MustFromContext(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("welcome %s to %s\n", job.Args.Email, t.Name)
	return nil
}

// A handler running for a tenant enqueues a job with tenancy.Enqueue; the
// worker runs later in the same tenant's context.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "jobs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(dir, "catalog.sqlite")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	prov, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: filepath.Join(dir, "tenants")})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err := tenancy.NewManager(&tenancy.Config{Store: st, Provisioner: prov})
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Close()

	db, err := jobs.OpenSQLite(ctx, filepath.Join(dir, "jobs.sqlite"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	worker := &WelcomeWorker{done: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := jobs.Open(ctx, &jobs.Config{
		Manager: mgr,
		DB:      db,
		Workers: workers,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mgr.Use(client.Bootstrapper())
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}

	acme, err := mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	err = mgr.Run(ctx, acme, func(ctx context.Context) error {
		return tenancy.Enqueue(ctx, WelcomeArgs{Email: "ada@acme.example.com"})
	})
	if err != nil {
		log.Fatal(err)
	}

	<-worker.done
	if err := client.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("completed:", client.Stats().Completed)
	// Output:
	// welcome ada@acme.example.com to Acme
	// completed: 1
}
