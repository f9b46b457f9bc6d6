package admin

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "tenancy_admin"

// flashCookie carries a one-time message to the next page.
const flashCookie = "tenancy_flash"

// sessionCookie writes and clears the session cookie.
type sessionCookie struct{ secure bool }

func (s sessionCookie) set(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/admin", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil,
	})
}

func (s sessionCookie) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/admin", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil,
	})
}

// sessionUser returns the admin the request's session cookie belongs to.
func (a *Admin) sessionUser(r *http.Request) (*controlplane.AdminUser, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	u, err := a.cp.AdminSession(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, tenancy.ErrNotFound) && r.Context().Err() == nil {
			a.log.ErrorContext(r.Context(), "admin: looking up a session", "err", err)
		}
		return nil, false
	}
	return u, true
}

// loginData is the sign-in page's data.
type loginData struct {
	Email string
	Next  string
	Error string
}

// loginPage shows the sign-in form (or goes on when already signed in).
func (a *Admin) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := a.sessionUser(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{Next: next}})
}

// login checks the form's credentials, starts a session and audits the
// attempt. Attempts are rate limited by client address and by email: each
// one is counted before the password is checked and given back when it
// succeeds, so the limit also holds for attempts sent in parallel.
func (a *Admin) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		a.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Data: loginData{Error: "The form could not be read."}})
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	password := r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	ip := clientIP(r)
	data := loginData{Email: email, Next: next}
	ctx := tenancy.WithActor(r.Context(), tenancy.Actor{Name: "admin:" + email, ClientIP: ip, RequestID: r.Header.Get("X-Request-Id")})

	if email == "" || password == "" {
		data.Error = "Enter your email address and password."
		a.render(w, r, http.StatusUnprocessableEntity, "login", page{Title: "Sign in", Data: data})
		return
	}
	now := a.cfg.Now()
	if wait := a.limiter.attempt(now, ip, email); wait > 0 {
		a.cp.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email, "reason": "rate limited"}, errors.New("too many sign-in attempts"))
		w.Header().Set("Retry-After", retryAfter(wait))
		data.Error = "Too many sign-in attempts. Try again in " + wait.Round(time.Second).String() + "."
		a.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Sign in", Data: data})
		return
	}
	u, err := a.cp.AuthenticateAdmin(ctx, email, password)
	if err != nil {
		if !errors.Is(err, controlplane.ErrBadCredentials) {
			a.limiter.cancel(now, ip, email)
			a.log.ErrorContext(ctx, "admin: signing in", "err", err)
			data.Error = "Signing in failed; try again."
			a.render(w, r, http.StatusServiceUnavailable, "login", page{Title: "Sign in", Data: data})
			return
		}
		a.cp.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email}, err)
		data.Error = "Wrong email address or password."
		a.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Data: data})
		return
	}
	a.limiter.succeed(now, ip, email)
	token, expires, err := a.cp.CreateAdminSession(ctx, u.ID, a.cfg.SessionTTL)
	if err != nil {
		a.log.ErrorContext(ctx, "admin: creating a session", "err", err)
		data.Error = "Signing in failed; try again."
		a.render(w, r, http.StatusServiceUnavailable, "login", page{Title: "Sign in", Data: data})
		return
	}
	a.cp.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email}, nil)
	a.sessions.set(w, r, token, expires)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (a *Admin) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := a.cp.DeleteAdminSession(r.Context(), c.Value); err != nil {
			a.log.ErrorContext(r.Context(), "admin: ending a session", "err", err)
		}
	}
	a.cp.RecordAction(r.Context(), "admin.sign_out", "", nil, nil)
	a.sessions.clear(w, r)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination only when it is a path of the
// dashboard (no open redirects).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "/admin/login") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin/tenants"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/admin/tenants"
	}
	return next
}

// retryAfter renders a wait as whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	return itoa(max(s, 1))
}

// maxLimiterKeys bounds the limiter's memory: the client addresses and
// emails it tracks at once. When it is full, entries whose window has
// passed are dropped; if none has, new addresses and emails are not
// tracked and their attempts are refused (429) until an entry's window
// passes. Tracked ones are never evicted early, so flooding the limiter
// with made-up emails cannot reset the count of the one under attack; it
// can only lock out clients the limiter has not yet seen.
const maxLimiterKeys = 10000

