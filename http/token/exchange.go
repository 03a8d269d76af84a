package token

// Token exchange (RFC 8693): a client trades a subject token (our access
// or ID token, or a JWT of an issuer the operator trusts), optionally
// with an actor token, for an access token of ours for another audience,
// within the client's token_exchange policy.

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/oauth2"
)

// maxActDepth bounds the chain of actors in a delegated token: each
// exchange of a delegated token nests one more act (RFC 8693 §4.1).
const maxActDepth = 5

// jwtLeeway is the clock skew allowed on nbf and iat of a trusted
// issuer's JWT (never on exp).
const jwtLeeway = 30 * time.Second

// TrustedIssuer is an issuer whose JWTs clients may exchange
// (token_exchange.trusted_issuers).
type TrustedIssuer struct {
	Issuer     string
	JWKSURI    string
	Algorithms []string
	Audience   string
}

// AccessTokens checks our access tokens live, whatever their audience
// (userinfo.Checker.CheckAnyAudience): signature, expiry, and the grant,
// session and user behind them.
type AccessTokens interface {
	CheckAnyAudience(ctx context.Context, raw string) (oauth2.AccessToken, *messages.Grant, directory.User, error)
}

// ExchangeVerifier verifies our ID tokens (our keys) and trusted
// issuers' JWTs (their keys).
type ExchangeVerifier interface {
	VerifyType(ctx context.Context, token, typ string, algs ...string) (payload []byte, kid string, err error)
	VerifyWithKeys(ctx context.Context, token string, jwks []byte, algs []string) (payload []byte, kid, alg string, err error)
}

// Logins confirms the sign-in an ID token was issued in
// (session.Grains.Describe): a logged-out session's ID token is not
// exchanged.
type Logins interface {
	Describe(ctx context.Context, sid, subject string) (*messages.SessionReply, error)
}

// Exchange is what the token exchange grant needs.
type Exchange struct {
	AccessTokens AccessTokens
	Verifier     ExchangeVerifier
	Logins       Logins
	// Keys gets a trusted issuer's JWKS for a JWT naming kid: the
	// guarded, caching fetcher (fetch.Fetcher.KeySet, which fetches a
	// set lacking kid again), never a plain client.
	Keys    func(ctx context.Context, url, kid string) ([]byte, error)
	Issuers []TrustedIssuer
}

// WithExchange enables the token exchange grant. Without it the grant
// is refused as unsupported even for clients that registered it.
func (h *Handler) WithExchange(x *Exchange) *Handler {
	h.exchange = x
	return h
}

// exchangeRequest is the grant's parameters (RFC 8693 §2.1).
type exchangeRequest struct {
	subject, subjectType string
	actor, actorType     string
	target               string // audience or resource; "" for the default
	isResource           bool   // target came as resource (RFC 8707)
	scopes               []string
}

// parseExchangeRequest reads and checks the form: every problem with the
// parameters themselves is invalid_request (or invalid_target for a
// malformed resource), before any token is looked at.
func parseExchangeRequest(form url.Values) (exchangeRequest, error) {
	r := exchangeRequest{
		subject: form.Get("subject_token"), subjectType: form.Get("subject_token_type"),
		actor: form.Get("actor_token"), actorType: form.Get("actor_token_type"),
	}
	switch {
	case r.subject == "":
		return r, oauth2.ErrInvalidRequest.WithDescription("subject_token is required")
	case r.subjectType == "":
		return r, oauth2.ErrInvalidRequest.WithDescription("subject_token_type is required")
	case r.actor != "" && r.actorType == "":
		return r, oauth2.ErrInvalidRequest.WithDescription("actor_token_type is required with actor_token")
	case r.actor == "" && r.actorType != "":
		return r, oauth2.ErrInvalidRequest.WithDescription("actor_token_type without actor_token")
	}
	if err := supportedType("subject_token_type", r.subjectType); err != nil {
		return r, err
	}
	if r.actor != "" {
		if err := supportedType("actor_token_type", r.actorType); err != nil {
			return r, err
		}
	}
	if t := form.Get("requested_token_type"); t != "" && t != directory.TokenTypeAccessToken {
		return r, oauth2.ErrInvalidRequest.WithDescription("requested_token_type: only " + directory.TokenTypeAccessToken + " is issued")
	}
	if len(form["resource"]) > 1 {
		return r, oauth2.ErrInvalidTarget.WithDescription("one resource at a time: one token has one audience")
	}
	aud, res := form.Get("audience"), form.Get("resource")
	if res != "" {
		if msg := directory.ResourceIDProblem(res); msg != "" {
			return r, oauth2.ErrInvalidTarget.WithDescription("resource " + msg)
		}
	}
	if aud != "" && res != "" && aud != res {
		return r, oauth2.ErrInvalidTarget.WithDescription("audience and resource name different targets: one token has one audience")
	}
	r.target = aud
	if res != "" {
		r.target, r.isResource = res, true
	}
	r.scopes = strings.Fields(form.Get("scope"))
	return r, nil
}

