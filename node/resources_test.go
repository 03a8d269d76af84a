package node_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/node"
)

// The resource servers of these tests (RFC 8707).
const (
	ordersAPI  = "https://orders.example/api"
	billingAPI = "https://billing.example/"
	otherAPI   = "urn:example:other"
	vaultAPI   = "https://vault.example/"
)

// startResourceOP is a node with four resource servers: orders and
// billing (introspected by rs-orders and rs-billing; orders lets client
// svc call it with client_credentials), other (never requested here) and
// vault (its tokens encrypted to vaultKey).
func startResourceOP(t *testing.T, vaultKey *rsa.PrivateKey) *op {
	t.Helper()
	var vaultJWK []byte
	if vaultKey != nil {
		vaultJWK, _ = json.Marshal(jose.JSONWebKey{Key: &vaultKey.PublicKey, Use: "enc"})
	}
	return startOPWith(t, func(c *node.Config) {
		for _, id := range []string{"rs-orders", "rs-billing", "svc"} {
			c.Clients = append(c.Clients, node.ClientConfig{ID: id, Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
				AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
			}})
		}
		c.Resources = []node.ResourceConfig{
			{ResourceMetadata: directory.ResourceMetadata{Identifier: ordersAPI, Name: "Orders API", Scopes: []string{"orders:read", "orders:write"},
				AccessTokenTTL: directory.TTL(2 * time.Minute), AccessTokenAlg: "RS256", IntrospectionClient: "rs-orders",
				ServiceClients: []string{"svc"}}},
			{ResourceMetadata: directory.ResourceMetadata{Identifier: billingAPI, Name: "Billing", Scopes: []string{"billing:read"},
				IntrospectionClient: "rs-billing"}},
			// Shares a scope name with orders: consent and tokens keep
			// them apart.
			{ResourceMetadata: directory.ResourceMetadata{Identifier: otherAPI, Scopes: []string{"other:read", "orders:read"}}},
		}
		if vaultJWK != nil {
			c.Resources = append(c.Resources, node.ResourceConfig{ResourceMetadata: directory.ResourceMetadata{
				Identifier: vaultAPI, Scopes: []string{"vault:read"},
				EncryptionJWK: vaultJWK, EncryptionAlg: "RSA-OAEP-256",
			}})
		}
	})
}

