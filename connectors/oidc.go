package connectors

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/http/fetch"
)

// googleIssuer is Google's issuer (discovery at
// https://accounts.google.com/.well-known/openid-configuration).
const googleIssuer = "https://accounts.google.com"

// asymmetricAlgs are the ID token algorithms this connector verifies: the
// upstream's advertised list is intersected with them. HMAC (keyed by
// the client secret) and none are never accepted.
var asymmetricAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// idTokenOnly are the claims userinfo may not override.
var idTokenOnly = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "azp", "auth_time", "at_hash", "c_hash", "sid", "amr", "acr"}

// clockSkew is how far the upstream's clock may be from ours.
const clockSkew = time.Minute

// oidcConnector signs users in at an OpenID Provider (OIDC Core §3.1,
// the authorization code flow) found by discovery (OIDC Discovery §4).
type oidcConnector struct {
	base
	secret string
	fetch  *fetch.Fetcher
}

func newOIDC(c Config, secret string, f *fetch.Fetcher) *oidcConnector {
	if c.Type == "google" && c.Issuer == "" {
		c.Issuer = googleIssuer
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "email", "profile"}
	} else if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	return &oidcConnector{base: base{cfg: c}, secret: secret, fetch: f}
}

var _ Redirect = (*oidcConnector)(nil)

// Metadata is the part of the provider metadata the connector uses.
type Metadata struct {
	Issuer        string   `json:"issuer"`
	Authorization string   `json:"authorization_endpoint"`
	Token         string   `json:"token_endpoint"`
	UserInfo      string   `json:"userinfo_endpoint"`
	JWKSURI       string   `json:"jwks_uri"`
	Algs          []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
}

// ParseDiscovery reads a provider's metadata and checks it is the
// issuer's (OIDC Discovery §4.3: the issuer must be exactly the one the
// document was fetched for) with https endpoints.
func ParseDiscovery(body []byte, issuer string) (Metadata, error) {
	var d Metadata
	if err := json.Unmarshal(body, &d); err != nil {
		return Metadata{}, fmt.Errorf("%w: discovery document is not JSON", ErrUnavailable)
	}
	if d.Issuer != issuer {
		return Metadata{}, fmt.Errorf("%w: discovery names issuer %q, not %q", ErrUnavailable, d.Issuer, issuer)
	}
	for _, u := range []string{d.Authorization, d.Token, d.JWKSURI} {
		if checkURL(u) != nil && !validQueryURL(u) {
			return Metadata{}, fmt.Errorf("%w: discovery endpoint %q is not an https URL", ErrUnavailable, u)
		}
	}
	if d.UserInfo != "" && checkURL(d.UserInfo) != nil && !validQueryURL(d.UserInfo) {
		d.UserInfo = ""
	}
	return d, nil
}

// validQueryURL accepts an https URL that may carry a query (some
// providers' endpoints do).
func validQueryURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.Fragment == "" && u.User == nil
}