// supportedType refuses token types the node never exchanges.
func supportedType(param, t string) error {
	switch {
	case slices.Contains(directory.ExchangeSubjectTypes, t):
		return nil
	case t == directory.TokenTypeRefreshToken:
		// A refresh token is bound to the client it was issued to
		// (RFC 9700 §4.14), which uses it at the refresh_token grant;
		// accepting it here would let another client hold it.
		return oauth2.ErrInvalidRequest.WithDescription(param + ": refresh tokens are not exchanged")
	}
	return oauth2.ErrInvalidRequest.WithDescription(param + ": unsupported token type (accepted: " + strings.Join(directory.ExchangeSubjectTypes, ", ") + ")")
}

// party is what a verified subject or actor token says.
type party struct {
	subject, issuer string // issuer: ours or the trusted issuer's
	// scopes is the token's scope, when it has one (hasScope).
	scopes   []string
	hasScope bool
	expiry   time.Time
	sid, gid string
	// grantClient is the client of grant gid.
	grantClient string
	act         *oauth2.Actor
	authTime    int64
	acr         string
	amr         []string
}

// exchangeTarget is an audience a token may be issued for: what it
// allows and how its tokens are made.
type exchangeTarget struct {
	aud string
	// scopes the audience accepts; nil: any the policy allows.
	scopes []string
	ttl    time.Duration
	alg    string
	// res is the registered resource server the audience is, if any.
	res *directory.Resource
}

// resolveTarget picks the audience of the issued token: the one asked
// for, or the policy's first, which must be among the policy's. An
// audience that is a registered resource server (RFC 8707) gets that
// resource's scopes, token lifetime, algorithm and encryption; one asked
// for as resource must be registered. Other audiences (logical names)
// get the node's defaults and the policy's scopes.
func (h *Handler) resolveTarget(ctx context.Context, p *directory.TokenExchangePolicy, requested string, isResource bool) (exchangeTarget, error) {
	aud := requested
	if aud == "" && len(p.Audiences) > 0 {
		aud = p.Audiences[0]
	}
	if aud == "" || !slices.Contains(p.Audiences, aud) {
		return exchangeTarget{}, oauth2.ErrInvalidTarget.WithDescription("the client may not get a token for this audience")
	}
	t := exchangeTarget{aud: aud, ttl: h.cfg.AccessTokenTTL, alg: h.cfg.AccessTokenAlg}
	if h.resources == nil || directory.ResourceIDProblem(aud) != "" {
		if isResource {
			return exchangeTarget{}, oauth2.ErrInvalidTarget.WithDescription("unknown resource")
		}
		return t, nil
	}
	r, err := h.resources.Resource(ctx, aud)
	switch {
	case errors.Is(err, directory.ErrNotFound) && isResource:
		return exchangeTarget{}, oauth2.ErrInvalidTarget.WithDescription("unknown resource")
	case errors.Is(err, directory.ErrNotFound):
		return t, nil
	case err != nil:
		return exchangeTarget{}, err
	}
	t.res = &r
	t.aud, t.ttl, t.alg = h.target(t.res)
	t.scopes = append([]string{}, r.Scopes...) // non-nil: only its scopes
	return t, nil
}

