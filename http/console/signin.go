package console

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
)

// flowTTL bounds a sign-in: the time to type a password and a code.
const flowTTL = 10 * time.Minute

func (c *Console) oauth() *oauth2.Config {
	return &oauth2.Config{
		ClientID:    ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: c.cfg.AuthorizeURL, TokenURL: c.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: RedirectURI(c.cfg.URL),
		Scopes:      []string{oidc.ScopeOpenID},
	}
}

type clientIPKey struct{}

// WithClientIP carries the address of the browser a console call to the
// node is made for (the in-process transport presents it).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the address WithClientIP put in ctx, or "".
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// client is the HTTP client of the console's calls to the node: the
// in-process transport (no network, no SSRF surface).
func (c *Console) client() *http.Client {
	return &http.Client{Transport: c.cfg.Transport, Timeout: 10 * time.Second}
}

// login starts a sign-in at the node's own authorization endpoint:
// authorization code with PKCE S256 (RFC 7636), state and nonce (OIDC
// Core §3.1.2.1), all three kept in a sealed cookie for the callback.
func (c *Console) login(e echo.Context) error {
	f := flow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Exp: c.cfg.Now().Add(flowTTL).Unix()}
	v, err := c.seal(flowKID, f)
	if err != nil {
		return c.fail(e, err)
	}
	// Lax: the cookie must come back on the OP's redirect, a top-level
	// navigation from the OP's site.
	c.setCookie(e, flowCookie, v, flowTTL, http.SameSiteLaxMode)
	u := c.oauth().AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), oauth2.SetAuthURLParam("nonce", f.Nonce))
	e.Response().Header().Set("Cache-Control", "no-store")
	return e.Redirect(http.StatusSeeOther, u)
}

// callback ends a sign-in: the state must match the flow cookie's, the
// code is exchanged with the PKCE verifier, the ID token is verified
// with the node's JWKS (issuer, audience, expiry, algorithm) and must
// carry the flow's nonce; its subject must be an enabled admin.
func (c *Console) callback(e echo.Context) error {
	ctx := e.Request().Context()
	ck, err := e.Cookie(c.cookieName(flowCookie))
	var f flow
	if err != nil || c.open(flowKID, ck.Value, &f) != nil || c.cfg.Now().Unix() >= f.Exp {
		return c.errorPage(e, http.StatusBadRequest, "The sign-in has expired. Start again.")
	}
	c.setCookie(e, flowCookie, "", 0, http.SameSiteLaxMode) // one use
	q := e.QueryParams()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		c.logger.WarnContext(ctx, "console: sign-in refused", "audit", true, "client_ip", e.RealIP(), "reason", "state")
		return c.errorPage(e, http.StatusBadRequest, "The sign-in has expired. Start again.")
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		return c.errorPage(e, http.StatusForbidden, "The sign-in did not complete.")
	}
	// The in-process token call counts against the browser's address,
	// as a sign-in of its own would (not one address for every admin).
	octx := oidc.ClientContext(WithClientIP(ctx, e.RealIP()), c.client())
	octx = context.WithValue(octx, oauth2.HTTPClient, c.client())
	tok, err := c.oauth().Exchange(octx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		c.logger.WarnContext(ctx, "console: code exchange failed", "err", err)
		return c.errorPage(e, http.StatusForbidden, "The sign-in did not complete.")
	}
	raw, _ := tok.Extra("id_token").(string)
	verifier := oidc.NewVerifier(c.cfg.Issuer, oidc.NewRemoteKeySet(octx, c.cfg.JWKSURL), &oidc.Config{
		ClientID: ClientID, SupportedSigningAlgs: c.cfg.Algs, Now: c.cfg.Now,
	})
	idt, err := verifier.Verify(octx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		c.logger.WarnContext(ctx, "console: sign-in refused", "audit", true, "client_ip", e.RealIP(), "reason", "id_token", "err", err)
		return c.errorPage(e, http.StatusForbidden, "The sign-in did not complete.")
	}
	u, err := c.users.User(ctx, idt.Subject)
	if err != nil || u.Disabled || !u.Admin {
		c.logger.WarnContext(ctx, "console: access refused", "audit", true, "sub", idt.Subject, "client_ip", e.RealIP(), "reason", refusal(u, err))
		return c.errorPage(e, http.StatusForbidden, "This account may not use the admin console.")
	}
	now := c.cfg.Now()
	s := session{Sub: u.Subject, CSRF: randomString(), Exp: now.Add(c.cfg.TTL).Unix(), Max: now.Add(c.cfg.MaxTTL).Unix(), IDToken: raw}
	v, err := c.seal(sessionKID, s)
	if err != nil {
		return c.fail(e, err)
	}
	c.setCookie(e, sessionCookie, v, c.cfg.TTL, http.SameSiteStrictMode)
	c.logger.InfoContext(ctx, "console: signed in", "audit", true, "sub", u.Subject, "username", u.Username, "client_ip", e.RealIP())
	// A page, not a redirect: a Strict cookie is not sent on a redirect
	// that a cross-site navigation (the OP's) started, so the next page
	// is opened from this one (a same-site navigation).
	return c.render(e, http.StatusOK, "signed_in.html", map[string]any{"Title": c.tr(e, "Signed in"), "Next": Base + "/users"})
}

// logout ends the console session, then the admin's session at the
// node (RP-Initiated Logout 1.0): the browser goes to the end-session
// endpoint with the sign-in's ID token as id_token_hint, which ends that
// very session without asking (the hint names it), and comes back to
// the signed-out page. Signing out of the console on a shared machine
// leaves no one signed in at the node.
func (c *Console) logout(e echo.Context) error {
	s := sessionOf(e)
	c.setCookie(e, sessionCookie, "", 0, http.SameSiteStrictMode)
	c.logger.InfoContext(e.Request().Context(), "console: signed out", "audit", true, "sub", adminOf(e).Subject)
	e.Response().Header().Set("Cache-Control", "no-store")
	if c.cfg.EndSessionURL == "" || s.IDToken == "" {
		return c.signedOut(e)
	}
	q := url.Values{"id_token_hint": {s.IDToken}, "client_id": {ClientID}, "post_logout_redirect_uri": {PostLogoutRedirectURI(c.cfg.URL)}}
	return e.Redirect(http.StatusSeeOther, c.cfg.EndSessionURL+"?"+q.Encode())
}

// signedOut is the page the node's end-session endpoint returns to.
func (c *Console) signedOut(e echo.Context) error {
	e.Set(sessionKey, session{}) // the page of someone signed out
	return c.render(e, http.StatusOK, "signed_out.html", map[string]any{"Title": c.tr(e, "Signed out of the console")})
}
