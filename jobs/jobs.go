package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/gotenancy/tenancy"
)

// MetadataKey is the key of River's job metadata that carries the tenant's
// UUID.
const MetadataKey = "tenant_uuid"

// DefaultConcurrency is the number of jobs worked at once in the default
// queue when Config.Concurrency is zero.
const DefaultConcurrency = 10

// Sentinel errors for conditions that callers test with errors.Is.
var (
	// ErrTenantRefused means a job was not run because its tenant is
	// missing, deleted or not active. The job is cancelled, not retried.
	ErrTenantRefused = errors.New("tenant refused")
	// ErrInvalidJob means job arguments River cannot store or work: nil
	// arguments, an empty kind, a kind without a registered worker,
	// arguments that do not encode as JSON, or metadata that is not a JSON
	// object.
	ErrInvalidJob = errors.New("invalid job")
)

// Config configures a Client.
type Config struct {
	// Manager restores tenants for workers; required.
	Manager *tenancy.Manager
	// DB is the jobs database when it is SQLite (see OpenSQLite): the
	// embedded default. River's tables are created in it by Open. Open
	// limits its pool to one connection, as River's SQLite driver requires.
	// The DB is the caller's to close, after Stop. Set DB or Pool.
	DB *sql.DB
	// Pool is the jobs database when it is PostgreSQL (the catalog's
	// database in production): River runs on its pgx driver, with
	// LISTEN/NOTIFY. The pool is the caller's to close, after Stop.
	Pool *pgxpool.Pool
	// Workers holds the application's workers, registered with
	// river.AddWorker; required.
	Workers *river.Workers
	// Concurrency is the number of jobs worked at once in River's default
	// queue; default DefaultConcurrency. It is ignored when River.Queues is
	// set.
	Concurrency int
	// Logger receives refusals and River's own logs; default slog.Default().
	Logger *slog.Logger
	// River is an optional base River configuration for settings this
	// package does not expose (JobTimeout, MaxAttempts, retention, extra
	// queues, middleware). Open copies it and then sets Workers, puts the
	// tenant middleware first in Middleware, sets Queues when it is nil and
	// Logger when it is nil. Periodic jobs carry no tenant: they are
	// refused unless their kind is one of Central.
	River *river.Config
	// Central lists the job kinds that belong to no tenant (fleet-wide
	// work such as scheduled backups): they run without a tenant in their
	// context, and only they may be periodic jobs. A job of another kind
	// without a tenant is refused.
	Central []string
}

// Client enqueues and works tenant-aware jobs. It is safe for concurrent use.
type Client struct {
	// river is the River client of either driver; sqlite is the same
	// client when the driver is SQLite (for River()).
	river  riverClient
	sqlite *river.Client[*sql.Tx]
	mgr    *tenancy.Manager
	log    *slog.Logger
	stats  counters
	// central holds the kinds of Config.Central.
	central map[string]bool
}

// Open checks cfg, brings River's tables in cfg.DB up to date with River's
// migrations and makes the River client. Jobs can be enqueued at once; they
// are worked after Start.
func Open(ctx context.Context, cfg *Config) (*Client, error) {
	switch {
	case cfg == nil:
		return nil, errors.New("jobs: Config is required")
	case cfg.Manager == nil:
		return nil, errors.New("jobs: Config.Manager is required")
	case (cfg.DB == nil) == (cfg.Pool == nil):
		return nil, errors.New("jobs: set exactly one of Config.DB (SQLite) and Config.Pool (PostgreSQL)")
	case cfg.Workers == nil:
		return nil, errors.New("jobs: Config.Workers is required")
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("jobs: negative Config.Concurrency %d", cfg.Concurrency)
	}
	concurrency := cfg.Concurrency
	if concurrency == 0 {
		concurrency = DefaultConcurrency
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	c := &Client{mgr: cfg.Manager, log: logger, central: map[string]bool{}}
	for _, k := range cfg.Central {
		c.central[k] = true
	}
	var rc river.Config
	if cfg.River != nil {
		rc = *cfg.River
	}
	rc.Workers = cfg.Workers
	rc.Middleware = append([]rivertype.Middleware{&tenantMiddleware{c: c}}, rc.Middleware...)
	if rc.Queues == nil {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: concurrency}}
	}
	if rc.Logger == nil {
		rc.Logger = logger
	}
	if cfg.Pool != nil {
		if err := migratePostgres(ctx, cfg.Pool, logger); err != nil {
			return nil, err
		}
		rcl, err := river.NewClient(riverpgxv5.New(cfg.Pool), &rc)
		if err != nil {
			return nil, fmt.Errorf("jobs: river client: %w", err)
		}
		c.river = rcl
		return c, nil
	}
	if err := migrate(ctx, cfg.DB, logger); err != nil {
		return nil, err
	}
	rcl, err := river.NewClient(riversqlite.New(cfg.DB), &rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	c.river, c.sqlite = rcl, rcl
	return c, nil
}

// riverClient is what Client uses of a River client, whatever its driver.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Migrate creates River's tables in the SQLite jobs database db, or brings
// them up to date, with River's own migrations; it limits db's pool to one
// connection, as River's SQLite driver requires. Processes that share the
// database file run their migrations one at a time: each holds an
// exclusive flock on <file>.lock next to it meanwhile. Open calls it; it
// serves tools that prepare the database ahead of time.
func Migrate(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("jobs: migrate: nil DB")
	}
	return migrate(ctx, db, slog.Default())
}