// tokenExchange serves the grant and audits its outcome, refusals
// included (never a token value).
func (h *Handler) tokenExchange(ctx context.Context, client directory.Client, form url.Values) (*Response, error) {
	resp, audit, err := h.exchangeToken(ctx, client, form)
	h.auditExchange(ctx, client, form, audit, resp, err)
	return resp, err
}

// auditExchange writes the audit line of an exchange or its refusal.
func (h *Handler) auditExchange(ctx context.Context, client directory.Client, form url.Values, audit exchangeAudit, resp *Response, err error) {
	attrs := []any{"audit", true, "client_id", client.ID, "subject_token_type", form.Get("subject_token_type")}
	if audit.subject != "" {
		attrs = append(attrs, "sub", audit.subject, "subject_iss", audit.subjectIss)
	}
	if audit.actor != "" {
		attrs = append(attrs, "actor", audit.actor, "actor_iss", audit.actorIss)
	}
	if err != nil {
		e := oauth2.From(err)
		attrs = append(attrs, "error", e.Code, "reason", e.Description)
		if t := form.Get("audience") + form.Get("resource"); t != "" {
			attrs = append(attrs, "target", t)
		}
		h.logger.WarnContext(ctx, "token exchange refused", attrs...)
		return
	}
	attrs = append(attrs, "aud", audit.aud, "scope", resp.Scope, "jti", audit.jti, "expires_in", resp.ExpiresIn,
		"delegation", audit.actor != "")
	h.logger.InfoContext(ctx, "token exchanged", attrs...)
}

// exchangeAudit is what an audit line tells of an exchange.
type exchangeAudit struct {
	subject, subjectIss, actor, actorIss, aud, jti string
}

func (h *Handler) exchangeToken(ctx context.Context, client directory.Client, form url.Values) (*Response, exchangeAudit, error) {
	var audit exchangeAudit
	if h.exchange == nil {
		return nil, audit, oauth2.ErrUnsupportedGrantType
	}
	pol := client.TokenExchange
	if pol.IsZero() {
		return nil, audit, oauth2.ErrUnauthorizedClient.WithDescription("the client has no token exchange policy")
	}
	req, err := parseExchangeRequest(form)
	if err != nil {
		return nil, audit, err
	}
	if !slices.Contains(pol.SubjectTokenTypes, req.subjectType) {
		return nil, audit, oauth2.ErrUnauthorizedClient.WithDescription("the client may not exchange subject tokens of this type")
	}
	if req.actor == "" && !pol.AllowImpersonation {
		// Without an actor the token would speak for the subject
		// alone (impersonation): only where the operator allowed it.
		return nil, audit, oauth2.ErrUnauthorizedClient.WithDescription("the client may not impersonate: an actor_token is required")
	}
	subject, err := h.verifyParty(ctx, client, req.subject, req.subjectType)
	if err != nil {
		return nil, audit, err
	}
	audit.subject, audit.subjectIss = subject.subject, subject.issuer
	act := subject.act
	lifetimeEnd := subject.expiry
	if req.actor != "" {
		actor, err := h.verifyParty(ctx, client, req.actor, req.actorType)
		if err != nil {
			return nil, audit, err
		}
		audit.actor, audit.actorIss = actor.subject, actor.issuer
		act = &oauth2.Actor{Subject: actor.subject, Act: subject.act}
		if actor.issuer != h.cfg.Issuer {
			act.Issuer = actor.issuer
		}
		if actor.expiry.Before(lifetimeEnd) {
			lifetimeEnd = actor.expiry
		}
	}
	if actDepth(act) > maxActDepth {
		return nil, audit, oauth2.ErrInvalidRequest.WithDescription("too many nested actors")
	}
	target, err := h.resolveTarget(ctx, &pol, req.target, req.isResource)
	if err != nil {
		return nil, audit, err
	}
	audit.aud = target.aud
	scopes, err := exchangeScopes(req.scopes, subject, pol.Scopes, target.scopes)
	if err != nil {
		return nil, audit, err
	}
	now := h.cfg.Now()
	// Never longer than the subject (or actor) token lives.
	ttl := min(target.ttl, lifetimeEnd.Sub(now).Truncate(time.Second))
	if ttl <= 0 {
		return nil, audit, oauth2.ErrInvalidGrant.WithDescription("the subject or actor token expires too soon")
	}
	at := oauth2.AccessToken{
		Issuer: h.cfg.Issuer, Subject: subject.subject, Audience: target.aud, ClientID: client.ID,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(ttl).Unix(), JTI: session.NewID(16),
		Scope: strings.Join(scopes, " "), AuthTime: subject.authTime, ACR: subject.acr, AMR: subject.amr,
		// The subject's session and grant: revoking the grant or ending
		// the session stops this token too (userinfo.Checker).
		SID: subject.sid, GrantID: subject.gid, Act: act,
	}
	if subject.gid != "" && subject.grantClient != client.ID {
		at.GrantClientID = subject.grantClient
	}
	tok, typ, err := h.mint(ctx, at, target.alg, target.res)
	if err != nil {
		return nil, audit, err
	}
	audit.jti = at.JTI
	// No refresh token (RFC 8693 §2.2.1 leaves it optional): the
	// exchanged token lives no longer than its subject, and a new one is
	// another exchange of a live subject token.
	return &Response{
		AccessToken: tok, IssuedTokenType: directory.TokenTypeAccessToken, TokenType: typ,
		ExpiresIn: int64(ttl.Seconds()), Scope: at.Scope,
	}, audit, nil
}

