package auth

// DPoP at the authorization and PAR endpoints (RFC 9449 §10): dpop_jkt
// binds the code to a key, and a proof at /par names that key too.

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/http/dpop"
	"authrim/http/oauth2"
)

// WithDPoP checks DPoP proofs sent to /par (RFC 9449 §10.1). Without it
// a proof there is ignored; dpop_jkt is honoured either way.
func (h *Handler) WithDPoP(c *dpop.Checker) *Handler {
	h.dpop = c
	return h
}

// dpopJKT reads dpop_jkt (RFC 9449 §10): a JWK SHA-256 thumbprint,
// base64url; "" when absent.
func dpopJKT(p url.Values) (string, error) {
	j := p.Get("dpop_jkt")
	if j == "" {
		return "", nil
	}
	if b, err := base64.RawURLEncoding.DecodeString(j); err != nil || len(b) != 32 {
		return "", oauth2.ErrInvalidRequest.WithDescription("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
	}
	return j, nil
}

// parProof checks the DPoP proof of a pushed request, if any, and puts
// its key's thumbprint in form as dpop_jkt; a dpop_jkt the form already
// has must be that key's (RFC 9449 §10.1).
func (h *Handler) parProof(c echo.Context, form url.Values) error {
	if h.dpop == nil {
		return nil
	}
	if h.dpop.Nonces != nil {
		c.Response().Header().Set(dpop.NonceHeader, h.dpop.Nonces.Current())
	}
	r := c.Request()
	p, err := h.dpop.Check(r.Context(), r.Header.Values(dpop.HeaderName), dpop.Request{Method: http.MethodPost, URI: strings.TrimSuffix(h.cfg.Issuer, "/") + PARPath})
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return oauth2.ErrUseDPoPNonce.WithDescription(dpop.Description(err))
	case errors.Is(err, dpop.ErrInvalidProof):
		return oauth2.ErrInvalidDPoPProof.WithDescription(dpop.Description(err))
	case err != nil:
		return err
	case p == nil:
		return nil
	}
	if j := form.Get("dpop_jkt"); j != "" && j != p.JKT {
		return oauth2.ErrInvalidDPoPProof.WithDescription("dpop_jkt is not the thumbprint of the proof's key")
	}
	form.Set("dpop_jkt", p.JKT)
	return nil
}
