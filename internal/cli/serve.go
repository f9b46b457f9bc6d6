package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/alert"
	"github.com/gotenancy/tenancy/api"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/cache/rediscache"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/feed"
	"github.com/gotenancy/tenancy/internal/server"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/store/pgstore"
)

func newServeCmd(o *options) *cobra.Command {
	var (
		addr            string
		demoMode        bool
		headerResolver  bool
		accessLog       bool
		logFormat       string
		maxBody         int64
		shutdownTimeout time.Duration
		secureCookies   bool
		trusted         []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the tenants' application and the central routes over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var handler slog.Handler
			switch logFormat {
			case "text":
				handler = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
			case "json":
				handler = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
			default:
				return fmt.Errorf("invalid --log-format %q: want text or json", logFormat)
			}
			if maxBody < 1 {
				return fmt.Errorf("invalid --max-body %d: must be at least 1", maxBody)
			}
			proxies, err := server.ParseTrustedProxies(trusted)
			if err != nil {
				return fmt.Errorf("invalid --trusted-proxies: %w", err)
			}
			logger := slog.New(handler)
			o.log = logger
			ctx := cmd.Context()
			if demoMode {
				if _, err := install(ctx, o); err != nil {
					return err
				}
			}
			e, err := openEnv(ctx, o, true)
			if err != nil {
				return err
			}
			defer e.Close()
			// Creates and deletes that a crash interrupted are undone or
			// finished before anything is served.
			if r, err := e.mgr.Repair(ctx); err != nil {
				logger.WarnContext(ctx, "repair at start failed; run tenancy repair", "err", err)
			} else {
				for _, a := range r.Actions {
					logger.InfoContext(ctx, "repair at start", "tenant", a.Tenant, "database", a.Database, "action", a.Action, "holder", a.Holder, "err", a.Error)
				}
			}
			var demoHosts []string
			if demoMode {
				if demoHosts, err = ensureDemoTenants(ctx, cmd, e); err != nil {
					return err
				}
			}
			rateLimit, err := api.RateLimitFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			if demoMode {
				_, secret, err := e.cp.CreateAPIKey(tenancy.WithActor(ctx, tenancy.Actor{Name: "serve --demo"}),
					"demo-"+time.Now().UTC().Format("20060102-150405.000000"), []controlplane.Scope{controlplane.ScopeAdmin})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "API key (admin, for this demo): %s\n  curl -H 'X-API-Key: %s' %s/tenancy/tenants\n", secret, secret, baseURL(addr))
				email, password, err := ensureDemoAdmin(tenancy.WithActor(ctx, tenancy.Actor{Name: "serve --demo"}), e)
				if err != nil {
					return err
				}
				if email != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "dashboard: %s  email %s  password %s\n", dashboardURL(addr), email, password)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "dashboard: %s (sign in with an existing admin user; `tenancy admin create` adds one)\n", dashboardURL(addr))
				}
			}
			watcher, _ := e.store.(resolve.Watcher)
			if e.feed != nil {
				watcher = feed.Multi(watcher, e.feed)
			}
			cfg := &server.Config{
				Manager:        e.mgr,
				ControlPlane:   e.cp,
				Storage:        e.storage,
				DataDir:        o.dataDir,
				Watcher:        watcher,
				Logger:         logger,
				CentralDomains: o.centralDomains,
				HeaderResolver: headerResolver,
				AccessLog:      accessLog,
				MaxBodyBytes:   maxBody,
				EnvAPIKey:      os.Getenv("TENANT_API_KEY"),
				EnvBearerToken: os.Getenv("TENANT_BEARER_TOKEN"),
				RateLimit:      rateLimit,
				TrustedProxies: proxies,
				DemoHosts:      demoHosts,
			}
			if pg, ok := e.store.(*pgstore.Store); ok {
				cfg.JobsPool = pg.Pool()
			}
			if cfg.Backups, err = backupService(ctx, o, e); err != nil {
				return err
			}
			if cfg.BackupSchedule, err = backupSchedule(); err != nil {
				return err
			}
			if o.redisURL != "" {
				rc, err := rediscache.New(ctx, &rediscache.Config{URL: o.redisURL, Logger: logger})
				if err != nil {
					return err
				}
				defer rc.Close()
				cfg.Cache = rc
				cfg.ReadyChecks = map[string]func(context.Context) error{"redis": rc.Ping}
				counter, err := api.NewRedisCounter(o.redisURL)
				if err != nil {
					return err
				}
				defer counter.Close()
				cfg.RateLimit.Shared = counter
			}
			if cfg.Alerts, err = alertsFromEnv(logger); err != nil {
				return err
			}
			cfg.SecureCookies = secureCookies
			srv, err := server.New(ctx, cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				srv.Close(ctx)
				return err
			}
			port := ln.Addr().(*net.TCPAddr).Port
			logger.Info("serving", "addr", ln.Addr().String(), "data_dir", o.dataDir, "central_domains", strings.Join(o.centralDomains, ","))
			fmt.Fprintf(cmd.OutOrStdout(), "Serving on http://localhost:%d/ (tenants at http://test1.localhost:%d/ …); Ctrl-C stops\n", port, port)
			return srv.Serve(ctx, ln, shutdownTimeout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", ":8080", "address to listen on")
	f.BoolVar(&demoMode, "demo", false, "install the demo application and create test1.localhost … test5.localhost when there are no tenants")
	f.BoolVar(&headerResolver, "header-resolver", false, "let the X-Tenant header pick the tenant (only behind an authenticating proxy)")
	f.BoolVar(&accessLog, "access-log", true, "log every request")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.Int64Var(&maxBody, "max-body", 10<<20, "largest request body in bytes")
	f.BoolVar(&secureCookies, "secure-cookies", false, "mark the dashboard's session cookie Secure on plain HTTP too (behind a proxy that terminates TLS)")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests and jobs get to finish on shutdown")
	f.StringSliceVar(&trusted, "trusted-proxies", envList("TENANCY_TRUSTED_PROXIES", nil),
		"networks of the reverse proxies in front of the server (CIDR,…): only requests from them have their client address taken from X-Forwarded-For (env TENANCY_TRUSTED_PROXIES; default: trust nobody)")
	return cmd
}

