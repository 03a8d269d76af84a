// Package userinfo is the op-userinfo front end: GET and POST /userinfo
// (OIDC Core §5.3) with the access token as a Bearer token in the header
// or the form body (RFC 6750 §2.1, §2.2). The token's signature is checked
// by the Crypto pool and its grant by the Session grain that owns it, so a
// revoked grant stops working at once.
package userinfo

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/dpop"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// Path of the endpoint.
const Path = "/userinfo"

// Verifier checks access tokens through the Crypto pool.
type Verifier interface {
	VerifyType(ctx context.Context, token, typ string, algs ...string) (payload []byte, kid string, err error)
}

// Sessions reaches Session grains.
type Sessions interface {
	Check(ctx context.Context, sid string, m *messages.CheckGrant) (*messages.SessionReply, error)
}

// Users gives a user's claims.
type Users interface {
	User(ctx context.Context, subject string) (directory.User, error)
}

// Checker validates access tokens: signature, typ, issuer, audience,
// expiry, that the grant behind the token still stands and is the
// token's, and that its user still exists and is enabled. Shared by
// userinfo, introspection and revocation.
type Checker struct {
	Issuer   string
	Alg      string
	Verifier Verifier
	Sessions Sessions
	// Users is read for every user token: a user deleted or disabled
	// since the sign-in makes their tokens inactive at once.
	Users Users
	Now   func() time.Time
	// Logins confirms the sign-in behind a token that names a session
	// but no grant (exchanged from an ID token, RFC 8693): the token
	// works while that login stands. Nil: such tokens never work.
	Logins Logins
}

// Logins describes a session's login (session.Grains.Describe).
type Logins interface {
	Describe(ctx context.Context, sid, subject string) (*messages.SessionReply, error)
}

// Check returns the token's claims and, for user tokens, the grant. It
// fails with oauth2.ErrInvalidToken for any token that is not active.
func (c *Checker) Check(ctx context.Context, raw string) (oauth2.AccessToken, *messages.Grant, error) {
	at, gr, _, err := c.CheckUser(ctx, raw)
	return at, gr, err
}

// CheckUser is Check that also returns the token's user (the zero User
// for client_credentials tokens).
func (c *Checker) CheckUser(ctx context.Context, raw string) (oauth2.AccessToken, *messages.Grant, directory.User, error) {
	return c.checkUser(ctx, raw, []string{c.Issuer}, c.Alg)
}

// CheckAnyAudience is CheckUser for a token that may be meant for any
// audience, signed with any of our algorithms (exchanged for another
// audience, RFC 8693): introspection, revocation and token exchange,
// which judge the token, not whether it may be used here.
func (c *Checker) CheckAnyAudience(ctx context.Context, raw string) (oauth2.AccessToken, *messages.Grant, directory.User, error) {
	return c.checkUser(ctx, raw, nil)
}

// CheckFor is Check for tokens meant for a resource server (RFC 8707):
// aud must be one of auds, and the signature one of algs (the resource
// servers' access_token_signing_alg). Tokens for the provider itself
// (aud = issuer) are not accepted unless auds names the issuer.
func (c *Checker) CheckFor(ctx context.Context, raw string, auds []string, algs ...string) (oauth2.AccessToken, *messages.Grant, error) {
	if len(auds) == 0 {
		return oauth2.AccessToken{}, nil, oauth2.ErrInvalidToken
	}
	at, gr, _, err := c.checkUser(ctx, raw, auds, algs...)
	return at, gr, err
}

// checkUser checks the token and its user; auds nil accepts any
// audience (CheckAnyAudience).
func (c *Checker) checkUser(ctx context.Context, raw string, auds []string, algs ...string) (oauth2.AccessToken, *messages.Grant, directory.User, error) {
	at, gr, err := c.check(ctx, raw, auds, algs...)
	if err != nil || gr == nil {
		return at, gr, directory.User{}, err
	}
	u, err := c.Users.User(ctx, at.Subject)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return at, nil, directory.User{}, oauth2.ErrInvalidToken.WithDescription("user no longer exists")
	case err != nil:
		// Fail closed: if we cannot tell, the token does not work.
		return at, nil, directory.User{}, err
	case !u.Active(time.UnixMilli(gr.Login.GetAuthTimeMs())):
		return at, nil, directory.User{}, oauth2.ErrInvalidToken.WithDescription("user disabled")
	}
	return at, gr, u, nil
}

