package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses the networks of --trusted-proxies: CIDR
// prefixes ("10.0.0.0/8", "fd00::/8") or single addresses ("192.0.2.10").
// Empty items are skipped; anything else is an error naming the item.
func ParseTrustedProxies(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range items {
		s := strings.TrimSpace(item)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					return nil, fmt.Errorf("invalid trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", item)
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf("invalid trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or an IP address", item)
	}
	return out, nil
}

// trustedProxies decides a request's client address.
type trustedProxies []netip.Prefix

// contains reports whether a is in a trusted network.
func (tp trustedProxies) contains(a netip.Addr) bool {
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that sent r. The connection's
// peer is the client unless it is a trusted proxy: then X-Forwarded-For
// is read from the right (the hop nearest to this server) and the first
// address that is not a trusted proxy is the client. Entries to the left
// of it were written by the client itself and are never believed. When
// every entry is a trusted proxy the leftmost one is the client; an entry
// that is not an address ends the walk at the last trusted hop before it.
// ok is false when the peer's address cannot be read.
func (tp trustedProxies) clientAddr(r *http.Request) (client netip.Addr, peer netip.Addr, ok bool) {
	peer, ok = parseHost(r.RemoteAddr, true)
	if !ok {
		return netip.Addr{}, netip.Addr{}, false
	}
	client = peer
	if len(tp) == 0 || !tp.contains(peer) {
		return client, peer, true
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := hops[i]
		for list != "" {
			var entry string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				entry, list = list[j+1:], list[:j]
			} else {
				entry, list = list, ""
			}
			a, ok := parseHost(strings.TrimSpace(entry), false)
			if !ok {
				return client, peer, true
			}
			client = a
			if !tp.contains(a) {
				return client, peer, true
			}
		}
	}
	return client, peer, true
}

// parseHost reads an address as RemoteAddr ("ip:port", "[v6]:port") or an
// X-Forwarded-For entry ("ip", "[v6]", "ip:port") writes it, unmapping
// IPv4-mapped IPv6 addresses. Zones are refused in forwarded entries.
func parseHost(s string, remote bool) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(host)
	if err != nil || (!remote && a.Zone() != "") {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// peerKey carries the connection's peer address in a request's context
// when it differs from the client address (the request came through a
// trusted proxy), for the access log.
type peerKey struct{}

// withClientAddr sets each request's RemoteAddr to its client's address
// (see clientAddr), so that everything downstream that keys on the client
// (the dashboard's sign-in limiter, the API's rate limits, the audit log,
// the access log) sees the client and not the proxy. Without trusted
// proxies it changes nothing.
func (tp trustedProxies) withClientAddr(next http.Handler) http.Handler {
	if len(tp) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, peer, ok := tp.clientAddr(r)
		if ok && client != peer {
			r2 := r.WithContext(context.WithValue(r.Context(), peerKey{}, r.RemoteAddr))
			r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}
