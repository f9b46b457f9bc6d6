package resolve

import (
	"net/netip"
	"strings"

	"github.com/gotenancy/tenancy/model"
)

// maxHostLen bounds the Host values the slow path normalises. A host name is
// at most 253 ASCII bytes; its Unicode form takes at most four bytes a
// character, so anything longer is junk and is not looked at.
const maxHostLen = 4*253 + len(":65535")

// fastHost returns the lookup key of a plain host: lower-case ASCII letters,
// digits, hyphens and dots, optionally with one trailing dot and a numeric
// port. The key is a substring of host, so the hit path allocates nothing.
// ok is false for anything else (upper case, Unicode, IPv6 literals, junk),
// which hostKey hands to model.NormalizeDomain.
//
// Whenever model.NormalizeDomain accepts host, fastHost either returns the
// same key or declines (FuzzFastHost checks this). It may accept a few hosts
// NormalizeDomain rejects (an IPv4 address, a label starting with a hyphen);
// those are never keys of the snapshot, so they simply miss.
func fastHost(host string) (string, bool) {
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		port := h[i+1:]
		if port == "" || !digits(port) {
			return "", false
		}
		h = h[:i]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	if h == "" || len(h) > 253 {
		return "", false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			label++
			if label > 63 {
				return "", false
			}
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
		default:
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return h, true
}

// digits reports whether s is non-empty and all ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostKey returns the key of a Host header value: the normalised domain
// (lower case, IDNA ASCII, no port, no trailing dot) or, for an IP literal,
// the canonical address ("127.0.0.1", "::1"). ok is false when host is
// neither.
func hostKey(host string) (key string, ok bool) {
	if key, ok = fastHost(host); ok {
		return key, true
	}
	return slowHost(host)
}

// slowHost is hostKey for the unusual hosts fastHost declines.
func slowHost(host string) (string, bool) {
	if len(host) > maxHostLen {
		return "", false
	}
	h := strings.TrimSpace(host)
	if ip, ok := ipKey(h); ok {
		return ip, true
	}
	d, err := model.NormalizeDomain(h)
	if err != nil {
		return "", false
	}
	return d, true
}

// ipKey returns the canonical form of an IP literal with an optional port:
// "[::1]:80", "[::1]", "::1", "127.0.0.1:8080". Zones are dropped and
// IPv4-mapped IPv6 addresses become IPv4.
func ipKey(h string) (string, bool) {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		if rest := h[end+1:]; rest != "" && (rest[0] != ':' || !digits(rest[1:])) {
			return "", false
		}
		h = h[1:end]
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.LastIndexByte(h, ':') == i {
		// One colon: an IPv4 address (or a name) with a port.
		if !digits(h[i+1:]) {
			return "", false
		}
		h = h[:i]
	}
	addr, err := netip.ParseAddr(h)
	if err != nil {
		return "", false
	}
	return addr.WithZone("").Unmap().String(), true
}

// canonicalUUID reports whether s is a uuid in its canonical text form
// (lower-case hex, 8-4-4-4-12), the form the catalog stores, so that ByRef
// can look it up without parsing.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