func (c *Checker) check(ctx context.Context, raw string, auds []string, algs ...string) (oauth2.AccessToken, *messages.Grant, error) {
	var at oauth2.AccessToken
	if raw == "" || len(raw) > 8192 {
		return at, nil, oauth2.ErrInvalidToken
	}
	payload, _, err := c.Verifier.VerifyType(ctx, raw, "at+jwt", algs...)
	if errors.Is(err, messages.ErrInvalid) {
		return at, nil, oauth2.ErrInvalidToken
	}
	if err != nil {
		// The pool could not tell (down, out of time): the token does
		// not work, but it is not known to be invalid, and revocation
		// must not answer as if it were (RFC 7009 §2.2).
		return at, nil, fmt.Errorf("userinfo: verify access token: %w", err)
	}
	if err := json.Unmarshal(payload, &at); err != nil {
		return at, nil, oauth2.ErrInvalidToken
	}
	now := c.Now().Unix()
	if at.Issuer != c.Issuer || (auds != nil && !slices.Contains(auds, at.Audience)) || at.Audience == "" || at.Expiry <= now || at.JTI == "" {
		return at, nil, oauth2.ErrInvalidToken.WithDescription("token expired or not for this server")
	}
	if at.GrantID == "" && at.SID != "" {
		return c.checkLogin(ctx, at)
	}
	if at.GrantID == "" {
		return at, nil, nil // client_credentials: no grant behind it
	}
	r, err := c.Sessions.Check(ctx, at.SID, &messages.CheckGrant{GrantId: at.GrantID})
	if err != nil {
		// Fail closed: if we cannot tell, the token does not work.
		return at, nil, err
	}
	if !r.Active {
		return at, nil, oauth2.ErrInvalidToken.WithDescription("token revoked")
	}
	// An exchanged token (RFC 8693) is another client's, and names the
	// client of the grant it was exchanged from.
	grantClient := at.ClientID
	if at.GrantClientID != "" {
		grantClient = at.GrantClientID
	}
	if r.Grant.GetClientId() != grantClient || r.Grant.GetLogin().GetSubject() != at.Subject {
		// The token names a grant that is not its own: whatever signed it
		// (a leaked or misused key), it speaks for nobody.
		return at, nil, oauth2.ErrInvalidToken.WithDescription("token does not match its grant")
	}
	return at, r.Grant, nil
}

// checkLogin checks a token that names a session but no grant: one
// exchanged from an ID token, which lives while its login does. The
// grant it returns stands for that login, with the token's client and
// scopes (no claims request).
func (c *Checker) checkLogin(ctx context.Context, at oauth2.AccessToken) (oauth2.AccessToken, *messages.Grant, error) {
	if c.Logins == nil {
		return at, nil, oauth2.ErrInvalidToken
	}
	r, err := c.Logins.Describe(ctx, at.SID, at.Subject)
	if errors.Is(err, messages.ErrNotFound) || errors.Is(err, messages.ErrInvalid) {
		return at, nil, oauth2.ErrInvalidToken.WithDescription("session ended")
	}
	if err != nil {
		return at, nil, err // fail closed
	}
	if r.GetLogin().GetSubject() != at.Subject {
		return at, nil, oauth2.ErrInvalidToken.WithDescription("session ended")
	}
	return at, &messages.Grant{ClientId: at.ClientID, Scopes: at.Scopes(), Login: r.GetLogin()}, nil
}

// Handler serves /userinfo.
type Handler struct {
	check  *Checker
	resp   *Responses
	logger *slog.Logger
	// dpop checks proofs of DPoP-bound tokens at dpopURI (WithDPoP).
	dpop    *dpop.Checker
	dpopURI string
	// certs reads the request's client certificate (WithMTLS).
	certs func(r *http.Request) ([]*x509.Certificate, error)
}

