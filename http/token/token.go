package token

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/clientauth"
	"authrim/http/dpop"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// Path of the token endpoint.
const Path = "/token"

// GrantTypes this endpoint serves, for discovery.
var GrantTypes = directory.GrantTypes

// Sessions reaches Session grains.
type Sessions interface {
	Redeem(ctx context.Context, sid string, m *messages.RedeemCode) (*messages.SessionReply, error)
	Refresh(ctx context.Context, sid string, m *messages.RefreshGrant) (*messages.SessionReply, error)
}

// Signer signs through the Crypto pool.
type Signer interface {
	Sign(ctx context.Context, alg string, payload []byte, typ string) (token, kid string, err error)
}

// Users gives a user's claims for the ID token.
type Users interface {
	User(ctx context.Context, subject string) (directory.User, error)
}

// Config of the token endpoint.
type Config struct {
	Issuer         string
	AccessTokenTTL time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration
	// RefreshIdleTTL ends a refresh-token family unused this long, never
	// past RefreshTTL (0: off).
	RefreshIdleTTL time.Duration
	AccessTokenAlg string
	Now            func() time.Time
}

// Handler serves /token.
type Handler struct {
	cfg      Config
	clients  *clientauth.Authenticator
	sessions Sessions
	signer   Signer
	users    Users
	enc      oauth2.Encrypter
	keys     oauth2.ClientKeys
	exchange *Exchange
	// resources, when set, serves resource= (RFC 8707): WithResources.
	resources Resources
	logger    *slog.Logger
	// devices serves the device authorization grant (WithDevices).
	devices   Devices
	deviceCfg DeviceConfig
	// dpop checks DPoP proofs (WithDPoP).
	dpop *dpop.Checker
}

// Resources looks resource servers up (RFC 8707).
type Resources interface {
	Resource(ctx context.Context, id string) (directory.Resource, error)
}

// WithResources lets clients ask for an access token for a registered
// resource server with resource= (RFC 8707 §2.2). Without it resource=
// is refused as invalid_target.
func (h *Handler) WithResources(r Resources) *Handler {
	h.resources = r
	return h
}

// WithEncryption lets the endpoint encrypt ID tokens for clients that
// registered id_token_encrypted_response_alg (OIDC Core §10.2), through
// enc (the Crypto pool) to the client keys keys returns. Without it such
// clients get an error rather than an unencrypted token.
func (h *Handler) WithEncryption(enc oauth2.Encrypter, keys oauth2.ClientKeys) *Handler {
	h.enc, h.keys = enc, keys
	return h
}

// New returns the token endpoint.
func New(cfg Config, clients *clientauth.Authenticator, sessions Sessions, signer Signer, users Users, logger *slog.Logger) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, clients: clients, sessions: sessions, signer: signer, users: users, logger: logger}
}

// Name is the front end's name in metrics and the route table.
func (h *Handler) Name() string { return "token" }

// Routes is the token endpoint; single-page apps call it cross-origin.
func (h *Handler) Routes() []router.Route {
	return append([]router.Route{{Method: http.MethodPost, Path: Path, Handler: h.token, Limit: router.Moderate, CORS: true, Grain: "Session.Redeem, Session.Refresh, Session.Check, Session.Describe, Device.Poll"}}, h.deviceRoutes()...)
}

// MaxResources bounds how many resource parameters one request may
// carry (RFC 8707 §2 lets them repeat).
const MaxResources = 16