// exchangeScopes narrows the scope: each scope asked for must be the
// policy's, the audience's (when it names its own) and the subject
// token's (when it has a scope). None asked for: the subject's scopes
// that are allowed.
func exchangeScopes(requested []string, subject party, policy, audience []string) ([]string, error) {
	allowed := func(s string) bool {
		return slices.Contains(policy, s) && (audience == nil || slices.Contains(audience, s)) &&
			(!subject.hasScope || slices.Contains(subject.scopes, s))
	}
	if len(requested) == 0 {
		var out []string
		for _, s := range subject.scopes {
			if allowed(s) && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	var out []string
	for _, s := range requested {
		if !allowed(s) {
			return nil, oauth2.ErrInvalidScope.WithDescription("scope " + clipScope(s) + " is not allowed for this exchange")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func clipScope(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}

func actDepth(a *oauth2.Actor) int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
		if n > maxActDepth {
			break
		}
	}
	return n
}

// verifyParty verifies a subject or actor token of type typ. Every
// token that does not verify, is not live, or is not one the client may
// present is invalid_grant; a check that could not be made (store, keys
// unreachable) fails closed as a server error.
func (h *Handler) verifyParty(ctx context.Context, client directory.Client, raw, typ string) (party, error) {
	if len(raw) > 8192 {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("token too large")
	}
	switch typ {
	case directory.TokenTypeAccessToken:
		return h.accessTokenParty(ctx, raw)
	case directory.TokenTypeIDToken:
		return h.idTokenParty(ctx, client, raw)
	case directory.TokenTypeJWT:
		return h.jwtParty(ctx, raw)
	}
	return party{}, oauth2.ErrInvalidRequest.WithDescription("unsupported token type")
}

// accessTokenParty: one of our access tokens, checked live as
// introspection does (a revoked grant, ended session or disabled user
// refuses it).
func (h *Handler) accessTokenParty(ctx context.Context, raw string) (party, error) {
	at, _, _, err := h.exchange.AccessTokens.CheckAnyAudience(ctx, raw)
	if err != nil {
		if oauth2.From(err).Code == oauth2.ErrInvalidToken.Code {
			return party{}, oauth2.ErrInvalidGrant.WithDescription("access token not active")
		}
		return party{}, err
	}
	if jkt := at.BoundKey(); jkt != "" && jktOf(ctx) != jkt {
		// RFC 9449 §7.1 by analogy: a bound token is used only by the
		// key holder, so a copy cannot be exchanged for an unbound one.
		return party{}, oauth2.ErrInvalidGrant.WithDescription("the access token is DPoP-bound: send a DPoP proof by its key")
	}
	if x5t := at.BoundCertificate(); x5t != "" && presentedX5T(ctx) != x5t {
		// RFC 8705 §3 likewise: only over a connection with its
		// certificate.
		return party{}, oauth2.ErrInvalidGrant.WithDescription("the access token is certificate-bound: present its client certificate")
	}
	p := party{
		subject: at.Subject, issuer: at.Issuer, scopes: at.Scopes(), hasScope: true,
		expiry: time.Unix(at.Expiry, 0), sid: at.SID, gid: at.GrantID, act: at.Act,
		authTime: at.AuthTime, acr: at.ACR, amr: at.AMR,
	}
	if at.GrantID != "" {
		p.grantClient = at.ClientID
		if at.GrantClientID != "" {
			p.grantClient = at.GrantClientID
		}
	}
	return p, nil
}

// idTokenClaims are the ID token members the exchange reads.
type idTokenClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	Expiry   int64           `json:"exp"`
	SID      string          `json:"sid"`
	AuthTime int64           `json:"auth_time"`
	ACR      string          `json:"acr"`
	AMR      []string        `json:"amr"`
}

// idTokenParty: one of our ID tokens, issued to the exchanging client
// (an ID token is for its audience alone, OIDC Core §2), in a session
// whose login still stands.
func (h *Handler) idTokenParty(ctx context.Context, client directory.Client, raw string) (party, error) {
	if strings.Count(raw, ".") != 2 {
		// An encrypted ID token (JWE) is the client's to open first.
		return party{}, oauth2.ErrInvalidGrant.WithDescription("ID token must be a signed JWT")
	}
	payload, _, err := h.exchange.Verifier.VerifyType(ctx, raw, "JWT", directory.IDTokenSignAlgs...)
	if errors.Is(err, messages.ErrInvalid) {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("ID token does not verify")
	}
	if err != nil {
		return party{}, err
	}
	var c idTokenClaims
	if json.Unmarshal(payload, &c) != nil {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("ID token does not verify")
	}
	now := h.cfg.Now()
	switch {
	case c.Issuer != h.cfg.Issuer || c.Subject == "" || c.SID == "":
		return party{}, oauth2.ErrInvalidGrant.WithDescription("not an ID token of this server")
	case c.Expiry <= now.Unix():
		return party{}, oauth2.ErrInvalidGrant.WithDescription("ID token expired")
	case !audienceHas(c.Audience, client.ID):
		return party{}, oauth2.ErrInvalidGrant.WithDescription("ID token was issued to another client")
	}
	r, err := h.exchange.Logins.Describe(ctx, c.SID, c.Subject)
	if errors.Is(err, messages.ErrNotFound) || errors.Is(err, messages.ErrInvalid) {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("the ID token's session has ended")
	}
	if err != nil {
		return party{}, err
	}
	u, err := h.users.User(ctx, c.Subject)
	if errors.Is(err, directory.ErrNotFound) {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("user no longer exists")
	}
	if err != nil {
		return party{}, err
	}
	if !u.Active(time.UnixMilli(r.GetLogin().GetAuthTimeMs())) {
		return party{}, oauth2.ErrInvalidGrant.WithDescription("user disabled")
	}
	return party{
		subject: c.Subject, issuer: c.Issuer, expiry: time.Unix(c.Expiry, 0), sid: c.SID,
		authTime: c.AuthTime, acr: c.ACR, amr: c.AMR,
	}, nil
}

// jwtClaims are the members of a trusted issuer's JWT the exchange reads.
type jwtClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    *int64          `json:"exp"`
	NotBefore *int64          `json:"nbf"`
	IssuedAt  *int64          `json:"iat"`
	Scope     *string         `json:"scope"`
	Act       *oauth2.Actor   `json:"act"`
}

// parseJWTClaims reads a JWT payload (untrusted until its signature is
// checked, and then still a foreign issuer's).
func parseJWTClaims(payload []byte) (jwtClaims, error) {
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err
	}
	if c.Issuer == "" || c.Subject == "" || c.Expiry == nil {
		return c, errors.New("iss, sub and exp are required")
	}
	if actDepth(c.Act) > maxActDepth {
		return c, errors.New("too many nested actors")
	}
	for a := c.Act; a != nil; a = a.Act {
		if a.Subject == "" {
			return c, errors.New("act without sub")
		}
	}
	return c, nil
}

