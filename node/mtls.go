package node

// Mutual TLS (RFC 8705): where the node gets clients' certificates, the
// CAs tls_client_auth certificates chain to, and the alias URL discovery
// advertises (mtls_endpoint_aliases, §5).

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"authrim/http/mtls"
)

// MTLSConfig is http.mtls.
type MTLSConfig struct {
	// Listen, when set, is a second https listener (host:port) serving
	// every public route with http.tls's certificate that requests, and
	// does not require, a client certificate. It is apart from
	// http.listen because asking browsers for a certificate there would
	// make them prompt users who have one installed (RFC 8705 §5).
	Listen string `yaml:"listen"`
	// URL is the base URL clients reach mutual TLS at: this listener's,
	// or the alias host of a proxy that terminates TLS
	// (client_cert_header). Discovery advertises the endpoints under it
	// as mtls_endpoint_aliases (RFC 8705 §5). Empty: clients use the
	// ordinary endpoints (fine behind a proxy that asks for certificates
	// on the main host).
	URL string `yaml:"url"`
	// ClientCAFile holds the CAs (PEM) a tls_client_auth client's
	// certificate must chain to (RFC 8705 §2.1). Without it only
	// self_signed_tls_client_auth and certificate-bound tokens work.
	ClientCAFile string `yaml:"client_ca_file"`
}

// MTLSEnabled reports whether the node can see client certificates: on
// its own mTLS listener, or from a trusted proxy's header.
func (h HTTPConfig) MTLSEnabled() bool { return h.MTLS.Listen != "" || h.ClientCertHeader != "" }

// mtlsProblems checks http.mtls and http.client_cert_header.
func (c Config) mtlsProblems(add func(key, format string, args ...any)) {
	h := c.HTTP
	if name := h.ClientCertHeader; name != "" {
		switch {
		case strings.ContainsFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}):
			add("http.client_cert_header", "%q is not a header name", name)
		case len(h.TrustedProxies) == 0:
			// From anyone else the header is a client's own claim.
			add("http.client_cert_header", "needs http.trusted_proxies: the header is read only from the proxies listed there")
		case http.CanonicalHeaderKey(name) == "Authorization" || http.CanonicalHeaderKey(name) == "Dpop" ||
			http.CanonicalHeaderKey(name) == "X-Forwarded-For":
			add("http.client_cert_header", "%q is a header with another meaning", name)
		}
	}
	m := h.MTLS
	if l := m.Listen; l != "" {
		switch _, _, err := net.SplitHostPort(l); {
		case err != nil:
			add("http.mtls.listen", "must be host:port or empty, got %q", l)
		case !h.TLS.Enabled():
			add("http.mtls.listen", "needs http.tls (the listener serves https with its certificate)")
		case l == h.Listen || l == c.Admin.Listen || l == c.Metrics.Listen:
			add("http.mtls.listen", "must differ from http.listen, admin.listen and metrics.listen")
		}
	}
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		switch {
		case !h.MTLSEnabled():
			add("http.mtls.url", "needs http.mtls.listen or http.client_cert_header (nothing would see the certificates)")
		case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			add("http.mtls.url", "must be an https URL without query or fragment, got %q", m.URL)
		}
	} else if m.Listen != "" {
		add("http.mtls.url", "must be set with http.mtls.listen: the URL clients reach it at, advertised in discovery")
	}
	if m.ClientCAFile != "" && !h.MTLSEnabled() {
		add("http.mtls.client_ca_file", "needs http.mtls.listen or http.client_cert_header (nothing would see the certificates)")
	}
}

// loadClientCAs reads http.mtls.client_ca_file (nil when unset), so a
// node whose file is missing or holds no certificate refuses to start.
func loadClientCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("node: http.mtls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("node: http.mtls.client_ca_file %s: %w", file, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("node: http.mtls.client_ca_file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// certSource is where the node's front ends read client certificates
// (nil when mutual TLS is off).
func (c Config) certSource() *mtls.Source {
	if !c.HTTP.MTLSEnabled() {
		return nil
	}
	return &mtls.Source{Header: c.HTTP.ClientCertHeader, TrustedProxies: c.HTTP.TrustedProxyPrefixes()}
}

// mtlsServerConfig is the mTLS listener's TLS configuration: the public
// listener's certificate, a client certificate requested but neither
// required nor verified here (tls_client_auth verifies the chain against
// its own CAs, self-signed certificates are legitimate, and a browser
// or bearer client without one still gets served).
func mtlsServerConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.ClientAuth = tls.RequestClientCert
	return c
}
