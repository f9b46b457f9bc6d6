package tenancy

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RequestResolver identifies the tenant of a request (package resolve has
// the standard chain of domain, subdomain, path and header resolvers).
type RequestResolver interface {
	// ResolveRequest returns the tenant and the request to pass on (its
	// path prefix stripped, for example). A request for the central
	// application gives a nil tenant; an unknown tenant an error wrapping
	// ErrNotFound.
	ResolveRequest(r *http.Request) (*Tenant, *http.Request, error)
}

// MaintenanceBypassPrefix is the path under which a tenant's maintenance
// secret sets the bypass cookie: /__maintenance/<secret>.
const MaintenanceBypassPrefix = "/__maintenance/"

// maintenanceCookie is the name of the maintenance bypass cookie.
const maintenanceCookie = "tenancy_maintenance_bypass"

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// Manager runs the bootstrappers; required.
	Manager *Manager
	// Resolver identifies tenants; required.
	Resolver RequestResolver
	// Central serves requests for central domains; default 404.
	Central http.Handler
	// Pages replaces the refusal pages by kind; missing kinds use the
	// built-in page (HTML for browsers, the JSON error envelope for JSON clients).
	Pages map[PageKind]PageFunc
	// Metrics, if set, records each tenant request and its last access.
	Metrics *RequestMetrics
	// RetryAfter is the Retry-After of maintenance answers; default 5 minutes.
	RetryAfter time.Duration
}

// Middleware wraps next, the tenant application: each request is resolved
// to its tenant, refused when the tenant's state says so, and otherwise
// served in the tenant's context (FromContext, DB, Cache, Storage, Enqueue,
// Logger). It panics when cfg lacks the Manager or the Resolver, like
// http.ServeMux does for bad patterns: that is a programming error.
func Middleware(next http.Handler, cfg *MiddlewareConfig) http.Handler {
	if cfg == nil || cfg.Manager == nil || cfg.Resolver == nil {
		panic("tenancy: Middleware needs a Manager and a Resolver")
	}
	mw := &middleware{next: next, cfg: *cfg}
	if mw.cfg.Central == nil {
		mw.cfg.Central = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mw.refuse(w, r, Page{Kind: PageNotFound, Code: http.StatusNotFound, Title: "Not Found", Message: "There is nothing here."})
		})
	}
	if mw.cfg.RetryAfter <= 0 {
		mw.cfg.RetryAfter = 5 * time.Minute
	}
	return mw
}