// resource is the resource server the request asks a token for (RFC 8707
// §2.2), nil without resource=. One at a time: several, an identifier
// that is not an absolute URI without fragment, or one no resource
// server has are invalid_target.
func (h *Handler) resource(ctx context.Context, form url.Values) (*directory.Resource, error) {
	ids := form["resource"]
	switch {
	case len(ids) == 0:
		return nil, nil
	case len(ids) > 1:
		return nil, oauth2.ErrInvalidTarget.WithDescription("one resource at a time: ask for a token per resource")
	case h.resources == nil:
		return nil, oauth2.ErrInvalidTarget.WithDescription("no resource servers are registered")
	}
	if msg := directory.ResourceIDProblem(ids[0]); msg != "" {
		return nil, oauth2.ErrInvalidTarget.WithDescription("resource " + msg)
	}
	r, err := h.resources.Resource(ctx, ids[0])
	if errors.Is(err, directory.ErrNotFound) {
		return nil, oauth2.ErrInvalidTarget.WithDescription("unknown resource")
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Response is the token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// IssuedTokenType is the token exchange answer's (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
}

// ParseForm reads an application/x-www-form-urlencoded body and refuses
// repeated parameters (RFC 6749 §3.1, §3.2), except resource, which RFC
// 8707 §2 lets a client repeat (the endpoints say whether they take
// more than one).
func ParseForm(r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, oauth2.ErrInvalidRequest.WithDescription("body must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return nil, oauth2.ErrInvalidRequest.WithDescription("malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && (k != "resource" || len(v) > MaxResources) {
			return nil, oauth2.ErrInvalidRequest.WithDescription("parameter " + k + " is repeated")
		}
		for _, one := range v {
			if len(one) > 4096 {
				return nil, oauth2.ErrInvalidRequest.WithDescription("parameter " + k + " is too long")
			}
		}
	}
	return r.PostForm, nil
}

func (h *Handler) token(c echo.Context) error {
	h.dpop.SetNonce(c.Response().Header())
	form, err := ParseForm(c.Request())
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	client, err := h.clients.Authenticate(c.Request(), form)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	gt := form.Get("grant_type")
	if gt == "" {
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("grant_type is required"))
	}
	if !slices.Contains(GrantTypes, gt) {
		return oauth2.Write(c, h.logger, oauth2.ErrUnsupportedGrantType)
	}
	if !slices.Contains(client.GrantTypes, gt) {
		err := oauth2.ErrUnauthorizedClient.WithDescription("client may not use " + gt)
		if gt == directory.GrantTypeTokenExchange {
			h.auditExchange(c.Request().Context(), client, form, exchangeAudit{}, nil, err)
		}
		return oauth2.Write(c, h.logger, err)
	}
	ctx, err := h.checkProof(c, client)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	if ctx, err = h.checkCertificate(ctx, c, client); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	if client.FAPI2() && jktOf(ctx) == "" && x5tOf(ctx) == "" {
		// FAPI 2.0 §5.3.1.1: only sender-constrained access tokens.
		return oauth2.Write(c, h.logger, errFAPI2Unbound)
	}
	var res *directory.Resource
	if gt != directory.GrantTypeTokenExchange { // it resolves its own target
		if res, err = h.resource(ctx, form); err != nil {
			return oauth2.Write(c, h.logger, err)
		}
	}
	var resp *Response
	switch gt {
	case "authorization_code":
		resp, err = h.authorizationCode(ctx, client, form, res)
	case "refresh_token":
		resp, err = h.refresh(ctx, client, form, res)
	case "client_credentials":
		resp, err = h.clientCredentials(ctx, client, form, res)
	case directory.GrantTypeTokenExchange:
		resp, err = h.tokenExchange(ctx, client, form)
	case directory.DeviceCodeGrantType:
		if res != nil {
			// The device authorization names no resources, so its grant
			// covers none (RFC 8707 §2.2: the grant bounds the target).
			return oauth2.Write(c, h.logger, oauth2.ErrInvalidTarget.WithDescription("resource is not available to the device grant"))
		}
		resp, err = h.deviceCode(ctx, client, form)
	}
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, resp)
}

