package model

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// domainProfile maps Unicode to lower case and converts to ASCII (punycode),
// enforcing the letters-digits-hyphen rules of host names.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.StrictDomainName(true),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
)

// NormalizeDomain returns the canonical form of a domain as stored in the
// catalog: lower case, IDNA converted to ASCII, without port and trailing dot.
// Anything that is not a host name (empty, a URL, a path, an IP address,
// invalid labels) is a *ValidationError on field "domain".
func NormalizeDomain(s string) (string, error) {
	invalid := func(reason string) (string, error) {
		return "", &ValidationError{Field: "domain", Reason: fmt.Sprintf("%q: %s", s, reason)}
	}
	d := strings.TrimSpace(s)
	if d == "" {
		return invalid("must not be empty")
	}
	if !utf8.ValidString(d) {
		return invalid("must be valid UTF-8")
	}
	if strings.Contains(d, "://") || strings.ContainsAny(d, "/?#@\\ \t") {
		return invalid("must be a host name, without scheme, path or spaces")
	}
	if strings.HasPrefix(d, "[") {
		return invalid("IP addresses are not tenant domains")
	}
	if host, port, err := net.SplitHostPort(d); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return invalid("port must be numeric")
		}
		d = host
	} else if strings.Contains(d, ":") {
		return invalid("malformed port")
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return invalid("must not be empty")
	}
	if net.ParseIP(d) != nil {
		return invalid("IP addresses are not tenant domains")
	}
	ascii, err := domainProfile.ToASCII(d)
	if err != nil {
		return invalid("not a valid host name")
	}
	if ascii == "" || len(ascii) > 253 {
		return invalid("not a valid host name")
	}
	for label := range strings.SplitSeq(ascii, ".") {
		if label == "" || len(label) > 63 {
			return invalid("not a valid host name")
		}
	}
	return ascii, nil
}