// signInLimiter counts sign-in attempts per client address and per email
// in a fixed window. An attempt is counted before the password is
// checked, so parallel attempts cannot all slip past the limit; a
// successful one is given back.
type signInLimiter struct {
	limit  int
	window time.Duration
	// max is the number of keys tracked at most (maxLimiterKeys; tests
	// lower it).
	max   int
	mu    sync.Mutex
	fails map[string]*failCount
	// nextExpiry is the earliest end of a window among the entries kept
	// by the last prune: before it, pruning finds nothing to drop.
	nextExpiry time.Time
}

type failCount struct {
	n     int
	start time.Time
}

func newSignInLimiter(limit int, window time.Duration) *signInLimiter {
	return &signInLimiter{limit: limit, window: window, max: maxLimiterKeys, fails: map[string]*failCount{}}
}

// limiterKeys are the limiter's keys for a client address and an email.
// IPv6 addresses are grouped by /64, the block one client usually holds.
func limiterKeys(ip, email string) [2]string {
	return [2]string{"ip:" + addressGroup(ip), "email:" + email}
}

// addressGroup is the address itself for IPv4 (and IPv4-mapped IPv6), its
// /64 prefix for IPv6, and the text unchanged when it is not an address.
func addressGroup(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// live returns the entry of k if its window has not passed.
func (l *signInLimiter) live(now time.Time, k string) *failCount {
	f := l.fails[k]
	if f == nil || now.Sub(f.start) >= l.window {
		return nil
	}
	return f
}

// attempt either refuses a sign-in attempt, returning how long until the
// client address or the email may try again, or reserves it by counting
// it against both and returns 0. An attempt that succeeds is given back
// with succeed; one that could not be decided (the catalog failed) with
// cancel.
func (l *signInLimiter) attempt(now time.Time, ip, email string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := limiterKeys(ip, email)
	var wait time.Duration
	untracked := 0
	for _, k := range keys {
		f := l.live(now, k)
		if f == nil {
			if _, ok := l.fails[k]; !ok {
				untracked++
			}
			continue
		}
		if f.n >= l.limit {
			wait = max(wait, l.window-now.Sub(f.start))
		}
	}
	if wait > 0 {
		return wait
	}
	if len(l.fails)+untracked > l.max {
		l.prune(now)
		untracked = 0
		for _, k := range keys {
			if _, ok := l.fails[k]; !ok {
				untracked++
			}
		}
		if len(l.fails)+untracked > l.max {
			// Full of live entries: refuse until the first one ends.
			return max(l.nextExpiry.Sub(now), time.Second)
		}
	}
	for _, k := range keys {
		if f := l.live(now, k); f != nil {
			f.n++
			continue
		}
		l.fails[k] = &failCount{n: 1, start: now}
	}
	return 0
}

// succeed gives a successful attempt back: the address's count goes down
// by the one attempt (its failures stay, so one good account cannot be
// used to reset guessing at others) and the email's failures are
// forgotten.
func (l *signInLimiter) succeed(now time.Time, ip, email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := limiterKeys(ip, email)
	if f := l.live(now, keys[0]); f != nil && f.n > 0 {
		f.n--
	}
	delete(l.fails, keys[1])
}

// cancel gives back an attempt that was neither a success nor a failure.
func (l *signInLimiter) cancel(now time.Time, ip, email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range limiterKeys(ip, email) {
		if f := l.live(now, k); f != nil && f.n > 0 {
			f.n--
		}
	}
}

// prune drops the entries whose window has passed and notes when the
// first of the others ends. It skips the scan while nothing can have
// ended yet.
func (l *signInLimiter) prune(now time.Time) {
	if now.Before(l.nextExpiry) {
		return
	}
	var next time.Time
	for k, f := range l.fails {
		end := f.start.Add(l.window)
		if !now.Before(end) {
			delete(l.fails, k)
			continue
		}
		if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	l.nextExpiry = next
}

// clientIP is the request's peer address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
