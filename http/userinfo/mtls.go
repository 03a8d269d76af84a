package userinfo

// Certificate-bound tokens at the userinfo resource (RFC 8705 §3): a
// token whose cnf names a certificate thumbprint (x5t#S256) is honoured
// only over a connection that presented that certificate.

import (
	"crypto/subtle"
	"crypto/x509"
	"net/http"

	"authrim/http/mtls"
	"authrim/http/oauth2"
)

// WithMTLS accepts certificate-bound tokens, reading the request's
// client certificate with certs (mtls.Source.Chain). Without it a
// certificate-bound token is refused (its cnf cannot be honoured).
func (h *Handler) WithMTLS(certs func(r *http.Request) ([]*x509.Certificate, error)) *Handler {
	h.certs = certs
	return h
}

// checkCertificate applies RFC 8705 §3 to a token that verified: one
// bound to a certificate needs that certificate on this request, else
// 401 invalid_token.
func (h *Handler) checkCertificate(r *http.Request, x5t string) error {
	if x5t == "" {
		return nil
	}
	if h.certs == nil {
		return oauth2.ErrInvalidToken.WithDescription("the token is certificate-bound and mutual TLS is not available")
	}
	chain, err := h.certs(r)
	if err != nil || len(chain) == 0 {
		return oauth2.ErrInvalidToken.WithDescription("the token is certificate-bound: present its client certificate")
	}
	if subtle.ConstantTimeCompare([]byte(mtls.Thumbprint(chain[0])), []byte(x5t)) != 1 {
		return oauth2.ErrInvalidToken.WithDescription("the token is bound to another client certificate")
	}
	return nil
}
