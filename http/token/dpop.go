package token

// DPoP at the token endpoint (RFC 9449 §5): a proof in the DPoP header
// binds the access token to the proof's key (cnf.jkt, token_type DPoP),
// and a public client's refresh-token family too.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/dpop"
	"authrim/http/oauth2"
)

// WithDPoP checks DPoP proofs with c and binds tokens to their keys.
// Without it the DPoP header is ignored (RFC 9449 §5: a server that does
// not support DPoP issues bearer tokens) and a client that requires DPoP
// cannot get tokens.
func (h *Handler) WithDPoP(c *dpop.Checker) *Handler {
	h.dpop = c
	return h
}

type proofKey struct{}

// proofOf is the request's checked proof, nil without one.
func proofOf(ctx context.Context) *dpop.Parsed {
	p, _ := ctx.Value(proofKey{}).(*dpop.Parsed)
	return p
}

// jktOf is the thumbprint of the request's proof key, "" without one.
func jktOf(ctx context.Context) string {
	if p := proofOf(ctx); p != nil {
		return p.JKT
	}
	return ""
}

// checkProof checks the request's DPoP proof, if any, against POST and
// this endpoint's URI (from the issuer, never from Host), and returns a
// context carrying it for the grants. A client registered with
// dpop_bound_access_tokens must send one (RFC 9449 §5.2).
func (h *Handler) checkProof(c echo.Context, client directory.Client) (context.Context, error) {
	ctx := c.Request().Context()
	hdrs := c.Request().Header.Values(dpop.HeaderName)
	if h.dpop == nil {
		if client.DPoPBoundAccessTokens {
			return ctx, oauth2.ErrInvalidDPoPProof.WithDescription("DPoP is not available")
		}
		return ctx, nil
	}
	p, err := h.dpop.Check(ctx, hdrs, dpop.Request{Method: http.MethodPost, URI: strings.TrimSuffix(h.cfg.Issuer, "/") + Path})
	if err != nil {
		return ctx, ProofError(err)
	}
	if p == nil {
		if client.DPoPBoundAccessTokens {
			return ctx, oauth2.ErrInvalidDPoPProof.WithDescription("this client must send a DPoP proof")
		}
		return ctx, nil
	}
	return context.WithValue(ctx, proofKey{}, p), nil
}

// ProofError maps a proof check's error to its OAuth error (RFC 9449
// §5, §8); other errors (the store) pass through.
func ProofError(err error) error {
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return oauth2.ErrUseDPoPNonce.WithDescription(dpop.Description(err))
	case errors.Is(err, dpop.ErrInvalidProof):
		return oauth2.ErrInvalidDPoPProof.WithDescription(dpop.Description(err))
	}
	return err
}

// bind is the one place that decides an access token's binding: to the
// request's DPoP proof key (RFC 9449 §6.1, cnf.jkt), and to its client
// certificate when the client's tokens are certificate-bound (RFC 8705
// §3.1, cnf x5t#S256); both when both apply. It returns the token_type
// to answer: DPoP for a DPoP-bound token (RFC 9449 §5), else Bearer
// (RFC 8705 §3: a certificate-bound token keeps the Bearer scheme).
func bind(ctx context.Context, at *oauth2.AccessToken) string {
	jkt, x5t := jktOf(ctx), x5tOf(ctx)
	if jkt == "" && x5t == "" {
		return "Bearer"
	}
	at.Cnf = &oauth2.Confirmation{JKT: jkt, X5TS256: x5t}
	if jkt != "" {
		return dpop.TokenType
	}
	return "Bearer"
}
