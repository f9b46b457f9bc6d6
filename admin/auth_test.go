package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

// sessionCookieOf returns the session cookie a response set.
func sessionCookieOf(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %q", SessionCookie, h.Values("Set-Cookie"))
	return nil
}

func TestSignInSetsAHardenedSessionCookie(t *testing.T) {
	f := newDashFixture(t)
	res := f.do(newBrowser(t, f.srv), http.MethodPost, "/admin/login",
		url.Values{"email": {"  OPS@example.com "}, "password": {dashPassword}, "next": {"/admin/migrations"}}, nil)
	if res.code != http.StatusSeeOther || res.location != "/admin/migrations" {
		t.Fatalf("sign-in: %d to %q", res.code, res.location)
	}
	c := sessionCookieOf(t, res.header)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/admin" || c.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/admin, not Secure over plain HTTP", c)
	}
	if c.Expires.Before(time.Now().Add(DefaultSessionTTL - time.Hour)) {
		t.Fatalf("session cookie expires %v", c.Expires)
	}
	u, err := cpOf(f.mgr).AdminSession(context.Background(), c.Value)
	if err != nil || u.Email != dashEmail {
		t.Fatalf("the cookie's session: %v, %v", u, err)
	}
	entries, err := cpOf(f.mgr).Audit(context.Background(), controlplane.AuditFilter{Action: "admin.sign_in"})
	if err != nil || len(entries) == 0 || entries[0].Outcome != "succeeded" || entries[0].Actor != "admin:"+dashEmail {
		t.Fatalf("audit of the sign-in: %+v, %v", entries, err)
	}
}

