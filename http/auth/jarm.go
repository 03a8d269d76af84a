package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"authrim/directory"
	"authrim/http/oauth2"
)

// JWT Secured Authorization Response Mode for OAuth 2.0 (JARM): the
// response parameters travel in one signed (and optionally encrypted)
// JWT, the "response" parameter.
const (
	// ModeJWT is the default jwt mode of the response type: query.jwt
	// for code and none, the only response types served (JARM §2.3.4).
	ModeJWT         = "jwt"
	ModeQueryJWT    = "query.jwt"
	ModeFormPostJWT = "form_post.jwt"
)

// JARMTTL is how long a response JWT is valid: short, as it only
// carries the response to the client (JARM §2.1 recommends 10 minutes).
const JARMTTL = 10 * time.Minute

// Signer signs a JWS payload with the node's key for alg.
type Signer interface {
	Sign(ctx context.Context, alg string, payload []byte, typ string) (token, kid string, err error)
}

// Responses signs and encrypts JWT Secured Authorization Responses.
type Responses struct {
	Signer    Signer
	Encrypter oauth2.Encrypter
	Keys      oauth2.ClientKeys
}

// WithResponses enables the jwt response modes (JARM). Without it they
// are refused as unsupported.
func (h *Handler) WithResponses(r *Responses) *Handler {
	h.jarm = r
	return h
}

// supportedMode tells whether response mode m is served ("" is the
// default of the response type).
func (h *Handler) supportedMode(m string) bool {
	switch m {
	case "", "query", "form_post":
		return true
	case ModeJWT, ModeQueryJWT, ModeFormPostJWT:
		return h.jarm != nil
	}
	return false
}

// jwtMode tells whether m carries the response in a JWT, and the plain
// mode that then delivers the "response" parameter.
func jwtMode(m string) (carrier string, ok bool) {
	switch m {
	case ModeJWT, ModeQueryJWT:
		return "query", true
	case ModeFormPostJWT:
		return "form_post", true
	}
	return m, false
}

// errJARM is a response JWT that could not be made; the response must
// not go out in the clear instead.
var errJARM = errors.New("auth: authorization response JWT")

// responseJWT packs v (state and iss included) into the client's
// response JWT (JARM §2.1): iss, aud (the client), exp and the
// parameters, signed with authorization_signed_response_alg and then
// encrypted when the client registered authorization_encrypted_response_alg.
func (h *Handler) responseJWT(ctx context.Context, clientID string, v url.Values) (string, error) {
	if h.jarm == nil {
		return "", fmt.Errorf("%w: not configured", errJARM)
	}
	cl, err := h.clients.Client(ctx, clientID)
	if err != nil {
		return "", fmt.Errorf("%w: client %s: %v", errJARM, clientID, err)
	}
	claims := map[string]any{}
	for k := range v {
		claims[k] = v.Get(k)
	}
	now := h.cfg.Now()
	claims["iss"] = h.cfg.Issuer
	claims["aud"] = cl.ID
	claims["exp"] = now.Add(JARMTTL).Unix()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	alg := cl.AuthorizationSignedResponseAlg
	if alg == "" {
		alg = directory.DefaultAuthorizationResponseAlg
	}
	tok, _, err := h.jarm.Signer.Sign(ctx, alg, payload, "JWT")
	if err != nil {
		return "", fmt.Errorf("%w: sign: %v", errJARM, err)
	}
	if ea := cl.AuthorizationEncryptedResponseAlg; ea != "" {
		enc := cl.AuthorizationEncryptedResponseEnc
		if enc == "" {
			enc = directory.DefaultEncryptionEnc
		}
		if tok, err = oauth2.EncryptFor(ctx, h.jarm.Encrypter, h.jarm.Keys, cl, []byte(tok), ea, enc, "JWT"); err != nil {
			return "", fmt.Errorf("%w: encrypt: %v", errJARM, err)
		}
	}
	return tok, nil
}