// demoTenants is how many test tenants serve --demo creates.
const demoTenants = 5

// ensureDemoTenants creates the test tenants when there are none, and
// returns the domains of those that exist (for the central page's links).
func ensureDemoTenants(ctx context.Context, cmd *cobra.Command, e *env) ([]string, error) {
	res, err := e.mgr.List(ctx, tenancy.ListOptions{PerPage: 1})
	if err != nil {
		return nil, err
	}
	if res.Total == 0 {
		made, err := createTestTenants(ctx, e, demoTenants, "test", true)
		for _, t := range made {
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s)\n", t.PrimaryDomain(), t.UUID)
		}
		if err != nil {
			return nil, err
		}
	}
	var hosts []string
	for i := 1; i <= demoTenants; i++ {
		domain := fmt.Sprintf("test%d.localhost", i)
		switch _, err := e.mgr.Get(ctx, domain); {
		case err == nil:
			hosts = append(hosts, domain)
		case !errors.Is(err, tenancy.ErrNotFound):
			return nil, err
		}
	}
	return hosts, nil
}

// alertsFromEnv builds the alert engine from the TENANCY_ALERT_*
// variables (see package alert); nil when no threshold is set. The channel
// variables are checked even then, so that a mistake in them is an error
// rather than silence; channels without a threshold are warned about.
func alertsFromEnv(logger *slog.Logger) (*alert.Engine, error) {
	th, thErr := alert.ThresholdsFromEnv(os.Getenv)
	notifiers, nErr := alert.NotifiersFromEnv(os.Getenv, &http.Client{Timeout: 15 * time.Second})
	if err := errors.Join(thErr, nErr); err != nil {
		return nil, err
	}
	if th == (alert.Thresholds{MinRequests: th.MinRequests}) {
		if len(notifiers) > 0 {
			logger.Warn("alert notification channels are set but no alert threshold is: no alert rule is on (set TENANCY_ALERT_DATABASE_SIZE, _P95_LATENCY, _ERROR_RATE, _MEMORY_USE or _CONNECTION_BUDGET)")
		}
		return nil, nil
	}
	if len(notifiers) == 0 {
		logger.Warn("alert thresholds are set but no notification channel is: alerts show on the dashboard only")
	}
	return alert.New(&alert.Config{Thresholds: th, Notifiers: notifiers, Logger: logger})
}

// backupSchedule reads the scheduled backups' settings: on when
// TENANCY_BACKUP_ENABLED=true, at TENANCY_BACKUP_SCHEDULE (cron, UTC;
// default daily at 02:00), TENANCY_BACKUP_CONCURRENCY tenants at once,
// pruning after TENANCY_BACKUP_RETENTION_DAYS (default 7).
func backupSchedule() (*server.BackupSchedule, error) {
	if !envBool("TENANCY_BACKUP_ENABLED", false) {
		return nil, nil
	}
	expr := os.Getenv("TENANCY_BACKUP_SCHEDULE")
	if expr == "" {
		expr = server.DefaultBackupSchedule
	}
	if _, err := server.ParseBackupCron(expr); err != nil {
		return nil, fmt.Errorf("TENANCY_BACKUP_SCHEDULE: %w", err)
	}
	days, concurrency := envInt("TENANCY_BACKUP_RETENTION_DAYS", 7), envInt("TENANCY_BACKUP_CONCURRENCY", 1)
	if days < 1 || concurrency < 1 {
		return nil, errors.New("TENANCY_BACKUP_RETENTION_DAYS and TENANCY_BACKUP_CONCURRENCY must be at least 1")
	}
	return &server.BackupSchedule{Cron: expr, Concurrency: concurrency, Retention: time.Duration(days) * 24 * time.Hour,
		Options: backups.Options{Compress: envBool("TENANCY_BACKUP_COMPRESS", false)}}, nil
}
