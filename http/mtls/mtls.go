package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Errors of this package.
var (
	// ErrMalformed: a certificate header that is not URL-encoded PEM
	// certificates.
	ErrMalformed = errors.New("mtls: malformed client certificate header")
)

// MaxHeaderLen bounds a certificate header: a leaf and a couple of
// intermediates, URL-encoded, fit well within it.
const MaxHeaderLen = 16 * 1024

// maxChain bounds how many certificates one header may carry.
const maxChain = 8

// Source reads a request's client certificate chain, leaf first.
type Source struct {
	// Header, when set, is the request header in which a reverse proxy
	// that terminated TLS passes the verified client certificate (and
	// optionally its chain) as URL-encoded PEM (nginx
	// $ssl_client_escaped_cert, envoy and others alike).
	Header string
	// TrustedProxies are the only peers whose Header is read; from any
	// other peer it is ignored (anyone can send a header).
	TrustedProxies []netip.Prefix
}

// Chain is the request's client certificate chain, leaf first, or nil.
// A request that came over TLS to the node is answered from its own
// handshake, and then no header counts; otherwise the header counts
// only when the connection's peer is a trusted proxy. A malformed header
// from a trusted proxy is ErrMalformed.
func (s *Source) Chain(r *http.Request) ([]*x509.Certificate, error) {
	if r.TLS != nil {
		if len(r.TLS.PeerCertificates) == 0 {
			return nil, nil
		}
		return r.TLS.PeerCertificates, nil
	}
	if s == nil || s.Header == "" {
		return nil, nil
	}
	v := r.Header.Values(s.Header)
	if len(v) == 0 || !s.fromTrustedProxy(r.RemoteAddr) {
		return nil, nil
	}
	if len(v) > 1 {
		return nil, ErrMalformed
	}
	return ParseHeader(v[0])
}

// fromTrustedProxy reports whether the connection's peer (never an
// address a header names) is a trusted proxy.
func (s *Source) fromTrustedProxy(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseHeader reads a certificate header: URL-encoded PEM, one or more
// CERTIFICATE blocks, leaf first. Empty is no certificate.
func ParseHeader(v string) ([]*x509.Certificate, error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > MaxHeaderLen {
		return nil, ErrMalformed
	}
	raw, err := url.PathUnescape(v)
	if err != nil {
		return nil, ErrMalformed
	}
	// Some proxies encode spaces as '+': PEM never holds a '+' outside
	// the base64 body, where it is meaningful, so only the armour lines'
	// spaces may come as '+'.
	raw = strings.ReplaceAll(raw, "BEGIN+CERTIFICATE", "BEGIN CERTIFICATE")
	raw = strings.ReplaceAll(raw, "END+CERTIFICATE", "END CERTIFICATE")
	rest := []byte(raw)
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(chain) == maxChain {
			return nil, ErrMalformed
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, ErrMalformed
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 || strings.TrimSpace(string(rest)) != "" {
		return nil, ErrMalformed
	}
	return chain, nil
}

// Thumbprint is a certificate's x5t#S256: base64url SHA-256 of its DER
// (RFC 8705 §3.1).
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