// Signer signs through the Crypto pool.
type Signer interface {
	Sign(ctx context.Context, alg string, payload []byte, typ string) (token, kid string, err error)
}

// Clients looks clients up.
type Clients interface {
	Client(ctx context.Context, id string) (directory.Client, error)
}

// Responses are what signed and encrypted userinfo responses need (OIDC
// Core §5.3.2): the client's registration, our signing keys and the
// client's encryption keys.
type Responses struct {
	Issuer    string
	Clients   Clients
	Signer    Signer
	Encrypter oauth2.Encrypter
	Keys      oauth2.ClientKeys
}

// WithResponses enables signed and encrypted responses for clients that
// registered userinfo_signed_response_alg or
// userinfo_encrypted_response_alg. Without it the endpoint does not look
// at client registrations and always answers plain JSON (the node always
// sets it). With it, a client whose encryption key cannot be found gets
// an error, never a plain answer.
func (h *Handler) WithResponses(r *Responses) *Handler {
	h.resp = r
	return h
}

// jwtResponse renders claims as the client registered: signed (with iss
// and aud), encrypted, or signed then encrypted. ok is false for a
// client that wants plain JSON.
func (h *Handler) jwtResponse(ctx context.Context, clientID string, claims map[string]any) (body string, ok bool, err error) {
	if h.resp == nil {
		return "", false, nil
	}
	cl, err := h.resp.Clients.Client(ctx, clientID)
	if errors.Is(err, directory.ErrNotFound) {
		return "", false, oauth2.ErrInvalidToken.WithDescription("client no longer exists")
	}
	if err != nil {
		// A directory that cannot answer says nothing of the token.
		return "", false, fmt.Errorf("userinfo: client %s: %w", clientID, err)
	}
	sa, ea := cl.UserinfoSignedResponseAlg, cl.UserinfoEncryptedResponseAlg
	if sa == "" && ea == "" {
		return "", false, nil
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", false, err
	}
	body, cty := string(payload), ""
	if sa != "" {
		signed := map[string]any{}
		for k, v := range claims {
			signed[k] = v
		}
		signed["iss"], signed["aud"] = h.resp.Issuer, cl.ID
		b, err := json.Marshal(signed)
		if err != nil {
			return "", false, err
		}
		if body, _, err = h.resp.Signer.Sign(ctx, sa, b, "JWT"); err != nil {
			return "", false, err
		}
		cty = "JWT"
	}
	if ea != "" {
		enc := cl.UserinfoEncryptedResponseEnc
		if enc == "" {
			enc = directory.DefaultEncryptionEnc
		}
		if body, err = oauth2.EncryptFor(ctx, h.resp.Encrypter, h.resp.Keys, cl, []byte(body), ea, enc, cty); err != nil {
			return "", false, err
		}
	}
	return body, true, nil
}

// New returns the userinfo endpoint; the users it answers for are read
// by check (Checker.Users).
func New(check *Checker, logger *slog.Logger) *Handler {
	return &Handler{check: check, logger: logger}
}

// Name is the front end's name in metrics and the route table.
func (h *Handler) Name() string { return "userinfo" }

// Routes are the userinfo endpoint (OIDC Core §5.3.1: GET and POST).
func (h *Handler) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: Path, Handler: h.userinfo, Limit: router.Lenient, CORS: true, Grain: "Session.Check"},
		{Method: http.MethodPost, Path: Path, Handler: h.userinfo, Limit: router.Lenient, CORS: true, Grain: "Session.Check"},
	}
}