// grantError maps a Session grain refusal to invalid_grant; anything else
// (store down, timeout) stays a server-side error.
func grantError(err error) error {
	switch {
	case errors.Is(err, messages.ErrInvalidTarget):
		return oauth2.ErrInvalidTarget.WithDescription("resource not covered by the authorization request or grant")
	case errors.Is(err, messages.ErrInvalidScope):
		return oauth2.ErrInvalidScope.WithDescription("scope wider than the grant")
	case errors.Is(err, messages.ErrInvalid), errors.Is(err, messages.ErrNotFound):
		return oauth2.ErrInvalidGrant
	}
	return err
}

func (h *Handler) authorizationCode(ctx context.Context, client directory.Client, form url.Values, res *directory.Resource) (*Response, error) {
	code := form.Get("code")
	if code == "" {
		return nil, oauth2.ErrInvalidRequest.WithDescription("code is required")
	}
	sid, secret, err := session.SplitCode(code)
	if err != nil {
		return nil, oauth2.ErrInvalidGrant
	}
	var refreshTTL, refreshIdle int64
	if slices.Contains(client.GrantTypes, "refresh_token") {
		refreshTTL, refreshIdle = h.cfg.RefreshTTL.Milliseconds(), h.cfg.RefreshIdleTTL.Milliseconds()
	}
	r, err := h.sessions.Redeem(ctx, sid, &messages.RedeemCode{
		CodeSecret:   secret,
		ClientId:     client.ID,
		RedirectUri:  form.Get("redirect_uri"),
		CodeVerifier: form.Get("code_verifier"),
		RefreshTtlMs: refreshTTL, RefreshIdleTtlMs: refreshIdle,
		Resource: res.GetIdentifier(),
		DpopJkt:  jktOf(ctx), BindRefresh: client.AuthMethod == "none",
		X5TS256: x5tOf(ctx),
	})
	if err != nil {
		return nil, grantError(err)
	}
	return h.issue(ctx, client, sid, r.Grant, r.RefreshToken, true, res)
}

func (h *Handler) refresh(ctx context.Context, client directory.Client, form url.Values, res *directory.Resource) (*Response, error) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, oauth2.ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	sid, gid, secret, err := session.SplitRefresh(rt)
	if err != nil {
		return nil, oauth2.ErrInvalidGrant
	}
	var scopes []string
	if s := form.Get("scope"); s != "" {
		scopes = strings.Fields(s)
	}
	for _, s := range scopes {
		if res != nil && !res.HasScope(s) {
			// Checked before the grain rotates the refresh token.
			return nil, oauth2.ErrInvalidScope.WithDescription("scope " + strconvQuote(s) + " is not one of the resource's")
		}
	}
	r, err := h.sessions.Refresh(ctx, sid, &messages.RefreshGrant{
		GrantId: gid, TokenSecret: secret, ClientId: client.ID, Scopes: scopes,
		RefreshIdleTtlMs: h.cfg.RefreshIdleTTL.Milliseconds(),
		Resource:         res.GetIdentifier(),
		DpopJkt:          jktOf(ctx),
		X5TS256:          x5tOf(ctx),
		// FAPI 2.0 §5.3.1.1: no rotation (a lost answer's retry must
		// work).
		KeepToken: client.FAPI2(),
	})
	if err != nil {
		// A user deleted or disabled since the sign-in is refused by the
		// grain, which ends the grant (RFC 9700 §4.14).
		return nil, grantError(err)
	}
	return h.issue(ctx, client, sid, r.Grant, r.RefreshToken, false, res)
}

