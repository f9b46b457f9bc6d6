package tenancy

import (
	"fmt"
	"strings"
)

// centralSet normalises the central domains of Config.CentralDomains. An
// entry that is not a host name (such as 127.0.0.1) is kept in lower case:
// no tenant domain can equal it anyway.
func centralSet(domains []string) map[string]bool {
	set := make(map[string]bool, len(domains))
	for _, d := range domains {
		if n, err := NormalizeDomain(d); err == nil {
			set[n] = true
		} else if d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")); d != "" {
			set[d] = true
		}
	}
	return set
}

// refuseCentral refuses a normalised domain that is one of the central
// domains: a tenant there would take over the control plane's host.
// Subdomains of a central domain are tenant domains like any other.
func (m *Manager) refuseCentral(domain string) error {
	if m.central[domain] {
		return &ValidationError{Field: "domain", Reason: fmt.Sprintf("%q is a central domain (the host of the control plane), not a tenant domain", domain)}
	}
	return nil
}
