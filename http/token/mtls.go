package token

// Certificate-bound tokens at the token endpoint (RFC 8705 §3): a client
// registered with tls_client_certificate_bound_access_tokens gets access
// tokens bound to the certificate it presented (cnf x5t#S256), and a
// public one's refresh family too (§4).

import (
	"context"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/mtls"
	"authrim/http/oauth2"
)

type certKey struct{}

// presented is what the request's client certificate means here.
type presented struct {
	// x5t is the certificate's thumbprint ("" without one).
	x5t string
	// bind: the client's tokens are bound to it.
	bind bool
}

// x5tOf is the thumbprint the request's tokens are bound to, "" when
// they are not bound to a certificate.
func x5tOf(ctx context.Context) string {
	if p, _ := ctx.Value(certKey{}).(presented); p.bind {
		return p.x5t
	}
	return ""
}

// presentedX5T is the thumbprint of the certificate the request
// presented, bound or not ("" without one).
func presentedX5T(ctx context.Context) string {
	p, _ := ctx.Value(certKey{}).(presented)
	return p.x5t
}

// checkCertificate reads the request's client certificate, if any, and
// returns a context carrying it for the grants. A client registered with
// tls_client_certificate_bound_access_tokens must present one.
//
// A client under FAPI 2.0 without a DPoP proof gets its tokens bound to
// the certificate it presented (§5.3.1.1: sender-constrained tokens);
// the caller refuses one that has neither.
func (h *Handler) checkCertificate(ctx context.Context, c echo.Context, client directory.Client) (context.Context, error) {
	if h.clients.Certs == nil {
		if client.TLSClientCertificateBoundAccessTokens {
			return ctx, oauth2.ErrInvalidRequest.WithDescription("mutual TLS is not available")
		}
		return ctx, nil
	}
	certs, err := h.clients.Certs(c.Request())
	if err != nil {
		return ctx, oauth2.ErrInvalidRequest.WithDescription("malformed client certificate")
	}
	p := presented{bind: client.TLSClientCertificateBoundAccessTokens || client.FAPI2() && jktOf(ctx) == ""}
	switch {
	case len(certs) > 0:
		p.x5t = mtls.Thumbprint(certs[0])
	case client.TLSClientCertificateBoundAccessTokens:
		return ctx, oauth2.ErrInvalidRequest.WithDescription("this client must present its TLS client certificate (its tokens are certificate-bound)")
	case p.bind:
		return ctx, errFAPI2Unbound
	}
	return context.WithValue(ctx, certKey{}, p), nil
}

// errFAPI2Unbound refuses a token request of a FAPI 2.0 client that
// would get a bearer token.
var errFAPI2Unbound = oauth2.ErrInvalidRequest.WithDescription("FAPI 2.0: tokens must be sender-constrained: send a DPoP proof or present a TLS client certificate")