type middleware struct {
	next http.Handler
	cfg  MiddlewareConfig
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// unknownTenant is the answer for a host or path that names no tenant, and
// for a tenant being created or deleted: nothing tells the two apart.
var unknownTenant = Page{Kind: PageNotFound, Code: http.StatusNotFound, Title: "Not Found", Message: "No tenant is served at this address."}

func (mw *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, r2, err := mw.cfg.Resolver.ResolveRequest(r)
	switch {
	case errors.Is(err, ErrNotFound), err == nil && t != nil && t.Status.Lifecycle():
		mw.refuse(w, r, unknownTenant)
		return
	case err != nil:
		mw.cfg.Manager.log.ErrorContext(r.Context(), "resolving tenant", "host", r.Host, "err", err)
		mw.refuse(w, r, Page{Kind: PageUnavailable, Code: http.StatusServiceUnavailable, Title: "Service Unavailable", Message: "The tenant could not be looked up; try again shortly."})
		return
	case t == nil:
		mw.cfg.Central.ServeHTTP(w, r2)
		return
	}
	if !t.Status.Served() {
		mw.refuseTenant(w, r2, t, statusPage(t))
		return
	}
	if t.Maintenance {
		if mw.bypass(w, r2, basePath(r.URL.Path, r2.URL.Path), t) {
			return
		}
		if !hasBypassCookie(r2, t) {
			w.Header().Set("Retry-After", fmt.Sprint(int(mw.cfg.RetryAfter.Seconds())))
			msg := t.MaintenanceMessage
			if msg == "" {
				msg = "This site is down for maintenance. Please check back soon."
			}
			mw.refuseTenant(w, r2, t, Page{Kind: PageMaintenance, Code: http.StatusServiceUnavailable, Title: "Down for Maintenance", Message: msg, Tenant: t})
			return
		}
	}
	start := mw.cfg.Manager.now()
	ctx, s, err := mw.cfg.Manager.enter(r2.Context(), t)
	if err != nil {
		mw.cfg.Manager.log.ErrorContext(r.Context(), "bootstrapping tenant", "tenant", t.UUID, "err", err)
		mw.refuse(w, r2, Page{Kind: PageUnavailable, Code: http.StatusServiceUnavailable, Title: "Service Unavailable", Message: "The tenant could not be prepared; try again shortly.", Tenant: t})
		return
	}
	s.basePath = basePath(r.URL.Path, r2.URL.Path)
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	defer func() {
		s.finish(s.ctx)
		if mw.cfg.Metrics != nil {
			now := mw.cfg.Manager.now()
			mw.cfg.Metrics.Observe(t.ID, sw.code(), now.Sub(start), now)
		}
		sw.ResponseWriter = nil
		statusWriters.Put(sw)
	}()
	mw.next.ServeHTTP(sw, r2.WithContext(ctx))
}

// basePath is the prefix a resolver stripped from the path ("" for none).
func basePath(original, rewritten string) string {
	if len(original) > len(rewritten) && strings.HasSuffix(original, rewritten) {
		return strings.TrimSuffix(original[:len(original)-len(rewritten)], "/")
	}
	return ""
}

// statusPage is the refusal page of a tenant that is not active. It shows
// the tenant's visitor message, never its status reason: that one is the
// operator's.
func statusPage(t *Tenant) Page {
	p := Page{Code: http.StatusForbidden, Tenant: t, VisitorMessage: t.VisitorMessage}
	switch t.Status {
	case StatusBlocked:
		p.Kind, p.Title, p.Message = PageBlocked, "Blocked", "This site has been blocked."
	case StatusSuspended:
		p.Kind, p.Title, p.Message = PageSuspended, "Suspended", "This site is suspended."
	default:
		p.Kind, p.Title, p.Message = PageInactive, "Inactive", "This site is not active."
	}
	return p
}

// bypass handles /__maintenance/<secret>: a matching secret sets the bypass
// cookie and redirects to the tenant's home. base is the path prefix the
// resolver stripped (/t/{tenant} in path mode, "" on the tenant's own
// host): the cookie is scoped to it and the redirect goes there, so in
// path mode neither reaches the central host's other paths.
func (mw *middleware) bypass(w http.ResponseWriter, r *http.Request, base string, t *Tenant) bool {
	secret, ok := strings.CutPrefix(r.URL.Path, MaintenanceBypassPrefix)
	if !ok || t.MaintenanceSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(t.MaintenanceSecret)) != 1 {
		return false
	}
	home := base + "/"
	http.SetCookie(w, &http.Cookie{
		Name: maintenanceCookie, Value: t.MaintenanceSecret, Path: home,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 12 * 3600,
	})
	http.Redirect(w, r, home, http.StatusSeeOther)
	return true
}

// hasBypassCookie reports whether the request carries t's bypass cookie.
// In path mode a browser may send several cookies of that name (one per
// tenant path, most specific first); any of them may be t's.
func hasBypassCookie(r *http.Request, t *Tenant) bool {
	if t.MaintenanceSecret == "" {
		return false
	}
	for _, c := range r.CookiesNamed(maintenanceCookie) {
		if subtle.ConstantTimeCompare([]byte(c.Value), []byte(t.MaintenanceSecret)) == 1 {
			return true
		}
	}
	return false
}

// RedactMaintenancePath returns a request path with a maintenance secret
// (what follows MaintenanceBypassPrefix, on a tenant's host or under
// /t/{tenant}/) replaced, for logs: the secret lets anyone past
// maintenance mode. Other paths are returned unchanged.
func RedactMaintenancePath(path string) string {
	i := strings.Index(path, MaintenanceBypassPrefix)
	if i < 0 {
		return path
	}
	return path[:i+len(MaintenanceBypassPrefix)] + "REDACTED"
}

// refuseTenant refuses a known tenant's request and counts it in its metrics.
func (mw *middleware) refuseTenant(w http.ResponseWriter, r *http.Request, t *Tenant, p Page) {
	start := mw.cfg.Manager.now()
	mw.refuse(w, r, p)
	if mw.cfg.Metrics != nil {
		now := mw.cfg.Manager.now()
		mw.cfg.Metrics.Observe(t.ID, p.Code, now.Sub(start), now)
	}
}

func (mw *middleware) refuse(w http.ResponseWriter, r *http.Request, p Page) {
	if f := mw.cfg.Pages[p.Kind]; f != nil {
		f(w, r, p)
		return
	}
	DefaultPage(w, r, p)
}

// statusWriter records the status code a handler writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// Flush passes flushes through for streaming handlers.
func (sw *statusWriter) Flush() {
	if f, ok := sw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (sw *statusWriter) code() int {
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}
