// Package netguard tells which addresses a URL a client registers may
// name for the node to reach: ordinary global unicast ones, never the
// node's own or its private network. It exists so that the directory can
// refuse a private address at registration (a clear error then, not a
// failed delivery later) without importing http/fetch, which imports the
// directory; http/fetch.Public applies the same rule to every connection
// it makes, and a test keeps the two in agreement.
package netguard

import (
	"net/netip"
	"strings"
)

// cgnat is RFC 6598 shared address space; benchmark is RFC 2544; nat64
// is RFC 6052's well-known prefix.
var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// Public reports whether ip is an ordinary global unicast address: not
// loopback, private (RFC 1918, RFC 4193), link-local, unspecified,
// multicast, shared (RFC 6598), benchmark (RFC 2544), "this network", or
// an IPv4-mapped or NAT64 form of one of those.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !ip.IsValid(), ip.IsLoopback(), ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified(),
		cgnat.Contains(ip), benchmark.Contains(ip):
		return false
	}
	if ip.Is4() && ip.As4()[0] == 0 {
		return false // "this network"
	}
	return ip.IsGlobalUnicast()
}

// PrivateHost tells whether host (a URL's Hostname: no port, no
// brackets) names a non-public address literally: an IP literal Public
// refuses, localhost or a name under .localhost (RFC 6761 §6.3: they
// resolve to loopback), or a number-only name that some resolvers read as
// an IPv4 address ("127.1", "2130706433", "0x7f000001"), which is never a
// valid DNS name (RFC 1123 §2.1: a top-level label is not all-numeric).
// A name that merely resolves to a private address is caught at
// connection time, not here.
func PrivateHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return !Public(ip)
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	return numeric(last)
}

// numeric reports whether a label is a decimal, octal or hex number, as
// inet_aton reads the parts of an IPv4 address.
func numeric(label string) bool {
	if label == "" {
		return false
	}
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		label, digits = rest, "0123456789abcdef"
		if label == "" {
			return true
		}
	}
	return strings.Trim(label, digits) == ""
}