// jwtParty: a JWT of a trusted issuer, verified with the issuer's keys
// (fetched through the guarded, caching fetcher), its alg on the
// issuer's allow-list, and iss, aud, exp and nbf checked.
func (h *Handler) jwtParty(ctx context.Context, raw string) (party, error) {
	bad := func(why string) (party, error) { return party{}, oauth2.ErrInvalidGrant.WithDescription(why) }
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	})
	if err != nil {
		return bad("malformed JWT")
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if tok.UnsafeClaimsWithoutVerification(&unverified) != nil {
		return bad("malformed JWT")
	}
	var ti *TrustedIssuer
	for i := range h.exchange.Issuers {
		if h.exchange.Issuers[i].Issuer == unverified.Issuer {
			ti = &h.exchange.Issuers[i]
		}
	}
	if ti == nil {
		return bad("the JWT's issuer is not trusted")
	}
	if !slices.Contains(ti.Algorithms, tok.Headers[0].Algorithm) {
		return bad("the JWT's algorithm is not accepted for its issuer")
	}
	jwks, err := h.exchange.Keys(ctx, ti.JWKSURI, tok.Headers[0].KeyID)
	if err != nil {
		h.logger.WarnContext(ctx, "token exchange: trusted issuer keys unavailable", "issuer", ti.Issuer, "err", err)
		return bad("the issuer's keys could not be retrieved")
	}
	payload, _, _, err := h.exchange.Verifier.VerifyWithKeys(ctx, raw, jwks, ti.Algorithms)
	if errors.Is(err, messages.ErrInvalid) {
		return bad("the JWT does not verify")
	}
	if err != nil {
		return party{}, err
	}
	c, err := parseJWTClaims(payload)
	if err != nil {
		return bad("JWT claims: " + err.Error())
	}
	now := h.cfg.Now()
	switch {
	case c.Issuer != ti.Issuer:
		return bad("the JWT's issuer is not trusted")
	case !audienceHas(c.Audience, ti.Audience):
		return bad("the JWT is not for this server (aud)")
	case *c.Expiry <= now.Unix():
		return bad("the JWT has expired")
	case c.NotBefore != nil && time.Unix(*c.NotBefore, 0).After(now.Add(jwtLeeway)):
		return bad("the JWT is not valid yet (nbf)")
	case c.IssuedAt != nil && time.Unix(*c.IssuedAt, 0).After(now.Add(jwtLeeway)):
		return bad("the JWT was issued in the future (iat)")
	}
	// A foreign subject must not pass for a user of ours at the
	// resource servers that trust our tokens.
	if _, err := h.users.User(ctx, c.Subject); err == nil {
		return bad("the JWT's subject names a local user")
	} else if !errors.Is(err, directory.ErrNotFound) {
		return party{}, err
	}
	p := party{subject: c.Subject, issuer: c.Issuer, expiry: time.Unix(*c.Expiry, 0), act: c.Act}
	if c.Scope != nil {
		p.scopes, p.hasScope = strings.Fields(*c.Scope), true
	}
	return p, nil
}

// audienceHas reports whether an aud member (a string or an array of
// strings) names want.
func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.Contains(many, want)
	}
	return false
}