// clientCredentials issues the client a token for itself: for the
// provider (aud = the issuer, no scope) without res, and for res when
// the resource lists the client in service_clients (RFC 8707 §2.2; aud =
// its identifier, the asked scopes among its own, all of them when none
// is asked, its lifetime, alg and encryption).
func (h *Handler) clientCredentials(ctx context.Context, client directory.Client, form url.Values, res *directory.Resource) (*Response, error) {
	if client.AuthMethod == "none" {
		return nil, oauth2.ErrUnauthorizedClient.WithDescription("public clients cannot use client_credentials")
	}
	aud, ttl, alg := h.target(res)
	var scopes []string
	if res == nil {
		if s := form.Get("scope"); s != "" {
			// No user is involved, so no OpenID scope applies, and the OP
			// defines no API scopes of its own.
			return nil, oauth2.ErrInvalidScope.WithDescription("no scopes are available to client_credentials without resource")
		}
	} else {
		if !res.AllowsService(client.ID) {
			// No user consents here: only the resource's registration can
			// let a client call it as itself.
			return nil, oauth2.ErrInvalidTarget.WithDescription("client may not get tokens for this resource without a user (not in its service_clients)")
		}
		scopes = strings.Fields(form.Get("scope"))
		for _, s := range scopes {
			if !res.HasScope(s) {
				return nil, oauth2.ErrInvalidScope.WithDescription("scope not defined by the resource")
			}
		}
		if len(scopes) == 0 {
			scopes = slices.Clone(res.Scopes)
		}
		scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	}
	now := h.cfg.Now()
	at := oauth2.AccessToken{
		Issuer: h.cfg.Issuer, Subject: client.ID, Audience: aud, ClientID: client.ID,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(ttl).Unix(), JTI: session.NewID(16),
		Scope: strings.Join(scopes, " "),
	}
	tok, typ, err := h.mint(ctx, at, alg, res)
	if err != nil {
		return nil, err
	}
	return &Response{AccessToken: tok, TokenType: typ, ExpiresIn: int64(ttl.Seconds()), Scope: strings.Join(scopes, " ")}, nil
}

// target is the audience, lifetime and signing algorithm of an access
// token for res: the provider's own (the issuer, tokens.*) when res is
// nil, else the resource's identifier and its settings where it has them.
func (h *Handler) target(res *directory.Resource) (aud string, ttl time.Duration, alg string) {
	aud, ttl, alg = h.cfg.Issuer, h.cfg.AccessTokenTTL, h.cfg.AccessTokenAlg
	if res != nil {
		aud = res.Identifier
		ttl = cmp.Or(res.AccessTokenTTL.D(), ttl)
		alg = cmp.Or(res.AccessTokenAlg, alg)
	}
	return aud, ttl, alg
}

// mint binds at to the request's DPoP key (if any), signs it with alg
// and, for a resource with a key, encrypts it to the resource server. It
// returns the token and its token_type.
func (h *Handler) mint(ctx context.Context, at oauth2.AccessToken, alg string, res *directory.Resource) (tok, typ string, err error) {
	typ = bind(ctx, &at)
	if tok, err = h.sign(ctx, alg, at, "at+jwt"); err != nil {
		return "", "", err
	}
	if res != nil && len(res.EncryptionJWK) > 0 {
		// The resource server reads its tokens encrypted to its key.
		if tok, err = h.encryptFor(ctx, res, tok); err != nil {
			return "", "", err
		}
	}
	return tok, typ, nil
}

func (h *Handler) sign(ctx context.Context, alg string, claims any, typ string) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	tok, _, err := h.signer.Sign(ctx, alg, b, typ)
	return tok, err
}

