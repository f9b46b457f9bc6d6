package tenancy

import "net/http"

// SetCookie sets a cookie scoped to the current tenant: host-only (no
// Domain attribute, so it is never shared with sibling subdomains or other
// tenants), under the tenant's base path when the tenant was identified by
// a path prefix, HttpOnly, SameSite=Lax unless set, and Secure over TLS.
// Without a tenant in the request's context it sets nothing and returns
// ErrNoTenant.
func SetCookie(w http.ResponseWriter, r *http.Request, c *http.Cookie) error {
	s := scopeOf(r.Context())
	if s == nil {
		return ErrNoTenant
	}
	scoped := *c
	scoped.Domain = ""
	scoped.Path = s.basePath + "/"
	scoped.HttpOnly = true
	if scoped.SameSite == http.SameSiteDefaultMode {
		scoped.SameSite = http.SameSiteLaxMode
	}
	if r.TLS != nil {
		scoped.Secure = true
	}
	http.SetCookie(w, &scoped)
	return nil
}