func TestSessionCookieIsSecureBehindTLS(t *testing.T) {
	f := newDashFixture(t)
	for _, tc := range []struct {
		name   string
		secure bool
		tls    bool
	}{{"tls", false, true}, {"configured", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(&Config{Manager: f.mgr, ControlPlane: cpOf(f.mgr), SecureCookies: tc.secure})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(a)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			c := srv.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := c.PostForm(srv.URL+"/admin/login", url.Values{"email": {dashEmail}, "password": {dashPassword}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if !sessionCookieOf(t, res.Header).Secure {
				t.Fatal("the session cookie is not Secure")
			}
		})
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	f := newDashFixture(t)
	if res := f.get("/admin/tenants"); res.code != http.StatusOK {
		t.Fatalf("signed in: %d", res.code)
	}
	u, _ := url.Parse(f.srv.URL + "/admin/")
	var token string
	for _, c := range f.client.Jar.Cookies(u) {
		if c.Name == SessionCookie {
			token = c.Value
		}
	}
	res := f.post("/admin/logout", url.Values{})
	if res.code != http.StatusSeeOther || res.location != "/admin/login" {
		t.Fatalf("sign-out: %d to %q", res.code, res.location)
	}
	if res := f.get("/admin/tenants"); res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/admin/login") {
		t.Fatalf("after sign-out: %d to %q", res.code, res.location)
	}
	// The old token is dead on the server, not only forgotten by the browser.
	if _, err := cpOf(f.mgr).AdminSession(context.Background(), token); err == nil {
		t.Fatal("the session survived sign-out")
	}
}

func TestSignInFailures(t *testing.T) {
	f := newDashFixture(t)
	c := newBrowser(t, f.srv)
	for _, tc := range []struct {
		name, email, password string
		code                  int
		says                  string
	}{
		{"wrong password", dashEmail, "not the password", http.StatusUnauthorized, "Wrong email address or password"},
		{"unknown email", "nobody@example.com", dashPassword, http.StatusUnauthorized, "Wrong email address or password"},
		{"empty", "", "", http.StatusUnprocessableEntity, "Enter your email address and password"},
		{"html in the email", `<script>x</script>@example.com`, "x", http.StatusUnauthorized, "&lt;script&gt;"},
	} {
		res := f.do(c, http.MethodPost, "/admin/login", url.Values{"email": {tc.email}, "password": {tc.password}}, nil)
		if res.code != tc.code || !strings.Contains(res.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q", tc.name, res.code, tc.code, tc.says)
		}
		if strings.Contains(res.body, "<script>x") {
			t.Errorf("%s: the email is not escaped", tc.name)
		}
		if len(res.header.Values("Set-Cookie")) > 0 && strings.Contains(strings.Join(res.header.Values("Set-Cookie"), ";"), SessionCookie+"=") {
			t.Errorf("%s: a failed sign-in set a session cookie", tc.name)
		}
	}
	entries, err := cpOf(f.mgr).Audit(context.Background(), controlplane.AuditFilter{Action: "admin.sign_in"})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range entries {
		if e.Outcome == "failed" {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d failed sign-ins audited, want 3", failed)
	}
}

func TestFailedSignInsAreRateLimited(t *testing.T) {
	f := newDashFixture(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	a, err := New(&Config{Manager: f.mgr, ControlPlane: cpOf(f.mgr), SignInLimit: 3, SignInWindow: time.Minute, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(email, password string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "192.0.2.7:1234"
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := signIn(dashEmail, "wrong"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, rec.Code)
		}
	}
	// Even the right password is refused while the address is limited.
	rec := signIn(dashEmail, dashPassword)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("4th attempt: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	now.Add(int64(time.Minute))
	if rec := signIn(dashEmail, dashPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("after the window: %d", rec.Code)
	}
	entries, err := cpOf(f.mgr).Audit(context.Background(), controlplane.AuditFilter{Action: "admin.sign_in"})
	if err != nil {
		t.Fatal(err)
	}
	limited := 0
	for _, e := range entries {
		if strings.Contains(e.Error, "too many") {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("%d rate-limited sign-ins audited, want 1", limited)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "/admin/tenants",
		"/admin/migrations":       "/admin/migrations",
		"/admin/tenants?q=a":      "/admin/tenants?q=a",
		"https://evil.example/":   "/admin/tenants",
		"//evil.example/admin":    "/admin/tenants",
		"/admin/login":            "/admin/tenants",
		"/admin\\..\\x":           "/admin/tenants",
		"/other":                  "/admin/tenants",
		"/admin/x\r\nSet-Cookie:": "/admin/tenants",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMonitoringAcceptsAPIKeysWithTheScope(t *testing.T) {
	f := newDashFixture(t)
	mon := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(tenancy.ActorFrom(r.Context()).Name))
	})
	a, err := New(&Config{Manager: f.mgr, ControlPlane: cpOf(f.mgr), Monitoring: mon, APIKeyAllows: func(r *http.Request, s controlplane.Scope) bool {
		k := r.Header.Get("X-Api-Key")
		if f := strings.Fields(r.Header.Get("Authorization")); len(f) == 2 && strings.EqualFold(f[0], "bearer") {
			k = f[1]
		}
		return k == "admin-key" || (k == "read-key" && s == controlplane.ScopeRead)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, key string
		code        int
	}{
		{http.MethodGet, "read-key", http.StatusOK},
		{http.MethodGet, "admin-key", http.StatusOK},
		{http.MethodDelete, "read-key", http.StatusUnauthorized},
		{http.MethodDelete, "admin-key", http.StatusOK},
		{http.MethodGet, "wrong", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(tc.method, "/admin/monitoring/connections", nil)
		req.Header.Set("X-API-Key", tc.key)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s with %s: %d, want %d", tc.method, tc.key, rec.Code, tc.code)
		}
	}
	// Without a key or a session: sent to sign in.
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/monitoring/dashboard", nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("anonymous: %d", rec.Code)
	}

	// Only a Bearer Authorization (any case) means an API client; Basic
	// credentials of a proxy in front of the dashboard go the session's
	// way.
	u, err := cpOf(f.mgr).AuthenticateAdmin(context.Background(), dashEmail, dashPassword)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := cpOf(f.mgr).CreateAdminSession(context.Background(), u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		session    bool
		code       int
		actor      string
	}{
		{"basic with a session", "Basic cHJveHk6c2VjcmV0", true, http.StatusOK, "admin:" + dashEmail},
		{"basic without a session", "Basic cHJveHk6c2VjcmV0", false, http.StatusSeeOther, ""},
		{"bearer", "bearer read-key", false, http.StatusOK, "api-key"},
		{"bearer, wrong key, with a session", "Bearer nope", true, http.StatusUnauthorized, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/admin/monitoring/connections", nil)
		req.Header.Set("Authorization", tc.auth)
		if tc.session {
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != tc.code || (tc.actor != "" && rec.Body.String() != tc.actor) {
			t.Errorf("%s: %d as %q, want %d as %q", tc.name, rec.Code, rec.Body.String(), tc.code, tc.actor)
		}
	}
}

func TestIsBearer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"Bearer abc": true, "bearer abc": true, "BEARER abc": true,
		"Bearer ": false, "Bearer": false, "Basic abc": false, "": false, "Bearerabc": false,
	} {
		if got := isBearer(in); got != want {
			t.Errorf("isBearer(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParallelSignInsAreLimited(t *testing.T) {
	f := newDashFixture(t)
	const tries, limit = 20, 3
	for _, tc := range []struct {
		name        string
		addr, email func(i int) string
	}{
		{"one address", func(int) string { return "192.0.2.9:1234" }, func(i int) string { return "guess" + itoa(i) + "@example.com" }},
		{"one email", func(i int) string { return "198.51.100." + itoa(i+1) + ":1234" }, func(int) string { return dashEmail }},
		{"one IPv6 /64", func(i int) string { return "[2001:db8::" + itoa(i+1) + "]:1234" }, func(i int) string { return "v6-" + itoa(i) + "@example.com" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(&Config{Manager: f.mgr, ControlPlane: cpOf(f.mgr), SignInLimit: limit, SignInWindow: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			codes := make([]int, tries)
			start := make(chan struct{})
			for i := range tries {
				wg.Go(func() {
					<-start
					body := url.Values{"email": {tc.email(i)}, "password": {"wrong"}}.Encode()
					req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.RemoteAddr = tc.addr(i)
					rec := httptest.NewRecorder()
					a.ServeHTTP(rec, req)
					codes[i] = rec.Code
				})
			}
			close(start)
			wg.Wait()
			count := map[int]int{}
			for _, c := range codes {
				count[c]++
			}
			if count[http.StatusUnauthorized] != limit || count[http.StatusTooManyRequests] != tries-limit {
				t.Fatalf("answers %v: want %d checked (401) and %d refused (429)", count, limit, tries-limit)
			}
		})
	}
	entries, err := cpOf(f.mgr).Audit(context.Background(), controlplane.AuditFilter{Action: "admin.sign_in", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range entries {
		if e.Outcome == tenancy.StateFailed {
			failed++
		}
	}
	if failed != 3*tries {
		t.Fatalf("%d failed sign-ins audited, want %d (every attempt, checked or refused)", failed, 3*tries)
	}
}

func TestSignInLimiterGivesSuccessesBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newSignInLimiter(3, time.Minute)
	ip, email := "192.0.2.1", "a@example.com"
	for i := range 2 { // two failures
		if w := l.attempt(now, ip, email); w != 0 {
			t.Fatalf("failure %d refused: %v", i+1, w)
		}
	}
	if w := l.attempt(now, ip, email); w != 0 {
		t.Fatalf("third attempt refused: %v", w)
	}
	l.succeed(now, ip, email)
	// The success is given back; the address keeps its two failures.
	if w := l.attempt(now, ip, "b@example.com"); w != 0 {
		t.Fatalf("attempt after a success refused: %v", w)
	}
	if w := l.attempt(now, ip, "c@example.com"); w != time.Minute {
		t.Fatalf("fourth counted attempt of the address: wait %v, want 1m", w)
	}
	// An undecided attempt is given back to both.
	l2 := newSignInLimiter(1, time.Minute)
	if w := l2.attempt(now, ip, email); w != 0 {
		t.Fatal(w)
	}
	l2.cancel(now, ip, email)
	if w := l2.attempt(now, ip, email); w != 0 {
		t.Fatalf("attempt after a cancelled one refused: %v", w)
	}
}

func TestSignInLimiterWhenFull(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newSignInLimiter(3, time.Minute)
	l.max = 4
	// The target, then a second client: four keys, full.
	if l.attempt(now, "192.0.2.1", "target@example.com") != 0 || l.attempt(now.Add(time.Second), "192.0.2.2", "other@example.com") != 0 {
		t.Fatal("attempts refused before the limiter was full")
	}
	// A flood of new emails and addresses is refused, not tracked, and
	// does not evict the target's count.
	for i := range 50 {
		w := l.attempt(now.Add(2*time.Second), "203.0.113."+itoa(i), "junk"+itoa(i)+"@example.com")
		if w != 58*time.Second {
			t.Fatalf("untracked attempt %d while full: wait %v, want 58s (until the first entry ends)", i, w)
		}
	}
	// A tracked address with an untracked email is refused too.
	if w := l.attempt(now.Add(2*time.Second), "192.0.2.2", "new@example.com"); w == 0 {
		t.Fatal("an attempt for an untracked email was let through while full")
	}
	if len(l.fails) != 4 || l.fails["email:target@example.com"].n != 1 {
		t.Fatalf("entries after the flood: %d, target's count %+v", len(l.fails), l.fails["email:target@example.com"])
	}
	// Tracked clients go on as usual, up to their limit.
	for i := range 2 {
		if w := l.attempt(now.Add(3*time.Second), "192.0.2.1", "target@example.com"); w != 0 {
			t.Fatalf("tracked attempt %d refused: %v", i+2, w)
		}
	}
	if w := l.attempt(now.Add(3*time.Second), "192.0.2.1", "target@example.com"); w != 57*time.Second {
		t.Fatalf("target over its limit: wait %v, want 57s", w)
	}
	// Once the first entries end, new clients are tracked again.
	if w := l.attempt(now.Add(time.Minute), "203.0.113.1", "junk1@example.com"); w != 0 {
		t.Fatalf("new client after the window: wait %v", w)
	}
	if len(l.fails) != 4 {
		t.Fatalf("%d entries, want the second client's two and the new one's two", len(l.fails))
	}
}

func TestAddressGroup(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":         "192.0.2.1",
		"::ffff:192.0.2.1":  "192.0.2.1",
		"2001:db8::1":       "2001:db8::/64",
		"2001:db8::ffff:1":  "2001:db8::/64",
		"2001:db8:0:1::1":   "2001:db8:0:1::/64",
		"fe80::1%eth0":      "fe80::/64",
		"not an address":    "not an address",
		"@unix-socket-peer": "@unix-socket-peer",
	} {
		if got := addressGroup(in); got != want {
			t.Errorf("addressGroup(%q) = %q, want %q", in, got, want)
		}
	}
}