// issue signs the access token and, for openid requests, the ID token.
// The access token is for us (aud = the issuer, the provider's scopes of
// the grant) without res, and for res alone with it (aud = its
// identifier, only its scopes of the grant, its lifetime, alg and
// encryption). The response's scope is the access token's.
func (h *Handler) issue(ctx context.Context, client directory.Client, sid string, gr *messages.Grant, refresh string, withNonce bool, res *directory.Resource) (*Response, error) {
	now := h.cfg.Now()
	login := gr.Login
	scopes := gr.Scopes
	aud, ttl, alg := h.target(res)
	if res != nil {
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !res.HasScope(s) })
	} else {
		// A resource's scopes are for tokens with its aud only.
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !slices.Contains(oauth2.SupportedScopes, s) })
	}
	at := oauth2.AccessToken{
		Issuer: h.cfg.Issuer, Subject: login.Subject, Audience: aud, ClientID: client.ID,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(ttl).Unix(), JTI: session.NewID(16),
		Scope: strings.Join(scopes, " "), AuthTime: login.AuthTimeMs / 1000, ACR: login.Acr, AMR: login.Amr,
		SID: sid, GrantID: gr.Id,
	}
	accessToken, typ, err := h.mint(ctx, at, alg, res)
	if err != nil {
		return nil, err
	}
	resp := &Response{
		AccessToken: accessToken, TokenType: typ, ExpiresIn: int64(ttl.Seconds()),
		RefreshToken: refresh, Scope: strings.Join(scopes, " "),
	}
	if !slices.Contains(gr.Scopes, "openid") {
		return resp, nil
	}
	alg = client.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "RS256"
	}
	// OIDC Core §2 and §3.1.3.6.
	idt := map[string]any{
		"iss": h.cfg.Issuer, "sub": login.Subject, "aud": client.ID, "azp": client.ID,
		"exp": now.Add(h.cfg.IDTokenTTL).Unix(), "iat": now.Unix(),
		"auth_time": login.AuthTimeMs / 1000, "sid": sid,
		"at_hash": halfHash(alg, accessToken),
	}
	if login.Acr != "" {
		idt["acr"] = login.Acr
	}
	if len(login.Amr) > 0 {
		idt["amr"] = login.Amr
	}
	// Which upstream connector signed the user in (the idp claim; a local
	// sign-in has none).
	if login.Idp != "" {
		idt["idp"] = login.Idp
	}
	// OIDC Core §12.2: a refreshed ID token carries no nonce.
	if withNonce && gr.Nonce != "" {
		idt["nonce"] = gr.Nonce
	}
	if cr, _ := oauth2.ParseClaimsRequest(gr.ClaimsJson); cr != nil && len(cr.IDToken) > 0 {
		u, err := h.users.User(ctx, login.Subject)
		if errors.Is(err, directory.ErrNotFound) {
			// Deleted since the grain redeemed the code: the grant no
			// longer stands (RFC 9700 §4.14), and 404 is no token answer.
			return nil, oauth2.ErrInvalidGrant
		}
		if err != nil {
			return nil, err
		}
		for k, v := range oauth2.Release(u.ClaimValues(), nil, cr.IDToken) {
			if _, taken := idt[k]; !taken {
				idt[k] = v
			}
		}
	}
	if resp.IDToken, err = h.sign(ctx, alg, idt, "JWT"); err != nil {
		return nil, err
	}
	if a := client.IDTokenEncryptedResponseAlg; a != "" {
		// OIDC Core §10.2: signed, then encrypted (a nested JWT).
		enc := client.IDTokenEncryptedResponseEnc
		if enc == "" {
			enc = directory.DefaultEncryptionEnc
		}
		if resp.IDToken, err = oauth2.EncryptFor(ctx, h.enc, h.keys, client, []byte(resp.IDToken), a, enc, "JWT"); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// encryptFor encrypts a signed access token to the resource server's key
// (a nested JWT). It never falls back to the signed token.
func (h *Handler) encryptFor(ctx context.Context, res *directory.Resource, signed string) (string, error) {
	if h.enc == nil {
		return "", errors.New("token: encryption is not configured")
	}
	key, err := res.EncryptionKey()
	if err != nil {
		return "", err
	}
	return h.enc.Encrypt(ctx, []byte(signed), key, res.EncryptionAlg, cmp.Or(res.EncryptionEnc, directory.DefaultEncryptionEnc), "JWT")
}

func strconvQuote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}

// halfHash is at_hash / c_hash: the left half of the hash the JWS alg
// uses, base64url (OIDC Core §3.1.3.6). EdDSA (Ed25519) pairs with SHA-512.
func halfHash(alg, value string) string {
	var hf hash.Hash
	if alg == "EdDSA" {
		hf = sha512.New()
	} else {
		hf = sha256.New()
	}
	hf.Write([]byte(value))
	sum := hf.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
