package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/cache"
	"github.com/gotenancy/tenancy/controlplane"
	jsonenv "github.com/gotenancy/tenancy/internal/envelope"
	"github.com/gotenancy/tenancy/jobs"
	"github.com/gotenancy/tenancy/resolve"
	"github.com/gotenancy/tenancy/storage"
)

// Config configures an API.
type Config struct {
	// Manager is the service layer every endpoint goes through; required.
	Manager *tenancy.Manager
	// ControlPlane holds the API keys and the audit log; required.
	ControlPlane *controlplane.ControlPlane
	// Cache is the tenant cache backend; without it the cache endpoints
	// answer 503 and cache figures are absent.
	Cache cache.Backend
	// Resolver is the resolution cache. When set, GET /tenancy/tenants/{uuid}
	// answers from its snapshot (kept current by the Manager's events on
	// this process and by its watcher for other processes) and
	// /tenancy/cache-stats reports its counters; and each catalog change
	// its watcher reports empties the API key cache, so that a key
	// revoked on any node stops working here within the watcher's latency.
	Resolver *resolve.Cache
	// Metrics are the per-tenant request metrics (rates, latency, errors).
	Metrics *tenancy.RequestMetrics
	// Storage holds tenant files, for storage usage figures.
	Storage *storage.Storage
	// Backups backs tenants up and restores them; without it the backup
	// endpoints answer 503.
	Backups *backups.Service
	// Jobs is the background job client, for job figures.
	Jobs *jobs.Client
	// DataDir is the data directory whose disk use /tenancy/resources
	// measures; "" leaves the figure out.
	DataDir string
	// StartedAt is when the process started, for uptime; default the time
	// New is called.
	StartedAt time.Time
	// Now is the clock of rate-limit windows, key expiry, job times and
	// response stamps; default time.Now.
	Now func() time.Time
	// Logger receives unexpected errors; default slog.Default().
	Logger *slog.Logger

	// EnvAPIKey (TENANT_API_KEY) is accepted as an admin credential in
	// X-API-Key or as a bearer token; "" accepts none.
	EnvAPIKey string
	// EnvBearerToken (TENANT_BEARER_TOKEN) is accepted as an admin bearer
	// token; "" accepts none.
	EnvBearerToken string

	// RateLimit configures rate limiting; see RateLimitFromEnv. Its zero
	// value disables it.
	RateLimit RateLimitConfig

	// KeyCacheTTL is how long a verified API key is trusted without asking
	// the catalog again, and how long a failed verification is remembered.
	// Catalog changes reported by the Resolver's watcher empty the cache
	// at once; without a watcher, a key revoked by another process keeps
	// working here for at most this long. Default 5 s; negative disables
	// the cache (every request reads the catalog).
	KeyCacheTTL time.Duration
}

// DefaultKeyCacheTTL is the default of Config.KeyCacheTTL.
const DefaultKeyCacheTTL = 5 * time.Second

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 1 << 20

// API is the REST control plane: an http.Handler for /tenancy/…. It is safe
// for concurrent use.
type API struct {
	cfg    Config
	mgr    *tenancy.Manager
	cp     *controlplane.ControlPlane
	log    *slog.Logger
	mux    *http.ServeMux
	routes []Route

	keys *keyCache
	// unsubscribe ends the key cache's subscription to catalog changes.
	unsubscribe func()
	ipLimit     rateLimiter
	credLimit   rateLimiter
	jobs        *jobRegistry
	sizes       sizeMemo
	openapi     []byte
	stamp       atomic.Pointer[stamp]
	encoded     tenantJSONCache
	// out writes the JSON envelope.
	out jsonenv.Writer

	// now is the clock; tests replace it.
	now func() time.Time

	reqPrefix string
	reqSeq    atomic.Uint64
}

// New returns an API over cfg.Manager. Call Close when done with it.
func New(cfg *Config) (*API, error) {
	if cfg == nil || cfg.Manager == nil {
		return nil, errors.New("api: Config.Manager is required")
	}
	if cfg.ControlPlane == nil {
		return nil, errors.New("api: Config.ControlPlane is required")
	}
	c := *cfg
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = c.Now()
	}
	if c.KeyCacheTTL == 0 {
		c.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if c.RateLimit.Enabled {
		if c.RateLimit.Attempts == 0 {
			c.RateLimit.Attempts = DefaultRateLimitAttempts
		}
		if c.RateLimit.Decay == 0 {
			c.RateLimit.Decay = DefaultRateLimitDecay
		}
		if c.RateLimit.Attempts < 0 {
			return nil, fmt.Errorf("api: RateLimit.Attempts must be positive, got %d", c.RateLimit.Attempts)
		}
		if c.RateLimit.Decay < 0 {
			return nil, fmt.Errorf("api: RateLimit.Decay must be positive, got %s", c.RateLimit.Decay)
		}
	}
	var prefix [4]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	a := &API{
		cfg:       c,
		mgr:       c.Manager,
		cp:        c.ControlPlane,
		log:       c.Logger,
		now:       c.Now,
		reqPrefix: hex.EncodeToString(prefix[:]) + "-",
	}
	a.out = a.newWriter()
	a.keys = newKeyCache(c.KeyCacheTTL)
	a.keys.setEnv(c.EnvAPIKey, c.EnvBearerToken)
	if c.RateLimit.Enabled {
		a.ipLimit = newLimiter(c.RateLimit.Attempts, c.RateLimit.Decay, maxLimiterKeys)
		a.credLimit = newLimiter(c.RateLimit.Attempts, c.RateLimit.Decay, maxLimiterKeys)
		if c.RateLimit.Shared != nil {
			a.ipLimit = &sharedLimiter{counter: c.RateLimit.Shared, local: a.ipLimit.(*limiter), log: a.log}
			a.credLimit = &sharedLimiter{counter: c.RateLimit.Shared, local: a.credLimit.(*limiter), log: a.log}
		}
	}
	a.jobs = newJobRegistry(c.Now)
	a.routes = a.routeTable()
	mux := http.NewServeMux()
	for i := range a.routes {
		rt := &a.routes[i]
		mux.Handle(rt.Method+" "+rt.Path, a.endpoint(rt))
	}
	mux.Handle("/", http.HandlerFunc(a.noRoute))
	a.mux = mux
	doc, err := a.buildOpenAPI()
	if err != nil {
		return nil, fmt.Errorf("api: openapi: %w", err)
	}
	a.openapi = doc
	if c.Resolver != nil {
		a.unsubscribe = c.Resolver.Subscribe(a.keys.invalidate)
	}
	return a, nil
}

