package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/controlplane"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultSessionTTL is how long a sign-in lasts when Config.SessionTTL is
// zero.
const DefaultSessionTTL = 12 * time.Hour

// Config configures the dashboard. Only Manager is required.
type Config struct {
	// Manager is the service layer every page goes through (required).
	Manager *tenancy.Manager
	// ControlPlane holds the admin users, their sessions and the audit
	// log (required).
	ControlPlane *controlplane.ControlPlane
	// Metrics are the per-tenant request metrics shown on a tenant's page.
	Metrics *tenancy.RequestMetrics
	// Backups lists, takes, restores and downloads a tenant's backups and
	// exports its data on the tenant's page; nil: the page says backups
	// are not configured.
	Backups *backups.Service
	// Monitoring serves the live monitoring routes under
	// /admin/monitoring/ (see monitor.Monitor.AdminHandler); nil leaves
	// them out.
	Monitoring http.Handler
	// APIKeyAllows, if set, lets API clients reach the monitoring routes
	// with an API key instead of a session: it reports whether the
	// request's credential has the scope.
	APIKeyAllows func(r *http.Request, scope controlplane.Scope) bool
	// SessionTTL is how long a sign-in lasts; default DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests (behind a proxy that terminates TLS). Requests that arrive
	// over TLS always get Secure cookies.
	SecureCookies bool
	// SignInLimit is how many failed sign-ins one client address, or one
	// email address, may make per SignInWindow; default 5 per 15 minutes.
	// An attempt counts from the moment it is made until it succeeds, so
	// attempts sent in parallel are limited too. The client address is
	// the request's RemoteAddr, with IPv6 addresses grouped by /64: behind
	// a reverse proxy it is the proxy's unless something in front of the
	// dashboard puts the client's there (serve does, for its
	// --trusted-proxies), and the per-address limit otherwise applies to
	// all clients of the proxy together. The limiter
	// tracks at most 10,000 addresses and emails; while it is full of
	// unexpired counts, attempts from addresses or for emails it does not
	// track are refused (429).
	SignInLimit  int
	SignInWindow time.Duration
	// Logger receives the dashboard's logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of sign-in rate-limit windows and of fleet run start
	// and finish times (session expiry is the ControlPlane's clock);
	// default time.Now.
	Now func() time.Time
}

// Admin is the dashboard's http.Handler, to be mounted at /admin/ on
// central hosts.
type Admin struct {
	cfg      Config
	mgr      *tenancy.Manager
	cp       *controlplane.ControlPlane
	log      *slog.Logger
	pages    map[string]*template.Template
	handler  http.Handler
	limiter  *signInLimiter
	fleet    *fleetRuns
	sessions sessionCookie
	// closing is closed by Close: event streams end.
	closing   chan struct{}
	closeOnce sync.Once
	// runsCtx is the context of work that outlives a request (fleet
	// runs), cancelled by Close; runs counts its goroutines, which Close
	// waits for. runsMu orders starting one against Close, so none starts
	// once Close has begun.
	runsCtx  context.Context
	stopRuns context.CancelFunc
	runsMu   sync.Mutex
	runs     sync.WaitGroup
}

// New returns the dashboard. It copies cfg.
func New(cfg *Config) (*Admin, error) {
	if cfg == nil || cfg.Manager == nil {
		return nil, errors.New("admin: Config.Manager is required")
	}
	if cfg.ControlPlane == nil {
		return nil, errors.New("admin: Config.ControlPlane is required")
	}
	c := *cfg
	if c.SessionTTL < 0 || c.SignInLimit < 0 || c.SignInWindow < 0 {
		return nil, errors.New("admin: SessionTTL, SignInLimit and SignInWindow must not be negative")
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SignInLimit == 0 {
		c.SignInLimit = 5
	}
	if c.SignInWindow == 0 {
		c.SignInWindow = 15 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	a := &Admin{
		cfg:      c,
		mgr:      c.Manager,
		cp:       c.ControlPlane,
		log:      c.Logger,
		pages:    pages,
		limiter:  newSignInLimiter(c.SignInLimit, c.SignInWindow),
		fleet:    newFleetRuns(c.Now),
		sessions: sessionCookie{secure: c.SecureCookies},
		closing:  make(chan struct{}),
	}
	a.runsCtx, a.stopRuns = context.WithCancel(context.Background())
	a.handler = http.NewCrossOriginProtection().Handler(a.routes())
	return a, nil
}

// ServeHTTP serves the dashboard.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	a.handler.ServeHTTP(w, r)
}

// Close prepares the dashboard for a graceful shutdown (which waits for
// open requests): it ends the open event streams and stops a fleet
// migration started from the dashboard. Tenants the run has not started
// are skipped; those migrating get a cancelled context (each tenant's
// migration is its own transaction, rolled back). Close returns when the
// run has ended and recorded its outcomes; a fleet migration cannot be
// started after it.
func (a *Admin) Close() {
	a.closeOnce.Do(func() {
		close(a.closing)
		a.runsMu.Lock()
		a.stopRuns()
		a.runsMu.Unlock()
	})
	a.runs.Wait()
}

// background runs fn in a goroutine that Close stops and waits for. fn's
// context carries ctx's values (the audit actor) but not its
// cancellation: it is cancelled by Close. It returns false, running
// nothing, once Close has begun.
func (a *Admin) background(ctx context.Context, fn func(ctx context.Context)) bool {
	a.runsMu.Lock()
	defer a.runsMu.Unlock()
	if a.runsCtx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(a.runsCtx, cancel)
	a.runs.Go(func() {
		defer cancel()
		defer stop()
		fn(ctx)
	})
	return true
}

// routes builds the dashboard's mux. Every route but sign-in and the
// static files needs a signed-in admin.
func (a *Admin) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", staticHandler(static)))
	mux.HandleFunc("GET /admin/login", a.loginPage)
	mux.HandleFunc("POST /admin/login", a.login)
	mux.Handle("POST /admin/logout", a.signedIn(a.logout))
	mux.Handle("GET /admin/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/tenants", http.StatusSeeOther)
	}))
	a.registerTenantRoutes(mux)
	if a.cfg.Monitoring != nil {
		mux.Handle("/admin/monitoring/", a.monitoringAuth(a.cfg.Monitoring))
	}
	mux.Handle("/admin/", a.signedIn(func(w http.ResponseWriter, r *http.Request) {
		a.renderError(w, r, http.StatusNotFound, "There is no such page.")
	}))
	return mux
}