// bearer finds the token in the header or, for POST, the form body; more
// than one place is an error (RFC 6750 §2). scheme is the Authorization
// scheme (Bearer or DPoP, RFC 9449 §7.1), "" for the form body.
func bearer(r *http.Request) (string, string, error) {
	var found []string
	var scheme string
	if h := r.Header.Get("Authorization"); h != "" {
		s, tok, ok := strings.Cut(h, " ")
		if !ok || (!strings.EqualFold(s, "Bearer") && !strings.EqualFold(s, dpop.TokenType)) {
			return "", "", oauth2.ErrInvalidRequest.WithDescription("Authorization must be a Bearer or DPoP token")
		}
		found = append(found, strings.TrimSpace(tok))
		scheme = s
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return "", "", oauth2.ErrInvalidRequest.WithDescription("malformed form body")
		}
		if v := r.PostForm["access_token"]; len(v) > 0 {
			found = append(found, v...)
		}
	}
	if r.URL.Query().Has("access_token") {
		// RFC 9700 §2.5: not in the query string.
		return "", "", oauth2.ErrInvalidRequest.WithDescription("access_token in the query is not accepted")
	}
	switch len(found) {
	case 0:
		return "", "", nil
	case 1:
		if len(r.PostForm["access_token"]) > 0 {
			scheme = ""
		}
		return found[0], scheme, nil
	}
	return "", "", oauth2.ErrInvalidRequest.WithDescription("more than one access token")
}

func (h *Handler) fail(c echo.Context, err error) error {
	e := oauth2.From(err)
	if de := (dpopError{}); errors.As(err, &de) {
		if e.Status < http.StatusInternalServerError {
			// RFC 9449 §7.1: the DPoP challenge, with the algs we accept.
			c.Response().Header().Set("WWW-Authenticate", dpopChallenge(e, h.dpop.Accepted()))
		}
		return oauth2.Write(c, h.logger, err)
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
		// RFC 6750 §3: the challenge names the error.
		v := `Bearer realm="authrim"`
		if e.Code != "" && e.Code != "unauthorized" {
			v += `, error="` + e.Code + `"`
		}
		c.Response().Header().Set("WWW-Authenticate", v)
		if h.dpop != nil && e.Status == http.StatusUnauthorized {
			// RFC 9449 §7.1: DPoP tokens are accepted too.
			c.Response().Header().Add("WWW-Authenticate", dpopChallenge(&oauth2.Error{}, h.dpop.Accepted()))
		}
	}
	return oauth2.Write(c, h.logger, err)
}

func (h *Handler) userinfo(c echo.Context) error {
	h.dpop.SetNonce(c.Response().Header())
	raw, scheme, err := bearer(c.Request())
	if err != nil {
		return h.fail(c, err)
	}
	if raw == "" {
		return h.fail(c, oauth2.ErrUnauthorized.WithDescription("access token required"))
	}
	ctx := c.Request().Context()
	at, grant, u, err := h.check.CheckUser(ctx, raw)
	if err != nil {
		if strings.EqualFold(scheme, dpop.TokenType) {
			err = dpopError{err} // answered with the scheme it came with
		}
		return h.fail(c, err)
	}
	if err := h.checkBinding(ctx, c.Request(), scheme, raw, at.BoundKey()); err != nil {
		return h.fail(c, err)
	}
	if err := h.checkCertificate(c.Request(), at.BoundCertificate()); err != nil {
		return h.fail(c, err)
	}
	if grant == nil || !slices.Contains(at.Scopes(), "openid") {
		return h.fail(c, &oauth2.Error{Code: "insufficient_scope", Status: http.StatusForbidden, Description: "the token was not issued for OpenID"})
	}
	var requested map[string]*oauth2.ClaimSpec
	if cr, _ := oauth2.ParseClaimsRequest(grant.ClaimsJson); cr != nil {
		requested = cr.UserInfo
	}
	out := oauth2.Release(u.ClaimValues(), at.Scopes(), requested)
	out["sub"] = u.Subject
	c.Response().Header().Set("Cache-Control", "no-store")
	if body, ok, err := h.jwtResponse(ctx, at.ClientID, out); err != nil {
		return h.fail(c, err)
	} else if ok {
		// OIDC Core §5.3.2: a signed or encrypted answer is a JWT.
		return c.Blob(http.StatusOK, "application/jwt", []byte(body))
	}
	return c.JSON(http.StatusOK, out)
}
