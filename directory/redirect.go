package directory

import (
	"net"
	"net/url"
	"strings"
)

// maxURILen bounds one registered URI.
const maxURILen = 2048

// CheckRedirectURI applies the registration rules for redirect URIs
// (RFC 9700 §2.1, RFC 8252 §7, RFC 6749 §3.1.2): absolute, no fragment,
// https, or http only on loopback (localhost, 127.0.0.0/8, ::1), or a
// private-use scheme for native apps, which must be a reverse domain name
// and so contain a dot (RFC 8252 §7.1). Schemes that run or read content
// in the browser (javascript, data, file, vbscript) are refused. The same
// rules apply to post-logout redirect URIs.
//
// The error wraps ErrInvalid; it is an *InvalidError whose Reason names
// the URI and the broken rule.
func CheckRedirectURI(raw string) error {
	if len(raw) > maxURILen {
		return invalid("redirect URI %q is longer than %d bytes", clip(raw), maxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return invalid("redirect URI %q is not an absolute URI", clip(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("redirect URI %q must not have a fragment", clip(raw))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host == "" {
			return invalid("redirect URI %q has no host", clip(raw))
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return invalid("redirect URI %q: http only for localhost/loopback", clip(raw))
		}
	case "javascript", "data", "file", "vbscript":
		return invalid("redirect URI %q: scheme not allowed", clip(raw))
	default:
		// RFC 8252 §7.1: private-use schemes are reverse domain names.
		if !strings.Contains(u.Scheme, ".") {
			return invalid("redirect URI %q: a native app scheme must be a reverse domain name (com.example.app)", clip(raw))
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
