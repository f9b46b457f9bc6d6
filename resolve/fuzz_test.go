package resolve_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/resolve"
)

// FuzzResolveRequest feeds arbitrary hosts and request targets to the full
// chain (header resolver included) over a real catalog. It checks that
// nothing panics, that a rewritten path is exactly the rest of the original
// one, that an answer is one of the three kinds, and that asking again never
// queries the store again (the negative cache holds every miss).
func FuzzResolveRequest(f *testing.F) {
	e := newChainEnv(f)
	chain := e.chain(f, resolve.Domain(), resolve.Subdomain(), resolve.Path("/t/"), resolve.Header(""))
	for _, s := range [][3]string{
		{"acme.test", "/", ""},
		{"localhost", "/t/acme.test/notes?x=1", ""},
		{"localhost:8080", "/t/acme.test", ""},
		{"127.0.0.1", "/t/" + e.acme.UUID + "/a%2Fb/c", ""},
		{"[::1]:80", "/t/a%2Fb/x", ""},
		{"example.test", "/t//x", "solo"},
		{"solo.example.test", "/", ""},
		{"a.b.example.test", "/", ""},
		{"", "", ""},
		{"\x00\xff", "/t/\xff/", "\x00"},
		{strings.Repeat("a", 300), "/t/" + strings.Repeat("b.", 200), strings.Repeat("c", 300)},
		{"localhost", "/t/acme%2Etest/x%20y", ""},
		{"localhost", "/%74/acme.test/x", ""},
		{"localhost", "/api", e.acme.UUID},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, host, target, header string) {
		r := &http.Request{Method: "GET", Host: host, Header: http.Header{}}
		if u, err := url.ParseRequestURI(target); err == nil {
			r.URL = u
		} else {
			r.URL = &url.URL{Path: target}
		}
		if header != "" {
			r.Header["X-Tenant"] = []string{header}
		}
		orig := *r.URL
		tn, r2, err := chain.ResolveRequest(r)
		if *r.URL != orig {
			t.Fatalf("the original request's URL changed: %+v", r.URL)
		}
		switch {
		case err != nil:
			if tn != nil || r2 != r {
				t.Fatalf("error %v with tenant %v or another request", err, tn)
			}
		case tn == nil:
			if r2 != r {
				t.Fatal("a central request was replaced")
			}
		case r2 != r:
			checkRewrite(t, &orig, r2.URL)
		}

		before := e.cache.Stats().StoreLookups
		tn2, _, err2 := chain.ResolveRequest(r)
		if after := e.cache.Stats().StoreLookups; after != before {
			t.Fatalf("the same request queried the store again (%d, then %d lookups)", before, after)
		}
		if (tn == nil) != (tn2 == nil) || (tn != nil && tn.UUID != tn2.UUID) || errors.Is(err, tenancy.ErrNotFound) != errors.Is(err2, tenancy.ErrNotFound) {
			t.Fatalf("the same request resolved differently: %v, %v then %v, %v", tn, err, tn2, err2)
		}
	})
}

// checkRewrite asserts that after is before with "/t/{tenant}" removed and
// nothing else lost: before.Path is "/t/" + tenant + after.Path (or after
// is "/" for "/t/{tenant}").
func checkRewrite(t *testing.T, before, after *url.URL) {
	t.Helper()
	rest, ok := strings.CutPrefix(before.Path, "/t/")
	seg, tail, hasTail := strings.Cut(rest, "/")
	if !ok || seg == "" {
		t.Fatalf("path %q rewritten to %q, but it names no tenant", before.Path, after.Path)
	}
	if hasTail && before.Path != "/t/"+seg+after.Path || !hasTail && after.Path != "/" || !strings.HasPrefix(after.Path, "/") {
		t.Fatalf("path %q rewritten to %q: the rest of the path (%q) is lost", before.Path, after.Path, "/"+tail)
	}
	if after.RawPath != "" {
		if u, err := url.PathUnescape(after.RawPath); err != nil || u != after.Path {
			t.Fatalf("raw path %q does not encode path %q", after.RawPath, after.Path)
		}
	}
	if after.RawQuery != before.RawQuery || after.Fragment != before.Fragment {
		t.Fatalf("query or fragment lost: %+v -> %+v", before, after)
	}
}
