package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/admin"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/api"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/demo"
	"github.com/gotenancy/tenancy/jobs"
	"github.com/gotenancy/tenancy/monitor"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/storage"
)

// Config configures a Server.
type Config struct {
	// Manager is the service layer; required.
	Manager *tenancy.Manager
	// Backups backs tenants up and restores them for the API; nil leaves
	// the backup endpoints answering 503.
	Backups *backups.Service
	// BackupSchedule, with Backups, runs scheduled backups as a River
	// periodic job (nil: none).
	BackupSchedule *BackupSchedule
	// ControlPlane holds API keys, admin users and the audit log; required.
	ControlPlane *controlplane.ControlPlane
	// Storage holds tenant files; required.
	Storage *storage.Storage
	// DataDir holds the jobs database; required.
	DataDir string
	// Watcher reports catalog changes made by other processes; optional.
	Watcher resolve.Watcher
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// CentralDomains bypass tenancy; default localhost and 127.0.0.1.
	CentralDomains []string
	// HeaderResolver lets the X-Tenant header pick a tenant (off by default:
	// only for deployments where something in front authenticates callers).
	HeaderResolver bool
	// AccessLog logs every request.
	AccessLog bool
	// MaxBodyBytes bounds request bodies; default 10 MiB.
	MaxBodyBytes int64
	// AccessFlushInterval is how often last access is written; default 5s.
	AccessFlushInterval time.Duration
	// JobWorkers is the number of job workers; default 10.
	JobWorkers int
	// JobsPool runs jobs on PostgreSQL (River's pgx driver); nil keeps
	// them in <DataDir>/jobs.sqlite.
	JobsPool *pgxpool.Pool
	// Cache is the tenant cache backend; nil means in-process memory.
	Cache cache.Backend
	// EnvAPIKey and EnvBearerToken are admin credentials for the REST API
	// from the environment (TENANT_API_KEY, TENANT_BEARER_TOKEN).
	EnvAPIKey, EnvBearerToken string
	// RateLimit limits the REST API per credential and client IP.
	RateLimit api.RateLimitConfig
	// Alerts, if set, evaluates the alert rules against each monitoring
	// sample; its history is shown on the monitoring dashboard.
	Alerts *alert.Engine
	// DatabaseSizeInterval is how often tenant database sizes are measured
	// for the database size alert; default DefaultDatabaseSizeInterval.
	DatabaseSizeInterval time.Duration
	// ReadyChecks are extra named readiness checks for /readyz (Redis).
	ReadyChecks map[string]func(context.Context) error
	// SampleInterval is the time between monitoring samples; default 1 s.
	SampleInterval time.Duration
	// SecureCookies marks the dashboard's session cookie Secure on plain
	// HTTP too (behind a proxy that terminates TLS).
	SecureCookies bool
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server (see ParseTrustedProxies). A request whose peer is in one
	// of them has its client address taken from X-Forwarded-For (the
	// rightmost address that is not a trusted proxy); every other
	// request's client is its peer. The client address is what the
	// sign-in and API rate limits, the audit log and the access log see.
	// Empty trusts nobody.
	TrustedProxies []netip.Prefix
	// DemoHosts are the domains of the demo tenants that the central page
	// links to (serve --demo). Otherwise the central page names no tenant.
	DemoHosts []string
}

// Server is the assembled HTTP server and its background work.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	resolver *resolve.Cache
	jobs     *jobs.Client
	jobsDB   *sql.DB
	cache    cache.Backend
	api      *api.API
	monitor  *monitor.Monitor
	admin    *admin.Admin
	alerter  *alerter
	metrics  *tenancy.RequestMetrics
	cancel   context.CancelFunc
	done     chan struct{}
}