// Close stops the background fleet jobs (tenants they have not reached are
// skipped) and waits for them to record their outcome. Fleet requests made
// afterwards are refused.
func (a *API) Close() {
	if a.unsubscribe != nil {
		a.unsubscribe()
	}
	a.jobs.close()
}

// Routes returns the route table: the mux and the OpenAPI document are
// both built from it.
func (a *API) Routes() []Route {
	out := make([]Route, len(a.routes))
	copy(out, a.routes)
	return out
}

// Route is one endpoint of the API.
type Route struct {
	// Method is the HTTP method.
	Method string
	// Path is the ServeMux path pattern, such as /tenancy/tenants/{uuid}.
	Path string
	// Summary is a one-line description.
	Summary string
	// Description says more, for the OpenAPI document.
	Description string
	// Scope is the API key scope the endpoint needs.
	Scope controlplane.Scope

	handle  handlerFunc
	status  int      // the success status; default 200
	body    any      // a value of the request body type, for the schema
	query   []param  // the query parameters
	reqBody bool     // the body is documented as required
	form    []param  // the fields of a multipart/form-data body (typ "file" for a file)
	tags    []string // OpenAPI tags
}

// handlerFunc is an endpoint: it writes a success answer and returns nil,
// or returns an error that writeError renders as the error envelope.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// ctxKey is the type of this package's context keys.
type ctxKey int

const principalKey ctxKey = iota

// ServeHTTP serves the API. Every request gets a request id (X-Request-ID,
// taken from the request when it is sane), is rate limited by client IP,
// authenticated, rate limited by credential and routed; paths outside the
// route table answer 404 and known paths with another method 405, both in
// the error envelope.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get("X-Request-Id")
	if !saneRequestID(reqID) {
		var buf [32]byte
		reqID = string(strconv.AppendUint(append(buf[:0], a.reqPrefix...), a.reqSeq.Add(1), 36))
	}
	h := w.Header()
	h["X-Request-Id"] = []string{reqID}
	h["Cache-Control"] = noStore
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.ErrorContext(r.Context(), "api handler panic", "panic", fmt.Sprint(v), "request_id", reqID, "stack", string(debug.Stack()))
			a.writeError(w, r, &apiError{Status: http.StatusInternalServerError, Message: "Internal server error (request " + reqID + ")"})
		}
	}()

	ip := clientIP(r)
	now := a.now()
	var rl rateState
	if a.ipLimit != nil {
		rl = a.ipLimit.hit(ip, now)
		if !rl.ok {
			rl.write(h, now)
			a.writeError(w, r, rl.tooMany(now))
			return
		}
	}
	p, err := a.authenticate(r)
	if err != nil {
		rl.write(h, now)
		a.writeError(w, r, err)
		return
	}
	if a.credLimit != nil {
		rl = rl.merge(a.credLimit.hit(p.id, now))
	}
	rl.write(h, now)
	if rl.set && !rl.ok {
		a.writeError(w, r, rl.tooMany(now))
		return
	}
	ctx := tenancy.WithActor(r.Context(), tenancy.Actor{Name: p.name, ClientIP: ip, RequestID: reqID})
	ctx = context.WithValue(ctx, principalKey, p)
	a.mux.ServeHTTP(w, r.WithContext(ctx))
}

// endpoint wraps a route's handler with its scope check and error rendering.
func (a *API) endpoint(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(principalKey).(*principal)
		if p == nil || !p.allows(rt.Scope) {
			a.writeError(w, r, &apiError{Status: http.StatusForbidden,
				Message: fmt.Sprintf("This credential lacks the %s scope needed for %s %s.", rt.Scope, rt.Method, rt.Path)})
			return
		}
		if err := rt.handle(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// noStore is the Cache-Control of every answer. Header value slices
// shared between answers are never changed in place.
var noStore = []string{"no-store"}

// probeMethods are the methods tried to tell 405 from 404.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// noRoute answers requests no route matches: 405 with Allow when the path
// is served with other methods, 404 otherwise.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range probeMethods {
		probe := r.WithContext(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		allow := strings.Join(allowed, ", ")
		w.Header().Set("Allow", allow)
		a.writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed,
			Message: fmt.Sprintf("Method %s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, allow)})
		return
	}
	a.writeError(w, r, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("No endpoint at %s.", r.URL.Path)})
}

// clientIP is the host of the request's RemoteAddr. Forwarding headers
// are not read here: a server behind trusted proxies puts the client's
// address into RemoteAddr before the API sees the request (serve
// --trusted-proxies).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// saneRequestID accepts request ids of 1-128 printable characters from a
// conservative set, so they are safe to log and echo.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}
