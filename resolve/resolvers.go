package resolve

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gotenancy/tenancy/model"
)

// Domain returns the Resolver that looks the request's host up among the
// tenants' domains. It never resolves a central host, and declines an
// unknown host (the chain reports it not found when no other resolver
// claims it).
func Domain() Resolver { return domainResolver{} }

type domainResolver struct{}

func (domainResolver) Resolve(in Input) (*model.Tenant, *http.Request, error) {
	if in.Central || in.Host == "" {
		return nil, nil, nil
	}
	return found(in.Cache.byDomain(in.Request.Context(), in.Host))
}

// found turns a lookup's not-found into "not mine to decide".
func found(t *model.Tenant, err error) (*model.Tenant, *http.Request, error) {
	if err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	return t, nil, nil
}

// Subdomain returns the Resolver for hosts "<label>.<central domain>" (such
// as acme.example.com when example.com is central): the tenant whose domain
// is the whole host, or else the tenant whose domain is the single label
// "<label>". Hosts with more labels before the central domain, and central
// hosts themselves, are not its to decide.
func Subdomain() Resolver { return subdomainResolver{} }

type subdomainResolver struct{}

func (subdomainResolver) Resolve(in Input) (*model.Tenant, *http.Request, error) {
	if in.Central || in.Host == "" {
		return nil, nil, nil
	}
	label, ok := in.Subdomain()
	if !ok {
		return nil, nil, nil
	}
	ctx := in.Request.Context()
	if t, r, err := found(in.Cache.byDomain(ctx, in.Host)); t != nil || err != nil {
		return t, r, err
	}
	return found(in.Cache.byDomain(ctx, label))
}

// DefaultPathPrefix is the prefix of Path("").
const DefaultPathPrefix = "/t/"

// Path returns the Resolver for paths "<prefix>{tenant}/rest" on central
// hosts, where {tenant} is a uuid or a domain. The request passed on has the
// prefix and the tenant removed: "/t/acme.com/notes?x=1" becomes "/notes?x=1"
// and "/t/acme.com" becomes "/" (links the application builds must add the
// prefix back). prefix defaults to DefaultPathPrefix and is given a leading
// and a trailing slash when it lacks them.
//
// A path under the prefix that names an unknown tenant is not found; so is
// one whose tenant segment is written with escapes that hide a slash
// ("/t/a%2Fb/"). Paths outside the prefix, or with an empty tenant segment,
// are not its to decide.
func Path(prefix string) Resolver {
	if prefix == "" {
		prefix = DefaultPathPrefix
	}
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return pathResolver{prefix: prefix}
}

type pathResolver struct{ prefix string }

func (p pathResolver) Resolve(in Input) (*model.Tenant, *http.Request, error) {
	if !in.Central {
		return nil, nil, nil
	}
	r := in.Request
	u := r.URL
	rest, ok := strings.CutPrefix(u.Path, p.prefix)
	if !ok {
		return nil, nil, nil
	}
	seg, _, hasTail := strings.Cut(rest, "/")
	if seg == "" {
		return nil, nil, nil
	}
	// rest[len(seg):] is "/tail", a substring: no allocation.
	newPath := "/"
	if hasTail {
		newPath = rest[len(seg):]
	}
	newRaw := ""
	if u.RawPath != "" {
		// The path had escapes. Split the raw path the same way and check
		// that it agrees: an escaped slash inside the tenant segment, or an
		// escaped prefix, makes the split ambiguous, and no tenant
		// reference contains a slash anyway.
		rawRest, ok := strings.CutPrefix(u.RawPath, p.prefix)
		rawSeg, _, rawHasTail := strings.Cut(rawRest, "/")
		if unesc, err := url.PathUnescape(rawSeg); !ok || err != nil || unesc != seg || rawHasTail != hasTail {
			return nil, nil, &notFoundError{"tenant path", u.Path}
		}
		if rawHasTail {
			newRaw = rawRest[len(rawSeg):]
		}
	}
	t, err := in.Cache.ByRef(r.Context(), seg)
	if err != nil {
		return nil, nil, err
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *u
	r2.URL.Path, r2.URL.RawPath = newPath, newRaw
	return t, r2, nil
}

// DefaultHeader is the header of Header("").
const DefaultHeader = "X-Tenant"

// Header returns the Resolver that takes the tenant (uuid or domain) from a
// request header on central hosts, as API gateways do; name defaults to
// DefaultHeader. A header naming an unknown tenant is not found; requests
// without the header are not its to decide.
//
// Use it only when the application (or a proxy in front of it)
// authenticates the caller and checks that the caller may act for that
// tenant: anyone can send any header. It is never in the default chain.
func Header(name string) Resolver {
	if name == "" {
		name = DefaultHeader
	}
	return headerResolver{name: http.CanonicalHeaderKey(name)}
}

type headerResolver struct{ name string }

func (h headerResolver) Resolve(in Input) (*model.Tenant, *http.Request, error) {
	if !in.Central {
		return nil, nil, nil
	}
	v := strings.TrimSpace(in.Request.Header.Get(h.name))
	if v == "" {
		return nil, nil, nil
	}
	t, err := in.Cache.ByRef(in.Request.Context(), v)
	if err != nil {
		return nil, nil, err
	}
	return t, nil, nil
}