func (o *oidcConnector) discover(ctx context.Context) (Metadata, error) {
	body, err := o.fetch.Get(ctx, strings.TrimSuffix(o.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return Metadata{}, fmt.Errorf("%w: discovery: %w", ErrUnavailable, err)
	}
	return ParseDiscovery(body, o.cfg.Issuer)
}

// s256 is the PKCE S256 challenge of a verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (o *oidcConnector) AuthCodeURL(ctx context.Context, redirectURI string, p Params) (string, error) {
	d, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(d.Authorization)
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", o.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(o.cfg.Scopes, " "))
	q.Set("state", p.State)
	q.Set("nonce", p.Nonce)
	q.Set("code_challenge", s256(p.Verifier))
	q.Set("code_challenge_method", "S256")
	// Google's hd parameter narrows its account chooser to one Workspace
	// domain; the hd claim is still checked (required_claims).
	if o.cfg.Type == "google" {
		for _, rc := range o.cfg.RequiredClaims {
			if rc.Claim == "hd" && len(rc.Values) == 1 {
				q.Set("hd", rc.Values[0])
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// tokenAnswer is a token endpoint's answer (RFC 6749 §5.1, §5.2).
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	IDToken     string `json:"id_token"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// exchange redeems a code at a token endpoint with client_secret_basic
// (or client_secret_post when that is all the upstream takes) and the
// PKCE verifier.
func exchange(ctx context.Context, f *fetch.Fetcher, endpoint, clientID, secret, redirectURI, code, verifier string, post bool) (tokenAnswer, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if post {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("%w: token endpoint: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !post {
		// RFC 6749 §2.3.1: form-encoded, then Basic.
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := f.Do(ctx, req)
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("%w: token endpoint: %w", ErrUnavailable, err)
	}
	var t tokenAnswer
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		return tokenAnswer{}, fmt.Errorf("%w: token endpoint answered %d, not JSON", ErrUnavailable, resp.Status)
	}
	if resp.Status != http.StatusOK || t.Error != "" {
		return tokenAnswer{}, fmt.Errorf("%w: token endpoint: %s", ErrUpstream, clip(t.Error+" "+t.Description))
	}
	if t.AccessToken == "" {
		return tokenAnswer{}, fmt.Errorf("%w: token endpoint gave no access token", ErrUpstream)
	}
	return t, nil
}

// clip bounds upstream text put into an error.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// callbackError reads an error redirect (RFC 6749 §4.1.2.1).
func callbackError(q url.Values) error {
	if e := q.Get("error"); e != "" {
		return fmt.Errorf("%w: %s", ErrUpstream, clip(e+" "+q.Get("error_description")))
	}
	if q.Get("code") == "" {
		return fmt.Errorf("%w: no code in the callback", ErrUpstream)
	}
	return nil
}

func (o *oidcConnector) Callback(ctx context.Context, redirectURI string, p Params, q url.Values) (Identity, error) {
	if err := callbackError(q); err != nil {
		return Identity{}, err
	}
	// RFC 9207 §2.4: an iss in the answer must be the upstream's (a
	// mix-up defence; providers that do not send it are taken as is).
	if iss := q.Get("iss"); iss != "" && iss != o.cfg.Issuer {
		return Identity{}, fmt.Errorf("%w: callback from issuer %q", ErrInvalidToken, clip(iss))
	}
	d, err := o.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	post := len(d.AuthMethods) > 0 && !slices.Contains(d.AuthMethods, "client_secret_basic") && slices.Contains(d.AuthMethods, "client_secret_post")
	t, err := exchange(ctx, o.fetch, d.Token, o.cfg.ClientID, o.secret, redirectURI, q.Get("code"), p.Verifier, post)
	if err != nil {
		return Identity{}, err
	}
	if t.IDToken == "" {
		return Identity{}, fmt.Errorf("%w: no ID token", ErrInvalidToken)
	}
	claims, err := o.verify(ctx, d, t.IDToken, p.Nonce)
	if err != nil {
		return Identity{}, err
	}
	if !o.cfg.SkipUserInfo && d.UserInfo != "" {
		info, err := o.userinfo(ctx, d.UserInfo, t.AccessToken)
		if err != nil {
			return Identity{}, err
		}
		// OIDC Core §5.3.2: the userinfo sub must be the ID token's.
		if info["sub"] != claims["sub"] {
			return Identity{}, fmt.Errorf("%w: userinfo is about another subject", ErrInvalidToken)
		}
		// Profile claims come from userinfo, protocol claims only from
		// the signed ID token.
		for k, v := range info {
			if !slices.Contains(idTokenOnly, k) {
				claims[k] = v
			}
		}
	}
	id, err := MapClaims(o.cfg.Claims, claims)
	if err != nil {
		return Identity{}, err
	}
	id.ConnectorID, id.Issuer = o.cfg.ID, o.cfg.Issuer
	if err := o.admit(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// verify checks an ID token (OIDC Core §3.1.3.7): signed with an
// algorithm the upstream advertises (and we accept) by a key of its
// JWKS, from the issuer, for us, unexpired, with our nonce.
func (o *oidcConnector) verify(ctx context.Context, d Metadata, raw, nonce string) (map[string]any, error) {
	algs := allowedAlgs(d.Algs)
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	kid := tok.Headers[0].KeyID
	body, err := o.fetch.KeySet(ctx, d.JWKSURI, kid)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks: %w", ErrUnavailable, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: jwks is not a key set", ErrUnavailable)
	}
	keys := set.Keys
	if kid != "" {
		keys = set.Key(kid)
	}
	var claims map[string]any
	var std jwt.Claims
	verified := false
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if tok.Claims(k.Key, &claims, &std) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: signature does not verify with the upstream's keys", ErrInvalidToken)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: o.cfg.Issuer, AnyAudience: jwt.Audience{o.cfg.ClientID}, Time: time.Now()}, clockSkew); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	// OIDC Core §3.1.3.7 items 4-5: with several audiences, azp must be
	// us; when azp is present, it must be us.
	azp, _ := claims["azp"].(string)
	if (len(std.Audience) > 1 || azp != "") && azp != o.cfg.ClientID {
		return nil, fmt.Errorf("%w: azp is not this client", ErrInvalidToken)
	}
	got, _ := claims["nonce"].(string)
	if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrInvalidToken)
	}
	return maps.Clone(claims), nil
}

// allowedAlgs is what the upstream advertises among what we accept; RS256
// when it advertises nothing (OIDC Discovery §3 makes RS256 the default).
func allowedAlgs(advertised []string) []jose.SignatureAlgorithm {
	if len(advertised) == 0 {
		return []jose.SignatureAlgorithm{jose.RS256}
	}
	var out []jose.SignatureAlgorithm
	for _, a := range asymmetricAlgs {
		if slices.Contains(advertised, string(a)) {
			out = append(out, a)
		}
	}
	return out
}

func (o *oidcConnector) userinfo(ctx context.Context, endpoint, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: userinfo: %w", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := o.fetch.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: userinfo: %w", ErrUnavailable, err)
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: userinfo answered %d", ErrUpstream, resp.Status)
	}
	var info map[string]any
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		// A signed or encrypted userinfo answer is not supported.
		return nil, fmt.Errorf("%w: userinfo is not JSON", ErrUnavailable)
	}
	return info, nil
}
