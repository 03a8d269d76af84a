package directory

import (
	"net"
	"net/url"
	"slices"
	"strconv"
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

// MatchRedirectURI tells whether got is one of the registered redirect
// URIs: an exact string match (RFC 9700 §4.1.3), except that the port of
// an http URI on a loopback IP literal (127.0.0.1 or [::1]) may be any
// (RFC 8252 §7.3: native apps listen on an ephemeral port). The rest of
// such a URI must still match exactly. "localhost" gets no such leeway
// (RFC 8252 §8.3 advises against it: the name may not resolve to the
// loopback interface).
//
// The token endpoint needs no such rule: it compares its redirect_uri
// with the one the authorization request carried, exactly.
func MatchRedirectURI(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	host, rest, ok := loopbackURI(got)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, ok := loopbackURI(r); ok && h == host && rr == rest {
			return true
		}
	}
	return false
}

// loopbackURI splits an http URI on a loopback IP literal into the part
// before the port ("http://127.0.0.1", "http://[::1]") and the part after
// it (path, query; "" for none). ok is false for any other URI, including
// one whose port is not a plain 1..65535 or whose authority goes on past
// the host (userinfo, another host: "http://127.0.0.1.example",
// "http://127.0.0.1:80@example").
func loopbackURI(uri string) (host, rest string, ok bool) {
	for _, prefix := range []string{"http://127.0.0.1", "http://[::1]"} {
		after, found := strings.CutPrefix(uri, prefix)
		if !found {
			continue
		}
		if port, found := strings.CutPrefix(after, ":"); found {
			i := 0
			for i < len(port) && port[i] >= '0' && port[i] <= '9' {
				i++
			}
			if n, err := strconv.Atoi(port[:i]); err != nil || i > 5 || n < 1 || n > 65535 {
				return "", "", false
			}
			after = port[i:]
		}
		if after != "" && after[0] != '/' && after[0] != '?' {
			return "", "", false
		}
		return prefix, after, true
	}
	return "", "", false
}
