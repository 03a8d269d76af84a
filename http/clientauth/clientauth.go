// Package clientauth authenticates OAuth clients at the token,
// revocation and introspection endpoints (RFC 6749 §2.3, OIDC Core §9):
// client_secret_basic, client_secret_post, none (public clients),
// private_key_jwt (RFC 7523), and mutual TLS (RFC 8705 §2):
// tls_client_auth and self_signed_tls_client_auth. A client may use
// only the method it registered, and only one method per request.
package clientauth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/directory"
	"authrim/http/mtls"
	"authrim/http/oauth2"
)

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime bounds how far ahead a client assertion's exp may be.
const MaxAssertionLifetime = 10 * time.Minute

// Methods lists the methods we support, for discovery.
var Methods = directory.AuthMethods

// AssertionAlgs are the JWS algorithms accepted for client assertions.
var AssertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// Directory is what client authentication needs of the directory.
type Directory interface {
	Client(ctx context.Context, id string) (directory.Client, error)
	UseJTI(ctx context.Context, clientID, jti string, exp time.Time) error
}

// Authenticator checks client credentials.
type Authenticator struct {
	Dir Directory
	// Issuer is the audience a client assertion must name, as a single
	// string (draft-ietf-oauth-rfc7523bis §4): an array, or the URL of
	// one endpoint, lets an assertion made for another server or
	// endpoint be replayed here (the 2025 audience injection attack on
	// private_key_jwt).
	Issuer string
	// TokenEndpoint, when set, is accepted too, also only as a single
	// string: older clients name the token endpoint (RFC 7523 §3). Off by
	// default (client_auth.accept_token_endpoint_audience).
	TokenEndpoint string
	Now           func() time.Time
	// Keys returns a client's public JWK set (its jwks, or its jwks_uri
	// document); nil means the registered jwks only.
	Keys func(ctx context.Context, c directory.Client, kid string) ([]byte, error)
	// Limit, when set, counts one request of the client once it is
	// authenticated (router.TakeClient): clients are rate limited by
	// who they proved to be, never by a client_id anybody can claim. Its
	// error is the answer.
	Limit func(ctx context.Context, clientID string) error
	// Certs reads the request's client certificate chain, leaf first
	// (mtls.Source.Chain); nil: mutual TLS is off, and clients of the
	// tls methods cannot authenticate.
	Certs func(r *http.Request) ([]*x509.Certificate, error)
	// ClientCAs are the CAs a tls_client_auth certificate must chain to
	// (RFC 8705 §2.1); nil: none, and such clients cannot authenticate.
	ClientCAs *x509.CertPool
}

func invalidClient(desc string) *oauth2.Error {
	return oauth2.ErrInvalidClient.WithDescription(desc)
}

// Authenticate returns the authenticated client, or an *oauth2.Error:
// invalid_client (401) for bad or missing credentials, invalid_request for
// a request that mixes methods.
func (a *Authenticator) Authenticate(r *http.Request, form url.Values) (directory.Client, error) {
	c, err := a.authenticate(r, form)
	if err == nil && c.FAPI2() {
		// FAPI 2.0 §5.3.1.1, §5.4: a client under the profile (its own,
		// or the node's, which may have been switched on after it
		// registered) authenticates only as the profile allows.
		if p := directory.FAPI2Problems(c.ClientMetadata); len(p) > 0 {
			return directory.Client{}, invalidClient("client registration does not meet FAPI 2.0: " + p[0].String())
		}
	}
	if err == nil && a.Limit != nil {
		if err := a.Limit(r.Context(), c.ID); err != nil {
			return directory.Client{}, err
		}
	}
	return c, err
}

