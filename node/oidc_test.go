package node_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/node"
)

// TestSignInWithGoOIDCAndOAuth2 runs a real RP (coreos/go-oidc and
// golang.org/x/oauth2) through the whole life of a grant: sign-in with
// PKCE, ID token verification, userinfo, refresh, introspection,
// revocation and logout.
//
// It runs once per crypto.mode: signing through this node's Crypto pool
// and inline must be indistinguishable to an RP.
func TestSignInWithGoOIDCAndOAuth2(t *testing.T) {
	for _, mode := range []string{node.CryptoLocal, node.CryptoInline} {
		t.Run(mode, func(t *testing.T) {
			signInWithGoOIDC(t, startOPWith(t, func(c *node.Config) { c.Crypto.Mode = mode }))
		})
	}
}

func signInWithGoOIDC(t *testing.T, o *op) {
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{
		ClientID: "rp", ClientSecret: rpSecret, RedirectURL: rpRedirect, Endpoint: provider.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "rp", Now: o.clock.Now})
	pkceVerifier := oauth2.GenerateVerifier()
	b := browser(t)
	cb := o.signIn(t, b, conf.AuthCodeURL("state-123", oidc.Nonce("nonce-abc"), oauth2.S256ChallengeOption(pkceVerifier)))
	if cb.Query().Get("state") != "state-123" || cb.Query().Get("iss") != o.issuer {
		t.Fatalf("callback %v", cb)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkceVerifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "nonce-abc" || idt.Subject != o.user.Subject {
		t.Fatalf("id token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var std struct {
		AMR []string `json:"amr"`
		SID string   `json:"sid"`
		ACR string   `json:"acr"`
	}
	idt.Claims(&std)
	if !slices.Contains(std.AMR, "pwd") || std.SID == "" || std.ACR == "" {
		t.Fatalf("amr/sid/acr: %+v", std)
	}

	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Email != "alice@example.com" || ui.Subject != o.user.Subject {
		t.Fatalf("userinfo %+v", ui)
	}

	// Refresh: a new refresh token each time.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	refreshed, err := conf.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}

	// Introspection by the owning client.
	st, in := o.clientPost(t, "/introspect", "rp", url.Values{"token": {refreshed.AccessToken}})
	if st != 200 || in["active"] != true || in["sub"] != o.user.Subject {
		t.Fatalf("introspect %d %v", st, in)
	}
	// Another client learns nothing.
	if _, in := o.clientPost(t, "/introspect", "rp-post", url.Values{"token": {refreshed.AccessToken}}); in["active"] != false {
		t.Fatalf("another client introspected the token: %v", in)
	}

	// Revoking the refresh token ends the grant: its access tokens too.
	if st, _ := o.clientPost(t, "/revoke", "rp", url.Values{"token": {refreshed.RefreshToken}}); st != 200 {
		t.Fatalf("revoke %d", st)
	}
	if _, in := o.clientPost(t, "/introspect", "rp", url.Values{"token": {refreshed.AccessToken}}); in["active"] != false {
		t.Fatalf("access token active after revocation: %v", in)
	}
	if code, _, h := o.userinfo(t, refreshed.AccessToken); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo after revocation: %d %q", code, h.Get("WWW-Authenticate"))
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("revoked refresh token still works")
	}

	// RP-initiated logout with id_token_hint ends the session and returns.
	lo := get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}.Encode())
	if lo.status != 302 || lo.loc.String() != rpLogout+"?state=bye" {
		t.Fatalf("logout: %d %v %s", lo.status, lo.loc, lo.body)
	}
	p := baseParams()
	p["prompt"] = "none"
	if cb := get(t, b, o.authorizeURL(p)); cb.loc == nil || cb.loc.Query().Get("error") != "login_required" {
		t.Fatalf("session survived logout: %v", cb.loc)
	}
}

func (o *op) clientPost(t *testing.T, path, clientID string, v url.Values) (int, map[string]any) {
	t.Helper()
	return o.post(t, path, clientID, v)
}

func (o *op) post(t *testing.T, path, clientID string, v url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID == "rp-post" {
		v.Set("client_id", clientID)
		v.Set("client_secret", rpSecret)
		req, _ = http.NewRequest("POST", o.issuer+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if clientID != "" {
		req.SetBasicAuth(clientID, rpSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	return resp.StatusCode, out
}