// resourceServer is an API in front of our tokens, as a resource server
// would be written: it checks the signature against the provider's JWKS,
// the issuer, the expiry, that aud is its own identifier, and that scope
// holds what the call needs.
func resourceServer(t *testing.T, o *op, identifier, needScope string) *httptest.Server {
	t.Helper()
	keys := oidc.NewRemoteKeySet(context.Background(), o.issuer+"/.well-known/jwks.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		payload, err := keys.VerifySignature(r.Context(), raw)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var claims struct {
			Iss   string `json:"iss"`
			Aud   any    `json:"aud"`
			Exp   int64  `json:"exp"`
			Scope string `json:"scope"`
		}
		if json.Unmarshal(payload, &claims) != nil || claims.Iss != o.issuer || claims.Exp <= o.clock.Now().Unix() {
			http.Error(w, "bad claims", http.StatusUnauthorized)
			return
		}
		if claims.Aud != identifier {
			http.Error(w, "not for this API", http.StatusUnauthorized)
			return
		}
		if !slices.Contains(strings.Fields(claims.Scope), needScope) {
			http.Error(w, "insufficient_scope", http.StatusForbidden)
			return
		}
		w.Write([]byte(claims.Scope))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func callAPI(t *testing.T, srv *httptest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refreshFor exchanges a refresh token as client rp, for resources (none:
// a token for the provider itself).
func (o *op) refreshFor(t *testing.T, rt string, resources ...string) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for _, r := range resources {
		v.Add("resource", r)
	}
	return o.tokenRequest(t, "rp", v)
}

// TestResourceIndicatorsCodeFlow: an RP asks, with golang.org/x/oauth2,
// for two APIs in one authorization request; the consent page names
// them; the code is exchanged for a token for the first, which its
// resource server accepts (aud and scope from our JWKS) and the other
// refuses; the refresh token then gets a token for the second, one at a
// time; a token for the provider (no resource) carries no API scope and
// works at /userinfo, where API tokens do not; introspection tells each
// resource server only about its own tokens.
func TestResourceIndicatorsCodeFlow(t *testing.T) {
	o := startResourceOP(t, nil)
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	orders := resourceServer(t, o, ordersAPI, "orders:read")
	billing := resourceServer(t, o, billingAPI, "billing:read")

	conf := oauth2.Config{ClientID: "rp", ClientSecret: rpSecret, RedirectURL: rpRedirect, Endpoint: provider.Endpoint(),
		// other:read belongs to a resource server not asked for: dropped.
		Scopes: []string{oidc.ScopeOpenID, "orders:read", "billing:read", "other:read", "unknown:scope"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", ordersAPI)) +
		"&resource=" + url.QueryEscape(billingAPI)

	b := browser(t)
	p := get(t, b, authURL)
	p = o.login(t, b, p, userPassword)
	if !p.isConsent() {
		t.Fatalf("want the consent page, got %d %s", p.status, p.body)
	}
	for _, want := range []string{"Orders API", ordersAPI, "orders:read", "Billing", "billing:read"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("consent page does not show %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "other:read") {
		t.Error("consent page shows a scope of a resource server not asked for")
	}
	p = o.consent(t, b, p, "allow")
	if p.loc == nil || p.loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %v %s", p.status, p.loc, p.body)
	}

	tok, err := conf.Exchange(ctx, p.loc.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", ordersAPI))
	if err != nil {
		t.Fatal(err)
	}
	at := idClaims(t, tok.AccessToken)
	if at["aud"] != ordersAPI || at["scope"] != "orders:read" || at["client_id"] != "rp" || at["sub"] != o.user.Subject {
		t.Fatalf("orders token claims: %v", at)
	}
	if ttl := int64(at["exp"].(float64) - at["iat"].(float64)); ttl != 120 || tok.Extra("scope") != "orders:read" {
		t.Errorf("orders token lifetime %d s (want the resource's 120), scope %v", ttl, tok.Extra("scope"))
	}
	if hdr := jwtHeader(t, tok.AccessToken); hdr["alg"] != "RS256" || hdr["typ"] != "at+jwt" {
		t.Errorf("orders token header %v, want the resource's RS256 and at+jwt", hdr)
	}
	if idt, _ := tok.Extra("id_token").(string); idt == "" {
		t.Error("no ID token: openid was granted")
	}
	if st := callAPI(t, orders, tok.AccessToken); st != 200 {
		t.Errorf("orders API refused its token: %d", st)
	}
	if st := callAPI(t, billing, tok.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("billing API took a token for orders: %d", st)
	}
	if st, _, _ := o.userinfo(t, tok.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("userinfo took a token for a resource server: %d", st)
	}

	// Introspection: orders' resource server learns about it, billing's
	// and the client's own do not (the token is not for them).
	for _, tc := range []struct {
		caller string
		active bool
	}{{"rs-orders", true}, {"rs-billing", false}, {"rp", false}} {
		_, in := o.clientPost(t, "/introspect", tc.caller, url.Values{"token": {tok.AccessToken}})
		if in["active"] != tc.active || (tc.active && (in["aud"] != ordersAPI || in["scope"] != "orders:read")) {
			t.Errorf("introspection by %s: %v, want active %v", tc.caller, in, tc.active)
		}
	}

	// The refresh token gets a token for billing, the grant's other
	// resource.
	st, bt := o.refreshFor(t, tok.RefreshToken, billingAPI)
	if st != 200 {
		t.Fatalf("refresh for billing: %d %v", st, bt)
	}
	bat := bt["access_token"].(string)
	if c := idClaims(t, bat); c["aud"] != billingAPI || c["scope"] != "billing:read" || bt["expires_in"] != float64(600) {
		t.Fatalf("billing token: %v %v", c, bt)
	}
	if st := callAPI(t, billing, bat); st != 200 {
		t.Errorf("billing API refused its token: %d", st)
	}
	if st := callAPI(t, orders, bat); st != http.StatusUnauthorized {
		t.Errorf("orders API took a token for billing: %d", st)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-billing", url.Values{"token": {bat}}); in["active"] != true {
		t.Errorf("billing's resource server cannot introspect its token: %v", in)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-orders", url.Values{"token": {bat}}); in["active"] != false {
		t.Errorf("orders' resource server learned about billing's token: %v", in)
	}
	rt := bt["refresh_token"].(string)

	// Refused without rotating the refresh token: a resource the grant
	// does not cover, an unknown one, two at once, a scope not of the
	// resource.
	for _, tc := range []struct {
		name      string
		v         url.Values
		wantError string
	}{
		{"resource not in the grant", url.Values{"resource": {otherAPI}}, "invalid_target"},
		{"unknown resource", url.Values{"resource": {"https://unknown.example/"}}, "invalid_target"},
		{"not an absolute URI", url.Values{"resource": {"orders"}}, "invalid_target"},
		{"with a fragment", url.Values{"resource": {ordersAPI + "#x"}}, "invalid_target"},
		{"two at once", url.Values{"resource": {ordersAPI, billingAPI}}, "invalid_target"},
		{"scope of another resource", url.Values{"resource": {ordersAPI}, "scope": {"billing:read"}}, "invalid_scope"},
	} {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for k, vs := range tc.v {
			v[k] = vs
		}
		if st, out := o.tokenRequest(t, "rp", v); st != 400 || out["error"] != tc.wantError {
			t.Errorf("%s: %d %v, want %s", tc.name, st, out, tc.wantError)
		}
	}

	// Back to orders with the same (unrotated) refresh token.
	st, ot := o.refreshFor(t, rt, ordersAPI)
	if st != 200 || idClaims(t, ot["access_token"].(string))["aud"] != ordersAPI {
		t.Fatalf("refresh for orders after refusals: %d %v", st, ot)
	}

	// No resource: a token for the provider, as without resource
	// indicators: aud the issuer, no API scope, works at /userinfo.
	st, us := o.refreshFor(t, ot["refresh_token"].(string))
	if st != 200 {
		t.Fatalf("refresh without resource: %d %v", st, us)
	}
	uat := us["access_token"].(string)
	if c := idClaims(t, uat); c["aud"] != o.issuer || c["scope"] != "openid" || us["scope"] != "openid" {
		t.Fatalf("token for the provider: %v %v", c, us)
	}
	if st, _, _ := o.userinfo(t, uat); st != 200 {
		t.Errorf("userinfo refused a token for it: %d", st)
	}
	if st := callAPI(t, orders, uat); st != http.StatusUnauthorized {
		t.Errorf("orders API took a token for the provider: %d", st)
	}
	// The rule for a token for us is unchanged: its client learns about
	// it, a resource server does not.
	if _, in := o.clientPost(t, "/introspect", "rp", url.Values{"token": {uat}}); in["active"] != true {
		t.Errorf("client cannot introspect its own token: %v", in)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-orders", url.Values{"token": {uat}}); in["active"] != false {
		t.Errorf("a resource server learned about a token for the provider: %v", in)
	}

	// Revoking the grant ends the API tokens too.
	if st, _ := o.clientPost(t, "/revoke", "rp", url.Values{"token": {us["refresh_token"].(string)}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-billing", url.Values{"token": {bat}}); in["active"] != false {
		t.Errorf("a token of a revoked grant is active for its resource server: %v", in)
	}
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	s, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Signatures[0].Header
	out := map[string]any{"alg": h.Algorithm}
	for k, v := range h.ExtraHeaders {
		out[string(k)] = v
	}
	return out
}

// TestResourceIndicatorsRefused: an unknown or malformed resource is
// invalid_target at /authorize (sent back to the client), at PAR and at
// /token; a code asked for one resource is not exchanged for another
// (and stays redeemable); scopes of a resource server that was not asked
// for are not granted.
func TestResourceIndicatorsRefused(t *testing.T) {
	o := startResourceOP(t, nil)
	b := browser(t)
	params := func(resources ...string) url.Values {
		v := url.Values{}
		for k, s := range baseParams() {
			v.Set(k, s)
		}
		v.Set("scope", "openid orders:read other:read")
		v["resource"] = resources
		return v
	}
	for _, tc := range []struct {
		name     string
		resource []string
	}{
		{"unknown", []string{"https://unknown.example/"}},
		{"relative", []string{"/api"}},
		{"fragment", []string{ordersAPI + "#f"}},
		{"one known, one unknown", []string{ordersAPI, "https://unknown.example/"}},
	} {
		p := get(t, b, o.authorizeWith(params(tc.resource...)))
		if p.status != http.StatusFound || p.loc == nil || p.loc.Query().Get("error") != "invalid_target" {
			t.Errorf("/authorize with %s resource: %d %v", tc.name, p.status, p.loc)
		}
		if st, out := o.push(t, "rp", rpSecret, params(tc.resource...)); st != 400 || out["error"] != "invalid_target" {
			t.Errorf("PAR with %s resource: %d %v", tc.name, st, out)
		}
	}

	// A pushed request with a resource goes through.
	st, pushed := o.push(t, "rp", rpSecret, params(ordersAPI))
	if st != http.StatusCreated {
		t.Fatalf("PAR: %d %v", st, pushed)
	}
	cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {"rp"}, "request_uri": {pushed["request_uri"].(string)}}))
	code := cb.Query().Get("code")
	redeemFor := func(resource string) (int, map[string]any) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
		if resource != "" {
			v.Set("resource", resource)
		}
		return o.tokenRequest(t, "rp", v)
	}
	for _, r := range []string{billingAPI, "https://unknown.example/"} {
		if st, out := redeemFor(r); st != 400 || out["error"] != "invalid_target" {
			t.Errorf("code for %s: %d %v, want invalid_target", r, st, out)
		}
	}
	st, tok := redeemFor(ordersAPI)
	if st != 200 {
		t.Fatalf("the code did not survive the refused exchanges: %d %v", st, tok)
	}
	// other:read was asked for, but not the resource that defines it.
	if c := idClaims(t, tok["access_token"].(string)); c["aud"] != ordersAPI || c["scope"] != "orders:read" {
		t.Errorf("token: %v", c)
	}
	st, pt := o.refreshFor(t, tok["refresh_token"].(string))
	if c := idClaims(t, pt["access_token"].(string)); st != 200 || c["scope"] != "openid" {
		t.Errorf("token for the provider: %d %v", st, c)
	}

	// Revoking a token for a resource ends its grant, only when its own
	// client asks.
	ordersAT := tok["access_token"].(string)
	if st, _ := o.post(t, "/revoke", "rp-post", url.Values{"token": {ordersAT}}); st != 200 {
		t.Fatalf("revoke by another client: %d", st)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-orders", url.Values{"token": {ordersAT}}); in["active"] != true {
		t.Fatalf("another client's revocation ended the grant: %v", in)
	}
	if st, _ := o.clientPost(t, "/revoke", "rp", url.Values{"token": {ordersAT}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if _, in := o.clientPost(t, "/introspect", "rs-orders", url.Values{"token": {ordersAT}}); in["active"] != false {
		t.Errorf("revoked token still active: %v", in)
	}
	if st, out := o.refreshFor(t, pt["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh token of a revoked grant: %d %v", st, out)
	}

	// client_credentials gets a resource only where it is a service
	// client (TestResourceServiceClients).
	if st, out := o.post(t, "/token", "rp-post", url.Values{"grant_type": {"client_credentials"}, "resource": {ordersAPI}}); st != 400 || out["error"] != "invalid_target" {
		t.Errorf("client_credentials with a resource: %d %v", st, out)
	}
}

// TestResourceServiceClients: a client listed in a resource's
// service_clients gets, with client_credentials and resource=, a token
// for it alone (aud, the scopes asked among the resource's, all of them
// when none is asked, its lifetime) that its resource server accepts and
// its introspection client sees; every other combination is refused and
// issues nothing.
func TestResourceServiceClients(t *testing.T) {
	o := startResourceOP(t, nil)
	orders := resourceServer(t, o, ordersAPI, "orders:write")
	cc := func(client string, extra url.Values) (int, map[string]any) {
		t.Helper()
		v := url.Values{"grant_type": {"client_credentials"}}
		for k, s := range extra {
			v[k] = s
		}
		return o.post(t, "/token", client, v)
	}

	st, out := cc("svc", url.Values{"resource": {ordersAPI}})
	if st != 200 || out["scope"] != "orders:read orders:write" || out["expires_in"] != float64(120) {
		t.Fatalf("service token for orders: %d %v", st, out)
	}
	tok := out["access_token"].(string)
	at := idClaims(t, tok)
	if at["aud"] != ordersAPI || at["sub"] != "svc" || at["client_id"] != "svc" || at["sid"] != nil {
		t.Fatalf("service token claims %v", at)
	}
	if code := callAPI(t, orders, tok); code != 200 {
		t.Fatalf("the orders API refused the service token: %d", code)
	}
	if in := o.introspectAs(t, "rs-orders", tok); in["active"] != true || in["sub"] != "svc" || in["aud"] != ordersAPI {
		t.Fatalf("the orders API's introspection: %v", in)
	}
	if in := o.introspectAs(t, "rs-billing", tok); in["active"] != false {
		t.Fatalf("another API learns about the token: %v", in)
	}
	if st, _, _ := o.userinfo(t, tok); st != http.StatusUnauthorized {
		t.Fatalf("a token for an API at /userinfo: %d", st)
	}

	// Narrowed by scope: the API that needs orders:write refuses it.
	st, out = cc("svc", url.Values{"resource": {ordersAPI}, "scope": {"orders:read"}})
	if st != 200 || out["scope"] != "orders:read" {
		t.Fatalf("narrowed service token: %d %v", st, out)
	}
	if code := callAPI(t, orders, out["access_token"].(string)); code != http.StatusForbidden {
		t.Fatalf("orders:read token at an orders:write call: %d", code)
	}

	for _, tc := range []struct {
		name, client string
		v            url.Values
		want         string
	}{
		{"a scope of another resource", "svc", url.Values{"resource": {ordersAPI}, "scope": {"billing:read"}}, "invalid_scope"},
		{"an OpenID scope", "svc", url.Values{"resource": {ordersAPI}, "scope": {"openid"}}, "invalid_scope"},
		{"a resource that does not list the client", "svc", url.Values{"resource": {billingAPI}}, "invalid_target"},
		{"a client the resource does not list", "rs-billing", url.Values{"resource": {ordersAPI}}, "invalid_target"},
		{"two resources", "svc", url.Values{"resource": {ordersAPI, billingAPI}}, "invalid_target"},
		{"an unknown resource", "svc", url.Values{"resource": {"https://unknown.example/"}}, "invalid_target"},
		{"a scope without resource", "svc", url.Values{"scope": {"orders:read"}}, "invalid_scope"},
	} {
		if st, out := cc(tc.client, tc.v); st != 400 || out["error"] != tc.want || out["access_token"] != nil {
			t.Errorf("%s: %d %v, want %s", tc.name, st, out, tc.want)
		}
	}
	// Without resource: the provider's own token, as before.
	if st, out := cc("svc", nil); st != 200 || idClaims(t, out["access_token"].(string))["aud"] != o.issuer {
		t.Fatalf("service token without resource: %d %v", st, out)
	}
}

// TestResourceEncryptedAccessToken: a resource server registered with a
// public key gets its access tokens signed, then encrypted to that key;
// its private key decrypts them and the inner token verifies from our
// JWKS with its aud.
func TestResourceEncryptedAccessToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := startResourceOP(t, key)
	v := url.Values{}
	for k, s := range baseParams() {
		v.Set(k, s)
	}
	v.Set("scope", "openid vault:read")
	v.Set("resource", vaultAPI)
	cb := o.signIn(t, browser(t), o.authorizeWith(v))
	st, tok := o.tokenRequest(t, "rp", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}, "resource": {vaultAPI}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	raw := tok["access_token"].(string)
	if strings.Count(raw, ".") != 4 {
		t.Fatalf("access token for vault is not a JWE: %s", raw)
	}
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := jwe.Decrypt(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	payload, err := oidc.NewRemoteKeySet(ctx, o.issuer+"/.well-known/jwks.json").VerifySignature(ctx, string(inner))
	if err != nil {
		t.Fatalf("inner token: %v", err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	if c["aud"] != vaultAPI || c["scope"] != "vault:read" {
		t.Fatalf("inner claims %v", c)
	}
	// Tokens for others (the provider) stay signed only.
	st, pt := o.refreshFor(t, tok["refresh_token"].(string))
	if st != 200 || strings.Count(pt["access_token"].(string), ".") != 2 {
		t.Fatalf("token for the provider: %d %v", st, pt)
	}
}

// TestResourceConsentPerResource: consent to one resource server is not
// consent to another, even for a scope of the same user: a request for
// a resource not yet consented to shows the consent page again, one
// already consented to does not.
func TestResourceConsentPerResource(t *testing.T) {
	o := startResourceOP(t, nil)
	b := browser(t)
	request := func(resource, scope string) url.Values {
		v := url.Values{}
		for k, s := range baseParams() {
			v.Set(k, s)
		}
		v.Set("scope", "openid "+scope)
		v.Set("resource", resource)
		return v
	}
	o.signIn(t, b, o.authorizeWith(request(ordersAPI, "orders:read")))
	// The same resource and scope: straight back with a code.
	if p := get(t, b, o.authorizeWith(request(ordersAPI, "orders:read"))); p.status != http.StatusFound || p.loc.Query().Get("code") == "" {
		t.Fatalf("consented resource asked again: %d %v", p.status, p.loc)
	}
	// Another scope of it, or another resource: asked.
	for _, v := range []url.Values{request(ordersAPI, "orders:read orders:write"), request(billingAPI, "billing:read"),
		request(otherAPI, "orders:read")} {
		if p := get(t, b, o.authorizeWith(v)); !p.isConsent() {
			t.Errorf("%s %s: no consent page: %d %v", v.Get("resource"), v.Get("scope"), p.status, p.loc)
		}
	}
}

// TestProtectedResourcesInMetadata: both metadata documents list the
// resource servers (RFC 9728 §4 protected_resources), the static ones
// from the start and those an operator adds or removes while the node
// runs soon after, without a restart.
func TestProtectedResourcesInMetadata(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Admin.Token = adminToken
		c.Resources = []node.ResourceConfig{{ResourceMetadata: directory.ResourceMetadata{Identifier: ordersAPI, Scopes: []string{"orders:read"}}}}
	})
	listed := func(path string) []string {
		t.Helper()
		resp, err := http.Get(o.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Resources []string `json:"protected_resources"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.Resources
	}
	both := func(want ...string) bool {
		return slices.Equal(listed("/.well-known/openid-configuration"), want) &&
			slices.Equal(listed("/.well-known/oauth-authorization-server"), want)
	}
	waitFor := func(what string, want ...string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !both(want...); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: documents list %v, want %v", what, listed("/.well-known/openid-configuration"), want)
			}
		}
	}
	if !both(ordersAPI) {
		t.Fatalf("static resource not listed: %v", listed("/.well-known/openid-configuration"))
	}
	if code, body := admin(t, o.n, "POST", "/admin/resources", adminToken, `{"resource":"`+billingAPI+`","scopes":["billing:read"]}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	waitFor("after create", billingAPI, ordersAPI)
	if code, body := admin(t, o.n, "DELETE", "/admin/resources/"+url.PathEscape(billingAPI), adminToken, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	waitFor("after delete", ordersAPI)
}