// New assembles a server; Start begins its background work.
func New(ctx context.Context, cfg *Config) (*Server, error) {
	if cfg == nil || cfg.Manager == nil || cfg.ControlPlane == nil || cfg.Storage == nil || cfg.DataDir == "" {
		return nil, errors.New("server: Manager, ControlPlane, Storage and DataDir are required")
	}
	s := &Server{cfg: *cfg, log: cfg.Logger, metrics: tenancy.NewRequestMetrics(), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.MaxBodyBytes <= 0 {
		s.cfg.MaxBodyBytes = 10 << 20
	}
	if s.cfg.AccessFlushInterval <= 0 {
		s.cfg.AccessFlushInterval = 5 * time.Second
	}
	mgr := cfg.Manager

	var err error
	s.cache = cfg.Cache
	if s.cache == nil {
		if s.cache, err = cache.NewMemory(nil); err != nil {
			return nil, err
		}
	}
	jobsCfg := &jobs.Config{Manager: mgr, Pool: cfg.JobsPool, Workers: river.NewWorkers(), Concurrency: cfg.JobWorkers, Logger: s.log}
	river.AddWorker(jobsCfg.Workers, demo.EchoWorker{})
	if sb := cfg.BackupSchedule; sb != nil && cfg.Backups != nil {
		sched, err := ParseBackupCron(sb.Cron)
		if err != nil {
			return nil, err
		}
		river.AddWorker(jobsCfg.Workers, &scheduledBackupWorker{svc: cfg.Backups, sched: *sb, log: s.log})
		jobsCfg.Central = []string{scheduledBackupKind}
		jobsCfg.River = &river.Config{PeriodicJobs: []*river.PeriodicJob{periodicBackup(sched, sb.RunOnStart)}}
	}
	if cfg.JobsPool == nil {
		if s.jobsDB, err = jobs.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "jobs.sqlite")); err != nil {
			return nil, err
		}
		jobsCfg.DB = s.jobsDB
	}
	if s.jobs, err = jobs.Open(ctx, jobsCfg); err != nil {
		s.closeJobsDB()
		return nil, err
	}
	mgr.Use(
		tenancy.NewLogBootstrapper(s.log),
		cache.NewBootstrapper(s.cache),
		storage.NewBootstrapper(cfg.Storage),
		s.jobs.Bootstrapper(),
	)
	mgr.On(tenancy.EventDeleted, func(ctx context.Context, e tenancy.Event) error {
		s.metrics.Forget(e.Tenant.ID)
		return s.cache.FlushTenant(ctx, e.Tenant.UUID)
	})

	// Changes reach this node within about 50 ms: the watcher polls (or is
	// told) that often, and reloads start at most that often.
	s.resolver, err = resolve.NewCache(ctx, mgr, &resolve.CacheConfig{Watcher: cfg.Watcher, PollInterval: 50 * time.Millisecond})
	if err != nil {
		s.closeJobsDB()
		return nil, err
	}
	resolvers := []resolve.Resolver{resolve.Domain(), resolve.Subdomain(), resolve.Path("/t/")}
	if cfg.HeaderResolver {
		resolvers = append(resolvers, resolve.Header("X-Tenant"))
	}
	chain, err := resolve.NewChain(&resolve.ChainConfig{Cache: s.resolver, CentralDomains: cfg.CentralDomains, Resolvers: resolvers})
	if err != nil {
		s.resolver.Close()
		s.closeJobsDB()
		return nil, err
	}
	s.api, err = api.New(&api.Config{
		Manager: mgr, ControlPlane: cfg.ControlPlane, Cache: s.cache, Resolver: s.resolver, Metrics: s.metrics, Storage: cfg.Storage, Jobs: s.jobs, Backups: cfg.Backups,
		DataDir: cfg.DataDir, StartedAt: time.Now(), Logger: s.log,
		EnvAPIKey: cfg.EnvAPIKey, EnvBearerToken: cfg.EnvBearerToken, RateLimit: cfg.RateLimit,
	})
	if err != nil {
		s.resolver.Close()
		s.closeJobsDB()
		return nil, err
	}
	monCfg := &monitor.Config{
		Manager: mgr, Metrics: s.metrics, Resolver: s.resolver, Cache: s.cache, Jobs: s.jobs, DataDir: cfg.DataDir,
		ReadyChecks: cfg.ReadyChecks, SampleInterval: cfg.SampleInterval, Logger: s.log,
	}
	if cfg.Alerts != nil {
		s.alerter = newAlerter(cfg.Alerts, mgr, cfg.DatabaseSizeInterval, s.log)
		monCfg.Alerts = cfg.Alerts
		monCfg.OnSample = s.alerter.offer
	}
	if s.monitor, err = monitor.New(monCfg); err == nil {
		s.admin, err = admin.New(&admin.Config{
			Manager: mgr, ControlPlane: cfg.ControlPlane, Metrics: s.metrics, Backups: cfg.Backups, Monitoring: s.monitor.AdminHandler(), APIKeyAllows: s.api.Allows,
			SecureCookies: cfg.SecureCookies, Logger: s.log,
		})
	}
	if err != nil {
		s.api.Close()
		s.resolver.Close()
		s.closeJobsDB()
		return nil, err
	}
	var h http.Handler = tenancy.Middleware(demo.Handler(), &tenancy.MiddlewareConfig{
		Manager:  mgr,
		Resolver: chain,
		Central:  s.centralHandler(),
		Metrics:  s.metrics,
	})
	h = s.limitBodies(h)
	if cfg.AccessLog {
		h = s.logRequests(h)
	}
	s.handler = trustedProxies(cfg.TrustedProxies).withClientAddr(s.recoverPanics(h))
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics are the per-tenant request metrics.
func (s *Server) Metrics() *tenancy.RequestMetrics { return s.metrics }

// Resolver is the tenant resolution cache.
func (s *Server) Resolver() *resolve.Cache { return s.resolver }

