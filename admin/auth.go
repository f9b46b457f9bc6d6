package admin

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
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
func (a *Admin) sessionUser(r *http.Request) (*tenancy.AdminUser, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	u, err := a.mgr.AdminSession(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, tenancy.ErrNotFound) {
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
// attempt. Failures are rate limited by client address and by email.
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
	now := a.cfg.Now()

	if wait := a.limiter.blocked(now, ip, email); wait > 0 {
		a.mgr.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email, "reason": "rate limited"}, errors.New("too many failed sign-ins"))
		w.Header().Set("Retry-After", retryAfter(wait))
		data.Error = "Too many failed sign-ins. Try again in " + wait.Round(time.Second).String() + "."
		a.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Sign in", Data: data})
		return
	}
	if email == "" || password == "" {
		data.Error = "Enter your email address and password."
		a.render(w, r, http.StatusUnprocessableEntity, "login", page{Title: "Sign in", Data: data})
		return
	}
	u, err := a.mgr.AuthenticateAdmin(ctx, email, password)
	if err != nil {
		if !errors.Is(err, tenancy.ErrBadCredentials) {
			a.log.ErrorContext(ctx, "admin: signing in", "err", err)
			data.Error = "Signing in failed; try again."
			a.render(w, r, http.StatusServiceUnavailable, "login", page{Title: "Sign in", Data: data})
			return
		}
		a.limiter.fail(now, ip, email)
		a.mgr.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email}, err)
		data.Error = "Wrong email address or password."
		a.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Data: data})
		return
	}
	token, expires, err := a.mgr.CreateAdminSession(ctx, u.ID, a.cfg.SessionTTL)
	if err != nil {
		a.log.ErrorContext(ctx, "admin: creating a session", "err", err)
		data.Error = "Signing in failed; try again."
		a.render(w, r, http.StatusServiceUnavailable, "login", page{Title: "Sign in", Data: data})
		return
	}
	a.limiter.succeed(ip, email)
	a.mgr.RecordAction(ctx, "admin.sign_in", "", map[string]string{"email": email}, nil)
	a.sessions.set(w, r, token, expires)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (a *Admin) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := a.mgr.DeleteAdminSession(r.Context(), c.Value); err != nil {
			a.log.ErrorContext(r.Context(), "admin: ending a session", "err", err)
		}
	}
	a.mgr.RecordAction(r.Context(), "admin.sign_out", "", nil, nil)
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

// maxLimiterKeys bounds the limiter's memory; when full, entries whose
// window has passed are dropped, and if none has, the oldest half.
const maxLimiterKeys = 10000

// signInLimiter counts failed sign-ins per client address and per email in
// a fixed window.
type signInLimiter struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	fails  map[string]*failCount
}

type failCount struct {
	n     int
	start time.Time
}

func newSignInLimiter(limit int, window time.Duration) *signInLimiter {
	return &signInLimiter{limit: limit, window: window, fails: map[string]*failCount{}}
}

// blocked returns how long until the client or the email may try again; 0
// when they may now.
func (l *signInLimiter) blocked(now time.Time, ip, email string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range []string{"ip:" + ip, "email:" + email} {
		f := l.fails[k]
		if f == nil || now.Sub(f.start) >= l.window {
			continue
		}
		if f.n >= l.limit {
			wait = max(wait, l.window-now.Sub(f.start))
		}
	}
	return wait
}

// fail counts a failed sign-in.
func (l *signInLimiter) fail(now time.Time, ip, email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxLimiterKeys {
		l.prune(now)
	}
	for _, k := range []string{"ip:" + ip, "email:" + email} {
		f := l.fails[k]
		if f == nil || now.Sub(f.start) >= l.window {
			l.fails[k] = &failCount{n: 1, start: now}
			continue
		}
		f.n++
	}
}

// succeed forgets the email's failures (the address keeps its count, so
// one good account cannot be used to reset guessing at others).
func (l *signInLimiter) succeed(_, email string) {
	l.mu.Lock()
	delete(l.fails, "email:"+email)
	l.mu.Unlock()
}

func (l *signInLimiter) prune(now time.Time) {
	for k, f := range l.fails {
		if now.Sub(f.start) >= l.window {
			delete(l.fails, k)
		}
	}
	if len(l.fails) < maxLimiterKeys {
		return
	}
	n := 0
	for k := range l.fails {
		if n >= maxLimiterKeys/2 {
			break
		}
		delete(l.fails, k)
		n++
	}
}

// clientIP is the request's peer address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
