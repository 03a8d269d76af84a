package userinfo

// DPoP at the userinfo resource (RFC 9449 §7): a DPoP-bound token comes
// as "Authorization: DPoP <token>" with a proof by its key, carrying ath;
// as a Bearer token it is refused.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"authrim/http/dpop"
	"authrim/http/oauth2"
)

// WithDPoP accepts DPoP-bound tokens, checking their proofs with c
// against uri (this endpoint's URI from the issuer). Without it a bound
// token is refused (its cnf cannot be honoured).
func (h *Handler) WithDPoP(c *dpop.Checker, uri string) *Handler {
	h.dpop, h.dpopURI = c, uri
	return h
}

// Resource-side DPoP errors are 401s with a DPoP challenge (RFC 9449
// §7.1, §9).
var (
	errInvalidProof = &oauth2.Error{Code: oauth2.ErrInvalidDPoPProof.Code, Status: http.StatusUnauthorized}
	errUseNonce     = &oauth2.Error{Code: oauth2.ErrUseDPoPNonce.Code, Status: http.StatusUnauthorized}
)

// dpopError marks an answer that challenges with DPoP.
type dpopError struct{ err error }

func (e dpopError) Error() string { return e.err.Error() }
func (e dpopError) Unwrap() error { return e.err }

// checkBinding applies RFC 9449 §7.1 to a token that verified: a token
// bound to a key (cnf.jkt) needs the DPoP scheme and a proof by that key
// for this request with ath; a token sent with the DPoP scheme must be
// bound.
func (h *Handler) checkBinding(ctx context.Context, r *http.Request, scheme, raw, jkt string) error {
	isDPoP := strings.EqualFold(scheme, dpop.TokenType)
	switch {
	case jkt == "" && !isDPoP:
		return nil // a bearer token, used as one
	case jkt == "":
		return dpopError{oauth2.ErrInvalidToken.WithDescription("the token is not DPoP-bound")}
	case !isDPoP:
		return dpopError{oauth2.ErrInvalidToken.WithDescription("a DPoP-bound token must be sent with the DPoP scheme and a proof")}
	case h.dpop == nil:
		return dpopError{oauth2.ErrInvalidToken.WithDescription("DPoP is not available")}
	}
	p, err := h.dpop.Check(ctx, r.Header.Values(dpop.HeaderName), dpop.Request{Method: r.Method, URI: h.dpopURI, AccessToken: raw})
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return dpopError{errUseNonce.WithDescription(dpop.Description(err))}
	case errors.Is(err, dpop.ErrInvalidProof):
		return dpopError{errInvalidProof.WithDescription(dpop.Description(err))}
	case err != nil:
		return err
	case p == nil:
		return dpopError{errInvalidProof.WithDescription("a DPoP proof is required")}
	case !dpop.Bound(p, jkt):
		return dpopError{oauth2.ErrInvalidToken.WithDescription("the token is bound to another key")}
	}
	return nil
}

// dpopChallenge is the DPoP WWW-Authenticate value for e (RFC 9449 §7.1).
func dpopChallenge(e *oauth2.Error, algs []string) string {
	v := `DPoP algs="` + strings.Join(algs, " ") + `"`
	if e.Code != "" && e.Code != "unauthorized" {
		v += `, error="` + e.Code + `"`
	}
	return v
}