// staticHandler serves the embedded stylesheet and scripts with a short
// cache lifetime.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// userKey carries the signed-in admin in a request's context.
type userKey struct{}

// userFrom returns the signed-in admin of a request that went through
// signedIn.
func userFrom(ctx context.Context) *controlplane.AdminUser {
	u, _ := ctx.Value(userKey{}).(*controlplane.AdminUser)
	return u
}

// signedIn runs h for signed-in admins, with the admin as the audit
// actor; others are sent to the sign-in page (or get 401 when they do not
// want HTML). While h runs the session is checked again every
// recheckInterval, and the request is ended (its context cancelled) once
// the session has ended: signed out, expired, or its user deleted. That is
// what closes the event streams of a session that is over.
func (a *Admin) signedIn(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := a.sessionUser(r)
		if !ok {
			if r.Method == http.MethodGet && !wantsJSON(r) {
				http.Redirect(w, r, "/admin/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.renderError(w, r, http.StatusUnauthorized, "Sign in first.")
			return
		}
		ctx := context.WithValue(r.Context(), userKey{}, u)
		ctx = tenancy.WithActor(ctx, tenancy.Actor{Name: "admin:" + u.Email, ClientIP: clientIP(r), RequestID: r.Header.Get("X-Request-Id")})
		w.Header().Set("Cache-Control", "no-store")
		r = r.WithContext(ctx)
		whileValid(r, func(r *http.Request) bool {
			_, ok := a.sessionUser(r)
			return ok
		}, func(r *http.Request) { h(w, r) })
	})
}

// recheckInterval is how often a request still running (an event stream)
// checks that its session or API key is still valid.
const recheckInterval = 5 * time.Second

// whileValid runs serve with r in a context that is cancelled as soon as
// valid, asked every recheckInterval while serve runs, says that the
// request's credential is no longer good. A check that cannot be made
// within recheckInterval (the catalog is down) counts as failed: the
// stream ends, and the client reconnects and signs in again. Short requests end before any check: a
// stopped timer is all they cost.
func whileValid(r *http.Request, valid func(*http.Request) bool, serve func(*http.Request)) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	r = r.WithContext(ctx)
	var (
		mu    sync.Mutex
		done  bool
		timer *time.Timer
	)
	mu.Lock()
	timer = time.AfterFunc(recheckInterval, func() {
		cctx, stop := context.WithTimeout(ctx, recheckInterval)
		ok := valid(r.WithContext(cctx))
		stop()
		if !ok {
			cancel()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !done {
			timer.Reset(recheckInterval)
		}
	})
	mu.Unlock()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		timer.Stop()
	}()
	serve(r)
}

// monitoringAuth lets signed-in admins, and API clients whose key has the
// scope (read; admin for changes), reach the monitoring routes. A request
// is taken for an API client when it has an X-Api-Key header or a Bearer
// Authorization; other Authorization schemes (Basic from a proxy in front
// of the dashboard) go the session's way.
func (a *Admin) monitoringAuth(h http.Handler) http.Handler {
	session := a.signedIn(h.ServeHTTP)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.APIKeyAllows != nil && (r.Header.Get("X-Api-Key") != "" || isBearer(r.Header.Get("Authorization"))) {
			scope := controlplane.ScopeRead
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				scope = controlplane.ScopeAdmin
			}
			if !a.cfg.APIKeyAllows(r, scope) {
				writeJSONError(w, http.StatusUnauthorized, "Invalid or missing API key, or the key lacks the "+string(scope)+" scope.")
				return
			}
			ctx := tenancy.WithActor(r.Context(), tenancy.Actor{Name: "api-key", ClientIP: clientIP(r)})
			// A stream ends once the key is revoked, as a session's does.
			whileValid(r.WithContext(ctx), func(r *http.Request) bool { return a.cfg.APIKeyAllows(r, scope) },
				func(r *http.Request) { h.ServeHTTP(w, r) })
			return
		}
		session.ServeHTTP(w, r)
	})
}

// isBearer reports whether an Authorization header carries a bearer token
// (the scheme is case-insensitive).
func isBearer(auth string) bool {
	const scheme = "Bearer "
	return len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme)
}

// page is what every template gets.
type page struct {
	Title string
	// Nav marks the current section: tenants, migrations, monitoring.
	Nav   string
	User  *controlplane.AdminUser
	Flash string
	// Data is the page's own data.
	Data any
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("admin: parsing the layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("admin: parsing %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// render writes a page with status. name is the template file's name
// without ".html".
func (a *Admin) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := a.pages[name]
	if !ok {
		a.log.ErrorContext(r.Context(), "admin: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p.User == nil {
		p.User = userFrom(r.Context())
	}
	if p.Flash == "" {
		p.Flash = takeFlash(w, r)
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		a.log.ErrorContext(r.Context(), "admin: rendering", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// renderError writes an error page (or the JSON error envelope to clients
// that want JSON).
func (a *Admin) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeJSONError(w, status, msg)
		return
	}
	a.render(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}