func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	// SQLite allows one writer at a time; River's services run in parallel
	// and fail with SQLITE_BUSY on a larger pool (see package riversqlite).
	db.SetMaxOpenConns(1)
	file, err := sqliteFile(ctx, db)
	if err != nil {
		return err
	}
	if file != "" {
		unlock, err := lockFile(ctx, file+".lock")
		if err != nil {
			return err
		}
		defer unlock()
	}
	migrator, err := rivermigrate.New(riversqlite.New(db), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate river tables: %w", err)
	}
	return nil
}

// Start starts fetching and working jobs in the background. Jobs run with
// contexts derived from ctx: cancelling ctx stops the client and cancels
// running jobs (a hard stop); use Stop for a graceful one.
func (c *Client) Start(ctx context.Context) error {
	if err := c.river.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for the running ones to finish and be
// recorded (graceful shutdown). If ctx ends first Stop returns its error,
// the jobs keep running, and Stop may be called again. Stop on a client
// that was never started does nothing.
func (c *Client) Stop(ctx context.Context) error {
	if err := c.river.Stop(ctx); err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

// River returns the underlying River client when the jobs database is
// SQLite (nil on PostgreSQL), for subscriptions, job queries and River's
// own statistics.
func (c *Client) River() *river.Client[*sql.Tx] { return c.sqlite }

// Enqueue inserts a job for tenant t. The tenant's UUID travels with the
// job in its metadata (MetadataKey). A nil tenant is tenancy.ErrNoTenant;
// unusable arguments are ErrInvalidJob.
func (c *Client) Enqueue(ctx context.Context, t *tenancy.Tenant, args river.JobArgs) error {
	_, err := c.Insert(ctx, t, args, nil)
	return err
}

// Insert is Enqueue with River's insert options (queue, priority, schedule,
// uniqueness, extra metadata) and River's result. The tenant's UUID is set
// in the metadata whatever opts.Metadata holds; opts is not modified.
func (c *Client) Insert(ctx context.Context, t *tenancy.Tenant, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if t == nil {
		return nil, tenancy.ErrNoTenant
	}
	id, err := uuid.Parse(t.UUID)
	if err != nil {
		return nil, fmt.Errorf("jobs: tenant uuid %q: %w", t.UUID, err)
	}
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	var o river.InsertOpts
	if opts != nil {
		o = *opts
	}
	if o.Metadata, err = withTenant(o.Metadata, id.String()); err != nil {
		return nil, err
	}
	res, err := c.river.Insert(ctx, args, &o)
	if err != nil {
		var unknown *river.UnknownJobKindError
		if errors.As(err, &unknown) {
			err = fmt.Errorf("%w: %w", ErrInvalidJob, err)
		}
		return nil, fmt.Errorf("jobs: enqueue %s for tenant %s: %w", args.Kind(), id, err)
	}
	return res, nil
}

// checkArgs rejects arguments River would store unusably or panic on.
func checkArgs(args river.JobArgs) error {
	if args == nil {
		return fmt.Errorf("%w: nil job arguments", ErrInvalidJob)
	}
	if v := reflect.ValueOf(args); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("%w: nil %T job arguments", ErrInvalidJob, args)
	}
	if args.Kind() == "" {
		return fmt.Errorf("%w: %T has an empty Kind", ErrInvalidJob, args)
	}
	if _, err := json.Marshal(args); err != nil {
		return fmt.Errorf("%w: %s arguments do not encode as JSON: %w", ErrInvalidJob, args.Kind(), err)
	}
	return nil
}

// withTenant returns metadata (a JSON object, or empty) with MetadataKey
// set to tenantUUID.
func withTenant(metadata []byte, tenantUUID string) ([]byte, error) {
	md := map[string]json.RawMessage{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &md); err != nil || md == nil {
			return nil, fmt.Errorf("%w: metadata must be a JSON object", ErrInvalidJob)
		}
	}
	v, err := json.Marshal(tenantUUID)
	if err != nil {
		return nil, err
	}
	md[MetadataKey] = v
	return json.Marshal(md)
}

// Bootstrapper returns the bootstrapper that gives tenant code an Enqueuer
// (tenancy.WithEnqueuer), so handlers and jobs call tenancy.Enqueue(ctx, job)
// to enqueue jobs for their own tenant. Register it with Manager.Use.
func (c *Client) Bootstrapper() tenancy.Bootstrapper { return bootstrapper{c: c} }

type bootstrapper struct{ c *Client }

var _ tenancy.Bootstrapper = bootstrapper{}

// Bootstrap attaches t's Enqueuer to ctx.
func (b bootstrapper) Bootstrap(ctx context.Context, t *tenancy.Tenant) (context.Context, error) {
	return tenancy.WithEnqueuer(ctx, enqueuer{c: b.c, tenant: t}), nil
}

// Revert does nothing: the Enqueuer holds nothing to release.
func (bootstrapper) Revert(context.Context) {}

// enqueuer enqueues jobs for one tenant.
type enqueuer struct {
	c      *Client
	tenant *tenancy.Tenant
}

var _ tenancy.Enqueuer = enqueuer{}

// Enqueue enqueues job for the enqueuer's tenant.
func (e enqueuer) Enqueue(ctx context.Context, job tenancy.JobArgs) error {
	// tenancy.JobArgs and river.JobArgs have the same method set, so any
	// job is a river.JobArgs; Insert checks that River can use it.
	var args river.JobArgs = job
	return e.c.Enqueue(ctx, e.tenant, args)
}