// Jobs is the background job client.
func (s *Server) Jobs() *jobs.Client { return s.jobs }

// Start starts the job workers, last-access tracking, the monitoring
// sampler and alert evaluation.
func (s *Server) Start(ctx context.Context) error {
	if err := s.jobs.Start(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := s.monitor.Start(bg); err != nil {
		cancel()
		_ = s.jobs.Stop(ctx)
		return err
	}
	s.cancel = cancel
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		if s.alerter != nil {
			wg.Go(func() { s.alerter.run(bg) })
		}
		s.metrics.TrackAccess(bg, s.cfg.Manager, s.cfg.AccessFlushInterval)
		wg.Wait()
	}()
	return nil
}

// Close stops the background work: running jobs finish (bounded by ctx),
// last access is flushed, and the resolver stops watching.
func (s *Server) Close(ctx context.Context) error {
	var errs []error
	if s.cancel != nil {
		errs = append(errs, s.jobs.Stop(ctx))
		s.cancel()
		<-s.done
	}
	errs = append(errs, s.monitor.Close())
	s.api.Close()
	errs = append(errs, s.resolver.Close(), s.closeJobsDB())
	return errors.Join(errs...)
}

// closeJobsDB closes the SQLite jobs database, if the server opened one.
func (s *Server) closeJobsDB() error {
	if s.jobsDB == nil {
		return nil
	}
	return s.jobsDB.Close()
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// in-flight requests finish (within shutdownTimeout), then background work stops.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	// Shutdown waits for open requests: end the dashboards' event streams.
	// (Shutdown runs each function on its own goroutine.)
	srv.RegisterOnShutdown(s.admin.Close)
	srv.RegisterOnShutdown(func() { _ = s.monitor.Close() })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutdownErr, s.Close(sctx))
}

// limitBodies bounds request bodies.
func (s *Server) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			tenancy.DefaultPage(w, r, tenancy.Page{Code: http.StatusRequestEntityTooLarge, Title: "Request Entity Too Large",
				Message: fmt.Sprintf("request bodies are limited to %d bytes", s.cfg.MaxBodyBytes)})
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500, never a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				tenancy.DefaultPage(w, r, tenancy.Page{Code: http.StatusInternalServerError, Title: "Internal Server Error", Message: "Something went wrong."})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// loggedWriter records the status for the access log.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (lw *loggedWriter) WriteHeader(code int) {
	if lw.status == 0 {
		lw.status = code
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *loggedWriter) Write(b []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	n, err := lw.ResponseWriter.Write(b)
	lw.bytes += n
	return n, err
}

func (lw *loggedWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

func (lw *loggedWriter) Flush() {
	if f, ok := lw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logRequests writes one structured log line per request: remote is the
// client's address, and peer the proxy's when the request came through a
// trusted proxy. A maintenance secret in the path is redacted.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggedWriter{ResponseWriter: w}
		next.ServeHTTP(lw, r)
		if lw.status == 0 {
			lw.status = http.StatusOK
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", tenancy.RedactMaintenancePath(r.URL.Path)),
			slog.Int("status", lw.status), slog.Int("bytes", lw.bytes), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		}
		if peer, ok := r.Context().Value(peerKey{}).(string); ok {
			attrs = append(attrs, slog.String("peer", peer))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

var centralTemplate = template.Must(template.New("central").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tenancy</title><style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{font-size:.95em}</style></head>
<body><h1>tenancy</h1>
<p>Multi-tenancy for Go applications: each tenant has its own database, cache, files and jobs, and is served on its own host.</p>
<ul>
<li><a href="/admin/">Admin dashboard</a> (sign in first)</li>
<li><a href="/tenancy/openapi.json">REST API documentation</a> (OpenAPI; send an API key in <code>X-API-Key</code>)</li>
</ul>
{{if .Demo}}<h2>Demo tenants</h2>
<ul>{{range .Demo}}<li><a href="http://{{.}}{{$.PortSuffix}}/">{{.}}</a></li>{{end}}</ul>{{end}}
</body></html>
`))

// centralHandler serves the central domains: a short product page, the
// REST API, the dashboard and the probes. The page is public, so it never
// lists tenants; with DemoHosts it links the demo tenants.
func (s *Server) centralHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		suffix := ""
		if u, err := url.Parse("http://" + r.Host); err == nil && u.Port() != "" {
			suffix = ":" + u.Port()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		centralTemplate.Execute(w, map[string]any{"Demo": s.cfg.DemoHosts, "PortSuffix": suffix})
	})
	mux.Handle("/tenancy/", s.api)
	mux.Handle("GET /healthz", s.monitor.Healthz())
	mux.Handle("GET /readyz", s.monitor.Readyz())
	mux.Handle("GET /metrics", s.monitor.Metrics())
	mux.Handle("/admin/", s.admin)
	mux.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	return mux
}
