package management

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
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
	"authrim/http/token"
	"authrim/http/userinfo"
)

// Paths of the token management endpoints.
const (
	RevokePath     = "/revoke"
	IntrospectPath = "/introspect"
)

// Sessions reaches Session grains.
type Sessions interface {
	Check(ctx context.Context, sid string, m *messages.CheckGrant) (*messages.SessionReply, error)
	Revoke(ctx context.Context, sid string, m *messages.RevokeGrant) (*messages.SessionReply, error)
}

// Tokens serves revocation (RFC 7009) and introspection (RFC 7662), both
// for authenticated clients, each about the caller's own tokens only.
type Tokens struct {
	clients  *clientauth.Authenticator
	check    *userinfo.Checker
	sessions Sessions
	// resources, when set, lets a resource server introspect the tokens
	// meant for it (WithResources).
	resources IntrospectionResources
	logger    *slog.Logger
}

// IntrospectionResources gives the resource servers a client introspects
// for (their introspection_client).
type IntrospectionResources interface {
	ResourcesFor(ctx context.Context, clientID string) ([]directory.Resource, error)
	ListResources(ctx context.Context) ([]directory.Resource, error)
}

// WithResources lets a resource server, authenticated as its
// introspection_client, introspect the access tokens whose aud is its
// identifier (RFC 8707, RFC 7662 §2.2), and no others of other clients.
func (t *Tokens) WithResources(r IntrospectionResources) *Tokens {
	t.resources = r
	return t
}

// forResource checks tok as an access token for one of the resource
// servers clientID introspects for. ok is false when it is none of
// theirs (or not active); err is for failures that leave it unknown.
func (t *Tokens) forResource(ctx context.Context, clientID, tok string) (at oauth2.AccessToken, ok bool, err error) {
	if t.resources == nil {
		return at, false, nil
	}
	rs, err := t.resources.ResourcesFor(ctx, clientID)
	if err != nil {
		return at, false, err
	}
	return t.checkResources(ctx, rs, tok)
}

// checkResources checks tok as an access token for one of rs.
func (t *Tokens) checkResources(ctx context.Context, rs []directory.Resource, tok string) (at oauth2.AccessToken, ok bool, err error) {
	if len(rs) == 0 {
		return at, false, nil
	}
	var auds, algs []string
	for _, r := range rs {
		auds = append(auds, r.Identifier)
		alg := cmp.Or(r.AccessTokenAlg, t.check.Alg)
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	at, _, err = t.check.CheckFor(ctx, tok, auds, algs...)
	switch {
	case err == nil:
		return at, true, nil
	case oauth2.From(err).Code == oauth2.ErrInvalidToken.Code:
		return at, false, nil
	}
	return at, false, err
}

// NewTokens returns the revocation and introspection endpoints.
func NewTokens(clients *clientauth.Authenticator, check *userinfo.Checker, sessions Sessions, logger *slog.Logger) *Tokens {
	return &Tokens{clients: clients, check: check, sessions: sessions, logger: logger}
}

// Name is the front end's name in metrics and the route table.
func (t *Tokens) Name() string { return "management" }

// Routes are revocation and introspection.
func (t *Tokens) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: RevokePath, Handler: t.revoke, Limit: router.Moderate, CORS: true, Grain: "Session.Check, Session.Revoke"},
		{Method: http.MethodPost, Path: IntrospectPath, Handler: t.introspect, Limit: router.Moderate, CORS: true, Grain: "Session.Check"},
	}
}

func (t *Tokens) read(c echo.Context) (clientID, tok, hint string, err error) {
	form, err := token.ParseForm(c.Request())
	if err != nil {
		return "", "", "", err
	}
	client, err := t.clients.Authenticate(c.Request(), form)
	if err != nil {
		return "", "", "", err
	}
	tok = form.Get("token")
	if tok == "" {
		return "", "", "", oauth2.ErrInvalidRequest.WithDescription("token is required")
	}
	return client.ID, tok, form.Get("token_type_hint"), nil
}