func (a *Authenticator) authenticate(r *http.Request, form url.Values) (directory.Client, error) {
	ctx := r.Context()
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		// RFC 6749 §2.3.1: the credentials are form-urlencoded first.
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return directory.Client{}, invalidClient("malformed basic credentials")
		}
	}
	postSecret := form.Get("client_secret")
	assertion := form.Get("client_assertion")
	formID := form.Get("client_id")
	methods := 0
	for _, b := range []bool{hasBasic, postSecret != "", assertion != ""} {
		if b {
			methods++
		}
	}
	if methods > 1 {
		return directory.Client{}, oauth2.ErrInvalidRequest.WithDescription("use exactly one client authentication method")
	}
	switch {
	case hasBasic:
		if formID != "" && formID != basicID {
			return directory.Client{}, oauth2.ErrInvalidRequest.WithDescription("client_id does not match the authenticated client")
		}
		return a.secret(ctx, basicID, basicSecret, "client_secret_basic")
	case postSecret != "":
		return a.secret(ctx, formID, postSecret, "client_secret_post")
	case assertion != "":
		if form.Get("client_assertion_type") != AssertionType {
			return directory.Client{}, oauth2.ErrInvalidRequest.WithDescription("unsupported client_assertion_type")
		}
		return a.privateKeyJWT(ctx, formID, assertion)
	case formID != "":
		c, err := a.client(ctx, formID)
		if err != nil {
			return directory.Client{}, err
		}
		switch c.AuthMethod {
		case "none":
			return c, nil
		case directory.AuthTLSClient, directory.AuthSelfSignedTLSClient:
			return a.mutualTLS(r, c)
		}
		return directory.Client{}, invalidClient("client authentication required")
	}
	return directory.Client{}, invalidClient("client authentication required")
}

// client looks id up. An unknown client gets the same answer as a wrong
// secret: no client enumeration. A directory that cannot answer stays
// an error (503 when it may pass): invalid_client would tell the client
// its credentials failed (RFC 6749 §5.2), which clients take as final.
func (a *Authenticator) client(ctx context.Context, id string) (directory.Client, error) {
	c, err := a.Dir.Client(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Client{}, invalidClient("unknown client or bad credentials")
	}
	if err != nil {
		return directory.Client{}, fmt.Errorf("clientauth: client lookup: %w", err)
	}
	return c, nil
}

func (a *Authenticator) secret(ctx context.Context, id, secret, method string) (directory.Client, error) {
	c, err := a.client(ctx, id)
	if err != nil {
		return directory.Client{}, err
	}
	if c.AuthMethod != method {
		return directory.Client{}, invalidClient("client is registered for " + c.AuthMethod)
	}
	if err := directory.VerifyClientSecret(c, secret); err != nil {
		return directory.Client{}, invalidClient("unknown client or bad credentials")
	}
	return c, nil
}

// mutualTLS authenticates c by the certificate the request presented
// (RFC 8705 §2: client_id in the request, the certificate from the TLS
// handshake or a trusted proxy's header).
func (a *Authenticator) mutualTLS(r *http.Request, c directory.Client) (directory.Client, error) {
	if a.Certs == nil {
		return directory.Client{}, invalidClient("mutual TLS is not available")
	}
	chain, err := a.Certs(r)
	if err != nil {
		return directory.Client{}, invalidClient("malformed client certificate")
	}
	if len(chain) == 0 {
		return directory.Client{}, invalidClient("client certificate required")
	}
	switch c.AuthMethod {
	case directory.AuthTLSClient:
		// §2.1: the PKI method; the chain first, then the subject.
		if err := mtls.VerifyChain(chain, a.ClientCAs, a.Now()); err != nil {
			return directory.Client{}, invalidClient("client certificate is not from a trusted CA")
		}
		t := c.TLSClientAuth
		if !(mtls.Expected{SubjectDN: t.SubjectDN, SANDNS: t.SANDNS, SANURI: t.SANURI, SANIP: t.SANIP, SANEmail: t.SANEmail}).Matches(chain[0]) {
			return directory.Client{}, invalidClient("client certificate does not match the registration")
		}
	default:
		// §2.2: the self-signed method; the registered keys are the
		// trust, no chain is checked.
		raw := []byte(c.JWKS)
		if a.Keys != nil {
			if raw, err = a.Keys(r.Context(), c, ""); err != nil {
				return directory.Client{}, invalidClient("client keys could not be retrieved")
			}
		}
		if now := a.Now(); now.Before(chain[0].NotBefore) || now.After(chain[0].NotAfter) {
			return directory.Client{}, invalidClient("client certificate expired or not yet valid")
		}
		if !mtls.MatchKey(chain[0], raw) {
			return directory.Client{}, invalidClient("client certificate does not match the registered keys")
		}
	}
	return c, nil
}

