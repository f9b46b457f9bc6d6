package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gotenancy/tenancy"
)

type domainBody struct {
	Domain     string `json:"domain" api:"required" doc:"Host name; stored lower case, IDNA as ASCII, without port."`
	IsPrimary  bool   `json:"is_primary" doc:"Make it the tenant's primary domain."`
	SSLEnabled bool   `json:"ssl_enabled" doc:"Whether the domain is served over TLS."`
}

type domainUpdateBody struct {
	Domain     *string `json:"domain" doc:"New host name."`
	IsPrimary  *bool   `json:"is_primary" doc:"true makes it primary; a primary domain stops being primary only by another becoming primary."`
	SSLEnabled *bool   `json:"ssl_enabled" doc:"Whether the domain is served over TLS."`
}

// domainIDPath returns the {domainId} path value; anything but a positive
// integer is 404.
func domainIDPath(r *http.Request) (int64, error) {
	s := r.PathValue("domainId")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("domain not found: %q is not a domain id", truncate(s, 32))}
	}
	return id, nil
}

// listDomains serves GET /tenancy/tenants/{uuid}/domains.
func (a *API) listDomains(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	t, err := a.mgr.Get(r.Context(), id)
	if err != nil {
		return err
	}
	domains := t.Domains
	if domains == nil {
		domains = []tenancy.Domain{}
	}
	n := len(domains)
	return a.respond(w, http.StatusOK, domains, pageMeta{CurrentPage: 1, PerPage: max(n, 1), Total: n, LastPage: 1}, "")
}

// addDomain serves POST /tenancy/tenants/{uuid}/domains/create.
func (a *API) addDomain(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	var b domainBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Domain) == "" {
		return invalid("domain", "is required")
	}
	name, err := tenancy.NormalizeDomain(b.Domain)
	if err != nil {
		return err
	}
	t, err := a.mgr.AddDomain(r.Context(), id, tenancy.DomainRequest{Domain: name, Primary: b.IsPrimary, SSLEnabled: b.SSLEnabled})
	if err != nil {
		return err
	}
	for i := range t.Domains {
		if t.Domains[i].Domain == name {
			return a.respond(w, http.StatusCreated, &t.Domains[i], nil, "Domain added successfully")
		}
	}
	return a.respond(w, http.StatusCreated, t.Domains, nil, "Domain added successfully")
}

// updateDomain serves PUT /tenancy/tenants/{uuid}/domains/{domainId}.
func (a *API) updateDomain(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	domainID, err := domainIDPath(r)
	if err != nil {
		return err
	}
	var b domainUpdateBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	t, err := a.mgr.UpdateDomain(r.Context(), id, domainID, tenancy.DomainUpdate{Domain: b.Domain, Primary: b.IsPrimary, SSLEnabled: b.SSLEnabled})
	if err != nil {
		return err
	}
	for i := range t.Domains {
		if t.Domains[i].ID == domainID {
			return a.ok(w, &t.Domains[i], "Domain updated successfully")
		}
	}
	return a.ok(w, t.Domains, "Domain updated successfully")
}

// removeDomain serves DELETE /tenancy/tenants/{uuid}/domains/{domainId}.
// A tenant's last domain cannot be removed (409).
func (a *API) removeDomain(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	domainID, err := domainIDPath(r)
	if err != nil {
		return err
	}
	t, err := a.mgr.Get(r.Context(), id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(t.Domains, func(d tenancy.Domain) bool { return d.ID == domainID })
	if i < 0 {
		return fmt.Errorf("%w: no domain %d on %s", tenancy.ErrDomainNotFound, domainID, t.Name)
	}
	if t, err = a.mgr.RemoveDomain(r.Context(), t.UUID, t.Domains[i].Domain); err != nil {
		return err
	}
	return a.ok(w, t, "Domain removed successfully")
}