// revoke ends the grant behind a refresh or access token: the whole
// refresh family and every access token of it (RFC 7009 §2.1). Unknown
// tokens and other clients' tokens get 200 and change nothing (§2.2).
func (t *Tokens) revoke(c echo.Context) error {
	clientID, tok, _, err := t.read(c)
	if err != nil {
		return oauth2.Write(c, t.logger, err)
	}
	ctx := c.Request().Context()
	var revoke *messages.RevokeGrant
	sid := ""
	if s, g, secret, err := session.SplitRefresh(tok); err == nil {
		sid, revoke = s, &messages.RevokeGrant{GrantId: g, ClientId: clientID, TokenSecret: secret}
	} else if strings.Count(tok, ".") == 2 {
		at, _, err := t.check.Check(ctx, tok)
		switch {
		case err != nil && oauth2.From(err).Code != oauth2.ErrInvalidToken.Code:
			// Fail closed: the caller must learn the token may live.
			return oauth2.Write(c, t.logger, err)
		case err == nil && at.GrantID == "" && at.ClientID == clientID:
			// client_credentials tokens are short-lived and not revocable.
			return oauth2.Write(c, t.logger, oauth2.ErrUnsupportedTokenType.WithDescription("client_credentials access tokens expire; they cannot be revoked"))
		case err == nil && at.GrantID != "":
			// The signature verified: the token itself is the proof.
			sid, revoke = at.SID, &messages.RevokeGrant{GrantId: at.GrantID, ClientId: clientID, AccessToken: true}
		case err != nil && t.resources != nil:
			// A token for a resource server (RFC 8707): its client may
			// revoke it too (the grain checks the grant is the client's).
			rs, lerr := t.resources.ListResources(ctx)
			if lerr != nil {
				return oauth2.Write(c, t.logger, lerr)
			}
			rat, ok, cerr := t.checkResources(ctx, rs, tok)
			if cerr != nil {
				return oauth2.Write(c, t.logger, cerr)
			}
			if ok && rat.GrantID != "" {
				sid, revoke = rat.SID, &messages.RevokeGrant{GrantId: rat.GrantID, ClientId: clientID, AccessToken: true}
			}
		}
	}
	if revoke != nil {
		if _, err := t.sessions.Revoke(ctx, sid, revoke); err != nil {
			return oauth2.Write(c, t.logger, err)
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// userActive reports whether the user of a grant's login may still use
// it: a refresh token of a user deleted or disabled since is inactive.
func (t *Tokens) userActive(ctx context.Context, l *messages.Login) (bool, error) {
	u, err := t.check.Users.User(ctx, l.GetSubject())
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Active(time.UnixMilli(l.GetAuthTimeMs())), nil
}

// Introspection is the RFC 7662 §2.2 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  string   `json:"aud,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	SID       string   `json:"sid,omitempty"`
	// Act is the actor of a delegated token (RFC 8693 §4.1).
	Act *oauth2.Actor `json:"act,omitempty"`
	// Cnf is the DPoP key (RFC 9449 §6.2) or client certificate (RFC
	// 8705 §3.2) a token is bound to: a resource server checks the
	// proof or the connection's certificate against it.
	Cnf *oauth2.Confirmation `json:"cnf,omitempty"`
}

func (t *Tokens) introspect(c echo.Context) error {
	clientID, tok, _, err := t.read(c)
	if err != nil {
		return oauth2.Write(c, t.logger, err)
	}
	ctx := c.Request().Context()
	out := Introspection{}
	if sid, gid, secret, err := session.SplitRefresh(tok); err == nil {
		r, err := t.sessions.Check(ctx, sid, &messages.CheckGrant{GrantId: gid, TokenSecret: secret})
		if err != nil {
			return oauth2.Write(c, t.logger, err)
		}
		if r.Active && r.Grant.ClientId == clientID {
			if ok, err := t.userActive(ctx, r.Grant.Login); err != nil {
				return oauth2.Write(c, t.logger, err)
			} else if !ok {
				c.Response().Header().Set("Cache-Control", "no-store")
				return c.JSON(http.StatusOK, out)
			}
			g := r.Grant
			out = Introspection{Active: true, Scope: strings.Join(g.Scopes, " "), ClientID: g.ClientId,
				Subject: g.Login.GetSubject(), TokenType: "refresh_token", Expiry: g.RefreshExpiresMs / 1000,
				IssuedAt: g.CreatedMs / 1000, SID: sid}
			if g.DpopJkt != "" || g.X5TS256 != "" {
				out.Cnf = &oauth2.Confirmation{JKT: g.DpopJkt, X5TS256: g.X5TS256}
			}
		}
	} else {
		at, _, err := t.check.Check(ctx, tok)
		switch {
		case err != nil && oauth2.From(err).Code != oauth2.ErrInvalidToken.Code:
			return oauth2.Write(c, t.logger, err)
		case err == nil && at.ClientID == clientID:
			// Only the client the token was issued to learns about it:
			// no token scanning by other clients.
			out = activeView(at)
		case err == nil:
		default:
			// Not a token for us: it may be one for a resource server the
			// caller introspects for, and only then is it told (RFC 8707).
			rat, ok, err := t.forResource(ctx, clientID, tok)
			if err != nil {
				return oauth2.Write(c, t.logger, err)
			}
			if ok {
				out = activeView(rat)
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

func activeView(at oauth2.AccessToken) Introspection {
	typ := "Bearer"
	if at.BoundKey() != "" {
		typ = dpop.TokenType // RFC 9449 §6.2
	}
	return Introspection{Active: true, Scope: at.Scope, ClientID: at.ClientID, Subject: at.Subject,
		TokenType: typ, Cnf: at.Cnf, Expiry: at.Expiry, IssuedAt: at.IssuedAt, Issuer: at.Issuer, Audience: at.Audience,
		JTI: at.JTI, AuthTime: at.AuthTime, ACR: at.ACR, AMR: at.AMR, SID: at.SID, Act: at.Act}
}