// privateKeyJWT checks a client assertion (RFC 7523 §3, OIDC Core §9).
func (a *Authenticator) privateKeyJWT(ctx context.Context, formID, assertion string) (directory.Client, error) {
	if len(assertion) > 8192 {
		return directory.Client{}, invalidClient("client assertion too large")
	}
	tok, err := jwt.ParseSigned(assertion, AssertionAlgs)
	if err != nil {
		return directory.Client{}, invalidClient("malformed client assertion")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return directory.Client{}, invalidClient("malformed client assertion")
	}
	id := unverified.Issuer
	if formID != "" && formID != id {
		return directory.Client{}, invalidClient("client_id does not match the assertion")
	}
	c, err := a.client(ctx, id)
	if err != nil {
		return directory.Client{}, err
	}
	if c.AuthMethod != "private_key_jwt" {
		return directory.Client{}, invalidClient("unknown client or bad credentials")
	}
	raw := []byte(c.JWKS)
	if a.Keys != nil {
		if raw, err = a.Keys(ctx, c, tok.Headers[0].KeyID); err != nil {
			return directory.Client{}, invalidClient("client keys could not be retrieved")
		}
	}
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &keys); err != nil {
		return directory.Client{}, invalidClient("client has no usable keys")
	}
	var claims jwt.Claims
	// jwt.Claims reads aud as a list whether it was one: the raw member
	// tells a string from an array.
	var audOf struct {
		Aud json.RawMessage `json:"aud"`
	}
	verified := false
	for _, k := range keys.Keys {
		if kid := tok.Headers[0].KeyID; kid != "" && k.KeyID != kid {
			continue
		}
		if (k.Algorithm != "" && k.Algorithm != tok.Headers[0].Algorithm) || k.Use == "enc" {
			continue
		}
		if err := tok.Claims(k.Key, &claims, &audOf); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return directory.Client{}, invalidClient("client assertion signature invalid")
	}
	if c.FAPI2() && !slices.Contains(directory.FAPI2Algs, tok.Headers[0].Algorithm) {
		// FAPI 2.0 §5.4: PS256, ES256 or EdDSA.
		return directory.Client{}, invalidClient("FAPI 2.0: client assertions must be signed with PS256, ES256 or EdDSA")
	}
	if alg := c.TokenEndpointAuthSigningAlg; alg != "" && tok.Headers[0].Algorithm != alg {
		// OIDC Dynamic Client Registration §2: assertions signed with
		// another alg than the registered one are refused.
		return directory.Client{}, invalidClient("client assertion must be signed with " + alg)
	}
	now := a.Now()
	if claims.Subject != id || claims.Issuer != id {
		return directory.Client{}, invalidClient("assertion iss and sub must be the client_id")
	}
	if claims.Expiry == nil || claims.ID == "" {
		return directory.Client{}, invalidClient("assertion needs exp and jti")
	}
	if claims.Expiry.Time().After(now.Add(MaxAssertionLifetime)) {
		// A far-off exp would make the jti record live as long.
		return directory.Client{}, invalidClient("assertion exp is too far in the future")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, 30*time.Second); err != nil {
		return directory.Client{}, invalidClient("assertion expired or not yet valid")
	}
	var aud string
	if err := json.Unmarshal(audOf.Aud, &aud); err != nil {
		return directory.Client{}, invalidClient("assertion aud must be the issuer identifier, as a single string")
	}
	if aud != a.Issuer && (a.TokenEndpoint == "" || aud != a.TokenEndpoint) {
		return directory.Client{}, invalidClient("assertion aud must be the issuer identifier")
	}
	if err := a.Dir.UseJTI(ctx, id, claims.ID, claims.Expiry.Time()); err != nil {
		if errors.Is(err, directory.ErrReplay) {
			return directory.Client{}, invalidClient("client assertion already used")
		}
		return directory.Client{}, err
	}
	return c, nil
}
