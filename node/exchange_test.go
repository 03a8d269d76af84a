package node_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"authrim/directory"
	fetcher "authrim/http/fetch"
	"authrim/internal/testca"
	"authrim/node"
)

const (
	grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeAT        = "urn:ietf:params:oauth:token-type:access_token"
	typeIDT       = "urn:ietf:params:oauth:token-type:id_token"
	typeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	typeRT        = "urn:ietf:params:oauth:token-type:refresh_token"
	exOrdersAPI   = "https://api.example/orders"
	partnerIss    = "https://idp.partner.example"
	// exRegisteredAPI is a registered resource server (RFC 8707): its
	// scopes, token lifetime and algorithm apply to exchanges for it.
	exRegisteredAPI = "https://api.example/registered"
)

// partnerIdP is a trusted issuer of the tests: its own ES256 key, its
// JWKS served over https with a certificate of internal/testca.
type partnerIdP struct {
	key     *ecdsa.PrivateKey
	kid     string
	jwks    *atomic.Pointer[[]byte] // what its jwks_uri serves
	fetches *atomic.Int32
	jwksURI string
	caFile  string
}

// rotate replaces the partner's key by a new one, published alone.
func (p *partnerIdP) rotate(t *testing.T, kid string) {
	t.Helper()
	p.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.kid = kid
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	p.jwks.Store(&b)
}

func newPartnerIdP(t *testing.T) *partnerIdP {
	t.Helper()
	p := &partnerIdP{jwks: &atomic.Pointer[[]byte]{}, fetches: &atomic.Int32{}}
	p.rotate(t, "p1")
	leaf := testca.New(t).Issue(t)
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(*p.jwks.Load())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// The leaf itself is the trust anchor of requests.fetch.ca_file.
	caFile := filepath.Join(t.TempDir(), "partner.pem")
	testca.WriteFile(t, caFile, leaf.CertPEM)
	p.jwksURI, p.caFile = srv.URL+"/jwks.json", caFile
	return p
}

// jwt signs claims with key (the partner's unless another is given).
func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

func (p *partnerIdP) token(t *testing.T, aud string, claims map[string]any) string {
	now := time.Now().Unix()
	c := map[string]any{"iss": partnerIss, "sub": "partner-user-1", "aud": aud, "iat": now, "nbf": now, "exp": now + 300, "scope": "orders.read"}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return signJWT(t, jose.ES256, p.key, p.kid, c)
}

// exchangeOP starts a node with:
//   - "rp" (the harness's code-flow client) also allowed to exchange the
//     ID tokens it got and its users' access tokens, impersonating;
//   - "api", a service that exchanges access tokens and partner JWTs
//     for tokens to the orders API, impersonating;
//   - "deleg", a service that must name itself as actor (delegation);
//   - the partner IdP as trusted issuer (its JWKS over https, trusted
//     through requests.fetch.ca_file on loopback).
func exchangeOP(t *testing.T, idp *partnerIdP, logs *syncBuffer) *op {
	t.Helper()
	policy := directory.TokenExchangePolicy{
		SubjectTokenTypes: []string{typeAT, typeIDT, typeJWT},
		Audiences:         []string{exOrdersAPI, "orders-backend", exRegisteredAPI},
		Scopes:            []string{"profile", "email", "orders.read"},
	}
	adjust := func(c *node.Config) {
		c.RateLimit.Enabled = false
		c.Requests.Fetch.AllowPrivateAddresses = true // the partner is on loopback
		c.Requests.Fetch.CAFile = idp.caFile
		c.TokenExchange.TrustedIssuers = []node.TrustedIssuerConfig{{
			Issuer: partnerIss, JWKSURI: idp.jwksURI, Algorithms: []string{"ES256"}, Audience: c.Issuer,
		}}
		c.Resources = append(c.Resources, node.ResourceConfig{ResourceMetadata: directory.ResourceMetadata{
			Identifier: exRegisteredAPI, Name: "Registered API", Scopes: []string{"orders.read"},
			AccessTokenTTL: directory.TTL(2 * time.Minute), AccessTokenAlg: "RS256", IntrospectionClient: "rs-ex",
		}})
		imp := policy
		imp.AllowImpersonation = true
		c.Clients[0].GrantTypes = append(c.Clients[0].GrantTypes, grantExchange)
		c.Clients[0].TokenExchange = imp
		c.Clients = append(c.Clients,
			node.ClientConfig{ID: "api", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
				Name: "Orders gateway", AuthMethod: "client_secret_basic",
				GrantTypes: []string{grantExchange, "client_credentials"}, TokenExchange: imp,
			}},
			node.ClientConfig{ID: "rs-ex", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
				AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
			}},
			node.ClientConfig{ID: "deleg", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
				Name: "Delegating agent", AuthMethod: "client_secret_basic",
				GrantTypes: []string{grantExchange, "client_credentials"}, TokenExchange: policy,
			}},
		)
	}
	return startOPFull(t, adjust, func(o *node.Options) {
		if logs != nil {
			o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		}
	})
}

// exchange posts a token exchange request as client (Basic auth).
func (o *op) exchange(t *testing.T, client string, v url.Values) (int, map[string]any) {
	t.Helper()
	v.Set("grant_type", grantExchange)
	if client == "rp-post" {
		return o.post(t, "/token", client, v)
	}
	return o.tokenRequest(t, client, v)
}

// serviceToken gets client's own access token through
// golang.org/x/oauth2's client credentials flow: the actor token.
func (o *op) serviceToken(t *testing.T, client string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: client, ClientSecret: rpSecret, TokenURL: o.issuer + "/token"}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func (o *op) introspectAs(t *testing.T, client, tok string) map[string]any {
	t.Helper()
	st, out := o.clientPost(t, "/introspect", client, url.Values{"token": {tok}})
	if st != 200 {
		t.Fatalf("introspect: %d %v", st, out)
	}
	return out
}

func wantError(t *testing.T, st int, out map[string]any, code string) {
	t.Helper()
	if st != 400 || out["error"] != code {
		t.Fatalf("got %d %v, want 400 %s", st, out, code)
	}
}

// TestTokenExchangeAccessToken: a service exchanges a user's access
// token (issued to "rp") for a token to the orders API: the issued
// token is the service's (client_id), for the user (sub), with the
// subject's sid and gid, narrowed scope, no refresh token, and a
// lifetime within the subject's. Revoking the subject grant at /revoke
// makes it inactive at introspection, and the subject token can no
// longer be exchanged.
func TestTokenExchangeAccessToken(t *testing.T) {
	logs := &syncBuffer{}
	o := exchangeOP(t, newPartnerIdP(t), logs)
	tok := o.grantOf(t)
	subject := tok["access_token"].(string)
	sc := idClaims(t, subject)

	// Five minutes into the subject's ten: the exchanged token may not
	// outlive it.
	o.clock.Advance(5 * time.Minute)
	st, out := o.exchange(t, "api", url.Values{
		"subject_token": {subject}, "subject_token_type": {typeAT},
		"audience": {exOrdersAPI}, "scope": {"profile"},
	})
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, out)
	}
	if out["issued_token_type"] != typeAT || out["token_type"] != "Bearer" || out["scope"] != "profile" {
		t.Fatalf("response: %v", out)
	}
	if _, ok := out["refresh_token"]; ok {
		t.Fatal("a refresh token was issued by an exchange")
	}
	if _, ok := out["id_token"]; ok {
		t.Fatal("an ID token was issued by an exchange")
	}
	exp := out["expires_in"].(float64)
	if exp <= 0 || exp > 5*60 {
		t.Fatalf("expires_in = %v, want within the subject's remaining 300s", exp)
	}
	x := out["access_token"].(string)
	c := idClaims(t, x)
	for k, want := range map[string]any{
		"sub": o.user.Subject, "aud": exOrdersAPI, "client_id": "api", "iss": o.issuer,
		"sid": sc["sid"], "gid": sc["gid"], "grant_client_id": "rp", "scope": "profile",
	} {
		if c[k] != want {
			t.Errorf("claim %s = %v, want %v", k, c[k], want)
		}
	}
	if c["exp"].(float64) > sc["exp"].(float64) {
		t.Errorf("exchanged exp %v after the subject's %v", c["exp"], sc["exp"])
	}
	if _, ok := c["act"]; ok {
		t.Error("impersonation carries an act claim")
	}
	// Not a token for this server's userinfo: its audience is the API.
	if st, _, _ := o.userinfo(t, x); st != 401 {
		t.Errorf("userinfo accepted a token for %s: %d", exOrdersAPI, st)
	}
	// The default audience is the policy's first; the subject's scopes
	// within the policy when none is asked for.
	st, def := o.exchange(t, "api", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}})
	if st != 200 || idClaims(t, def["access_token"].(string))["aud"] != exOrdersAPI || def["scope"] != "profile email" {
		t.Fatalf("default exchange: %d %v", st, def)
	}
	// Introspection tells only the resource server a token is for
	// (RFC 8707): the same subject exchanged for the registered API is
	// seen by its introspection client, and by no other client.
	st, reg := o.exchange(t, "api", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}, "resource": {exRegisteredAPI}})
	if st != 200 {
		t.Fatalf("exchange for the registered API: %d %v", st, reg)
	}
	rx := reg["access_token"].(string)
	if in := o.introspectAs(t, "rs-ex", rx); in["active"] != true || in["sub"] != o.user.Subject || in["client_id"] != "api" || in["aud"] != exRegisteredAPI {
		t.Fatalf("introspection of the exchanged token: %v", in)
	}
	for _, other := range []string{"rp", "api"} {
		if in := o.introspectAs(t, other, rx); in["active"] != false {
			t.Fatalf("%s introspected a token for the resource server: %v", other, in)
		}
	}
	// The audit says who exchanged what for whom, never the tokens.
	if l := logs.String(); !strings.Contains(l, `"msg":"token exchanged"`) || !strings.Contains(l, `"aud":"`+exOrdersAPI+`"`) ||
		strings.Contains(l, subject) || strings.Contains(l, x) {
		t.Fatalf("audit lines missing or leaking tokens:\n%s", l)
	}

	// The user's RP revokes its grant: the exchanged token dies with it.
	if st, out := o.clientPost(t, "/revoke", "rp", url.Values{"token": {tok["refresh_token"].(string)}}); st != 200 {
		t.Fatalf("revoke: %d %v", st, out)
	}
	if in := o.introspectAs(t, "rs-ex", rx); in["active"] != false {
		t.Fatalf("exchanged token active after its subject grant was revoked: %v", in)
	}
	st, out = o.exchange(t, "api", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}})
	wantError(t, st, out, "invalid_grant")
	if !strings.Contains(logs.String(), `"msg":"token exchange refused"`) {
		t.Fatal("the refusal was not audited")
	}
	// A client without the grant is refused, and audited too.
	st, out = o.exchange(t, "rp-post", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}})
	wantError(t, st, out, "unauthorized_client")
	if !strings.Contains(logs.String(), `"audit":true,"client_id":"rp-post","subject_token_type"`) {
		t.Fatalf("the refusal of a client without the grant was not audited:\n%s", logs.String())
	}
}

// TestTokenExchangeIDToken: the client an ID token was issued to
// exchanges it for an access token bound to the ID token's session; a
// logout ends that token and refuses the ID token. An ID token issued
// to another client is refused.
func TestTokenExchangeIDToken(t *testing.T) {
	o := exchangeOP(t, newPartnerIdP(t), nil)
	b := browser(t)
	idt := o.codeFlow(t, b)
	ic := idClaims(t, idt)

	v := url.Values{"subject_token": {idt}, "subject_token_type": {typeIDT}, "audience": {exRegisteredAPI}, "scope": {"orders.read"}}
	st, out := o.exchange(t, "rp", v)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, out)
	}
	x := out["access_token"].(string)
	c := idClaims(t, x)
	if c["sub"] != o.user.Subject || c["sid"] != ic["sid"] || c["aud"] != exRegisteredAPI || c["client_id"] != "rp" || c["gid"] != nil {
		t.Fatalf("claims: %v", c)
	}
	if in := o.introspectAs(t, "rs-ex", x); in["active"] != true {
		t.Fatalf("introspection: %v", in)
	}
	// Only the ID token's audience may present it.
	st, out = o.exchange(t, "api", url.Values{"subject_token": {idt}, "subject_token_type": {typeIDT}})
	wantError(t, st, out, "invalid_grant")

	// The user logs out: the session's exchanged token and ID token end.
	r := get(t, b, o.issuer+"/logout")
	if r := postForm(t, b, o.issuer+"/logout", hidden(r.body)); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if in := o.introspectAs(t, "rs-ex", x); in["active"] != false {
		t.Fatalf("exchanged token active after logout: %v", in)
	}
	st, out = o.exchange(t, "rp", v)
	wantError(t, st, out, "invalid_grant")
}

// TestTokenExchangeDelegation: a client whose policy forbids
// impersonation must name an actor; the issued token carries act, and
// exchanging a delegated token nests the previous act (RFC 8693 §4.1).
func TestTokenExchangeDelegation(t *testing.T) {
	o := exchangeOP(t, newPartnerIdP(t), nil)
	subject := o.grantOf(t)["access_token"].(string)

	// No actor: impersonation, which deleg's policy forbids.
	st, out := o.exchange(t, "deleg", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}})
	wantError(t, st, out, "unauthorized_client")

	actor := o.serviceToken(t, "deleg")
	st, out = o.exchange(t, "deleg", url.Values{
		"subject_token": {subject}, "subject_token_type": {typeAT},
		"actor_token": {actor}, "actor_token_type": {typeAT}, "resource": {exRegisteredAPI},
	})
	if st != 200 {
		t.Fatalf("delegation: %d %v", st, out)
	}
	first := out["access_token"].(string)
	act, _ := idClaims(t, first)["act"].(map[string]any)
	if act["sub"] != "deleg" || act["act"] != nil || act["iss"] != nil {
		t.Fatalf("act = %v, want {sub: deleg}", act)
	}
	if in := o.introspectAs(t, "rs-ex", first); in["active"] != true || in["act"].(map[string]any)["sub"] != "deleg" {
		t.Fatalf("introspection: %v", in)
	}

	// The delegated token, exchanged again by the gateway acting in
	// turn: the chain is kept.
	st, out = o.exchange(t, "deleg", url.Values{
		"subject_token": {first}, "subject_token_type": {typeAT},
		"actor_token": {o.serviceToken(t, "api")}, "actor_token_type": {typeAT},
	})
	if st != 200 {
		t.Fatalf("second delegation: %d %v", st, out)
	}
	c := idClaims(t, out["access_token"].(string))
	act, _ = c["act"].(map[string]any)
	inner, _ := act["act"].(map[string]any)
	if act["sub"] != "api" || inner["sub"] != "deleg" || c["sub"] != o.user.Subject {
		t.Fatalf("nested act = %v", c["act"])
	}
}

// TestTokenExchangeTrustedIssuer: a JWT of a trusted issuer, verified
// with the issuer's keys fetched over https through the guarded
// fetcher, is exchanged; every departure from the issuer's rules is
// invalid_grant.
func TestTokenExchangeTrustedIssuer(t *testing.T) {
	idp := newPartnerIdP(t)
	o := exchangeOP(t, idp, nil)
	st, out := o.exchange(t, "api", url.Values{
		"subject_token": {idp.token(t, o.issuer, nil)}, "subject_token_type": {typeJWT}, "scope": {"orders.read"},
	})
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, out)
	}
	c := idClaims(t, out["access_token"].(string))
	if c["sub"] != "partner-user-1" || c["iss"] != o.issuer || c["aud"] != exOrdersAPI || c["sid"] != nil || c["gid"] != nil || c["scope"] != "orders.read" {
		t.Fatalf("claims: %v", c)
	}
	// For a registered resource server: its aud, scopes, lifetime and
	// alg; the resource server's introspection client sees the token.
	st, out = o.exchange(t, "api", url.Values{
		"subject_token": {idp.token(t, o.issuer, nil)}, "subject_token_type": {typeJWT}, "resource": {exRegisteredAPI},
	})
	if st != 200 || out["scope"] != "orders.read" || out["expires_in"].(float64) > 120 {
		t.Fatalf("exchange for the resource: %d %v", st, out)
	}
	rt := out["access_token"].(string)
	if c := idClaims(t, rt); c["aud"] != exRegisteredAPI {
		t.Fatalf("aud = %v", c["aud"])
	}
	if h := jwtHeader(t, rt); h["alg"] != "RS256" {
		t.Fatalf("alg = %v, want the resource's RS256", h["alg"])
	}
	if in := o.introspectAs(t, "rs-ex", rt); in["active"] != true || in["aud"] != exRegisteredAPI {
		t.Fatalf("the resource server's introspection: %v", in)
	}
	// A partner token with act keeps it under the new actor.
	actor := o.serviceToken(t, "api")
	st, out = o.exchange(t, "api", url.Values{
		"subject_token":      {idp.token(t, o.issuer, map[string]any{"act": map[string]any{"sub": "partner-agent", "iss": partnerIss}})},
		"subject_token_type": {typeJWT}, "actor_token": {actor}, "actor_token_type": {typeAT},
	})
	if st != 200 {
		t.Fatalf("delegated partner exchange: %d %v", st, out)
	}
	act, _ := idClaims(t, out["access_token"].(string))["act"].(map[string]any)
	if inner, _ := act["act"].(map[string]any); act["sub"] != "api" || inner["sub"] != "partner-agent" || inner["iss"] != partnerIss {
		t.Fatalf("act = %v", act)
	}

	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now().Unix()
	for _, tc := range []struct{ name, token string }{
		{"untrusted issuer", idp.token(t, o.issuer, map[string]any{"iss": "https://evil.example"})},
		{"signed by another key", signJWT(t, jose.ES256, otherKey, "p1", map[string]any{"iss": partnerIss, "sub": "x", "aud": o.issuer, "exp": now + 60})},
		{"algorithm not allowed for the issuer", signJWT(t, jose.RS256, rsaKey, "p1", map[string]any{"iss": partnerIss, "sub": "x", "aud": o.issuer, "exp": now + 60})},
		{"wrong audience", idp.token(t, "https://elsewhere.example", nil)},
		{"expired", idp.token(t, o.issuer, map[string]any{"exp": now - 1})},
		{"not yet valid", idp.token(t, o.issuer, map[string]any{"nbf": now + 3600})},
		{"no exp", idp.token(t, o.issuer, map[string]any{"exp": nil})},
		{"subject names a local user", idp.token(t, o.issuer, map[string]any{"sub": o.user.Subject})},
		{"our own access token as a JWT", o.serviceToken(t, "api")},
		{"garbage", "not.a.jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := o.exchange(t, "api", url.Values{"subject_token": {tc.token}, "subject_token_type": {typeJWT}})
			wantError(t, st, out, "invalid_grant")
		})
	}
	// Wider scope than the partner token's.
	st, out = o.exchange(t, "api", url.Values{"subject_token": {idp.token(t, o.issuer, nil)}, "subject_token_type": {typeJWT}, "scope": {"orders.read profile"}})
	wantError(t, st, out, "invalid_scope")
}

// TestTokenExchangeTrustedIssuerRotates: the partner rotates its key
// while its old key set is cached (max-age 300). Tokens signed with the
// new key are accepted once the cached set is older than the refetch
// interval, without waiting for max-age; tokens naming unknown keys
// cost at most one fetch per interval.
func TestTokenExchangeTrustedIssuerRotates(t *testing.T) {
	idp := newPartnerIdP(t)
	o := exchangeOP(t, idp, nil)
	exchange := func() (int, map[string]any) {
		return o.exchange(t, "api", url.Values{"subject_token": {idp.token(t, o.issuer, nil)}, "subject_token_type": {typeJWT}})
	}
	if st, out := exchange(); st != 200 {
		t.Fatalf("exchange before rotation: %d %v", st, out)
	}
	idp.rotate(t, "p2")
	// Within the interval the cached set stands: refused, and a burst
	// of tokens with the new kid does not reach the partner.
	before := idp.fetches.Load()
	for range 5 {
		st, out := exchange()
		wantError(t, st, out, "invalid_grant")
	}
	if n := idp.fetches.Load() - before; n != 0 {
		t.Fatalf("%d key set fetches within the refetch interval, want 0", n)
	}
	o.clock.Advance(fetcher.KeyRefetchInterval + time.Second)
	for i := range 5 {
		if st, out := exchange(); st != 200 {
			t.Fatalf("exchange %d after rotation: %d %v", i, st, out)
		}
	}
	if n := idp.fetches.Load() - before; n != 1 {
		t.Fatalf("%d key set fetches after the interval, want 1", n)
	}
	// An unknown kid past the interval again: one more fetch, refused.
	o.clock.Advance(fetcher.KeyRefetchInterval + time.Second)
	for range 3 {
		st, out := o.exchange(t, "api", url.Values{"subject_token": {signJWT(t, jose.ES256, idp.key, "nope", map[string]any{
			"iss": partnerIss, "sub": "x", "aud": o.issuer, "exp": o.clock.Now().Unix() + 60})}, "subject_token_type": {typeJWT}})
		wantError(t, st, out, "invalid_grant")
	}
	if n := idp.fetches.Load() - before; n != 2 {
		t.Fatalf("%d key set fetches for unknown kids, want 2", n)
	}
}

// TestTokenExchangeErrors: every refusal of RFC 8693 §2.2.2 and RFC 6749
// §5.2 the grant makes, each with a request that is otherwise valid.
func TestTokenExchangeErrors(t *testing.T) {
	o := exchangeOP(t, newPartnerIdP(t), nil)
	tok := o.grantOf(t)
	subject := tok["access_token"].(string)
	base := func(kv ...string) url.Values {
		v := url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	parts := strings.Split(subject, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	foreignKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := signJWT(t, jose.ES256, foreignKey, "whatever", idClaims(t, subject))
	for _, tc := range []struct {
		name, client string
		v            url.Values
		code         string
	}{
		{"missing subject_token", "api", base("subject_token", ""), "invalid_request"},
		{"missing subject_token_type", "api", base("subject_token_type", ""), "invalid_request"},
		{"actor_token without actor_token_type", "api", base("actor_token", subject), "invalid_request"},
		{"actor_token_type without actor_token", "api", base("actor_token_type", typeAT), "invalid_request"},
		{"unsupported subject token type", "api", base("subject_token_type", "urn:ietf:params:oauth:token-type:saml2"), "invalid_request"},
		{"refresh token as subject", "api", base("subject_token", tok["refresh_token"].(string), "subject_token_type", typeRT), "invalid_request"},
		{"unsupported requested_token_type", "api", base("requested_token_type", typeRT), "invalid_request"},
		{"tampered subject token", "api", base("subject_token", tampered), "invalid_grant"},
		{"subject token signed by another key", "api", base("subject_token", forged), "invalid_grant"},
		{"subject token of the wrong type", "api", base("subject_token_type", typeIDT), "invalid_grant"},
		{"audience not in the policy", "api", base("audience", "https://payroll.example"), "invalid_target"},
		{"resource not in the policy", "api", base("resource", "https://payroll.example/"), "invalid_target"},
		{"resource in the policy but not registered", "api", base("resource", exOrdersAPI), "invalid_target"},
		{"scope outside the resource's", "api", base("resource", exRegisteredAPI, "scope", "profile"), "invalid_scope"},
		{"resource with a fragment", "api", base("resource", exOrdersAPI+"#x"), "invalid_target"},
		{"audience and resource disagree", "api", base("audience", exOrdersAPI, "resource", "https://payroll.example/"), "invalid_target"},
		{"scope wider than the subject's", "api", base("scope", "orders.read"), "invalid_scope"},
		{"scope outside the policy", "api", base("scope", "openid"), "invalid_scope"},
		{"grant type not registered", "rp-post", base(), "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := o.exchange(t, tc.client, tc.v)
			wantError(t, st, out, tc.code)
		})
	}
	// A registered resource: the subject's scopes it defines (none).
	if st, out := o.exchange(t, "api", base("resource", exRegisteredAPI)); st != 200 || out["scope"] != nil {
		t.Fatalf("resource: %d %v", st, out)
	}
	// Expired subject (the clock passes its exp).
	o.clock.Advance(11 * time.Minute)
	st, out := o.exchange(t, "api", base())
	wantError(t, st, out, "invalid_grant")
}

// TestTokenExchangePolicyRules: a policy is only for a client with the
// grant (and the grant needs one), only for confidential clients, and
// /register can never set one.
func TestTokenExchangePolicyRules(t *testing.T) {
	pol := directory.TokenExchangePolicy{SubjectTokenTypes: []string{typeAT}, Audiences: []string{exOrdersAPI}}
	for _, tc := range []struct {
		name  string
		m     directory.ClientMetadata
		field string
	}{
		{"grant without policy", directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange}}, "grant_types"},
		{"policy without grant", directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}, TokenExchange: pol}, "token_exchange"},
		{"public client", directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{grantExchange}, TokenExchange: pol}, "token_exchange"},
		{"refresh tokens as subjects", directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange},
			TokenExchange: directory.TokenExchangePolicy{SubjectTokenTypes: []string{typeRT}, Audiences: []string{exOrdersAPI}}}, "token_exchange"},
		{"no audience", directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange},
			TokenExchange: directory.TokenExchangePolicy{SubjectTokenTypes: []string{typeAT}}}, "token_exchange"},
		{"audience with fragment", directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange},
			TokenExchange: directory.TokenExchangePolicy{SubjectTokenTypes: []string{typeAT}, Audiences: []string{exOrdersAPI + "#f"}}}, "token_exchange"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := directory.ValidateClient("", "", tc.m, directory.Rules{})
			found := false
			for _, pr := range p {
				found = found || pr.Field == tc.field
			}
			if !found {
				t.Fatalf("problems %v, want one on %s", p, tc.field)
			}
		})
	}
	ok := directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange}, TokenExchange: pol}
	if p := directory.ValidateClient("", "", ok, directory.Rules{}); len(p) != 0 {
		t.Fatalf("valid policy refused: %v", p)
	}

	// /register drops a policy: the grant alone is then refused.
	o := startOPWith(t, func(c *node.Config) { c.Registration.Open = true; c.RateLimit.Enabled = false })
	st, reg := o.registerClient(t, "", map[string]any{
		"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{grantExchange},
		"token_exchange": map[string]any{"subject_token_types": []string{typeAT}, "audiences": []string{exOrdersAPI}, "allow_impersonation": true},
	})
	if st != 400 || reg.raw["token_exchange"] != nil {
		t.Fatalf("registration with a token exchange policy: %d %v", st, reg.raw)
	}
}

// TestReadmeTokenExchangeExample: the README's static client with a
// token exchange policy is valid as written, and its curl example sends
// the parameters the grant reads.
func TestReadmeTokenExchangeExample(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), "### Token exchange (RFC 8693)")
	if !ok {
		t.Fatal(`README has no "Token exchange (RFC 8693)" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n### ")
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if !ok {
		t.Fatal("the section has no yaml example")
	}
	block, _, _ = strings.Cut(block, "```")
	var doc struct {
		Clients []node.ClientConfig `yaml:"clients"`
	}
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil || len(doc.Clients) != 1 {
		t.Fatalf("yaml example: %v %+v", err, doc)
	}
	c := doc.Clients[0]
	if p := directory.ValidateClient(c.ID, c.Secret, c.ClientMetadata, directory.Rules{Static: true}); len(p) != 0 {
		t.Fatalf("the README's client is refused: %v", p)
	}
	if c.TokenExchange.IsZero() || c.TokenExchange.AllowImpersonation {
		t.Fatalf("the README's policy: %+v", c.TokenExchange)
	}
	for _, p := range []string{"grant_type=" + grantExchange, "subject_token=", "subject_token_type=" + typeAT,
		"actor_token=", "actor_token_type=" + typeAT, "audience=" + c.TokenExchange.Audiences[0], "grant_type=client_credentials"} {
		if !strings.Contains(sec, "-d "+p) {
			t.Errorf("the curl example does not send %s", p)
		}
	}
}

// TestTokenExchangeAdminPolicy: a policy set through the admin API
// applies at once, and so does a narrower one patched over it.
func TestTokenExchangeAdminPolicy(t *testing.T) {
	o := exchangeOP(t, newPartnerIdP(t), nil)
	subject := o.grantOf(t)["access_token"].(string)
	st, out := jsonCall(t, http.MethodPost, o.issuer+"/admin/clients", adminToken, map[string]any{
		"client_id": "gw2", "client_secret": rpSecret, "token_endpoint_auth_method": "client_secret_basic",
		"grant_types":    []string{grantExchange},
		"token_exchange": map[string]any{"subject_token_types": []string{typeAT}, "audiences": []string{exOrdersAPI}, "scopes": []string{"profile"}, "allow_impersonation": true},
	})
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	if p, _ := out["token_exchange"].(map[string]any); p["allow_impersonation"] != true {
		t.Fatalf("view: %v", out)
	}
	v := func() url.Values {
		return url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}, "audience": {exOrdersAPI}}
	}
	if st, out := o.exchange(t, "gw2", v()); st != 200 || out["scope"] != "profile" {
		t.Fatalf("exchange: %d %v", st, out)
	}
	st, out = jsonCall(t, http.MethodPatch, o.issuer+"/admin/clients/gw2", adminToken, map[string]any{
		"token_exchange": map[string]any{"subject_token_types": []string{typeAT}, "audiences": []string{"orders-backend"}, "allow_impersonation": true},
	})
	if st != http.StatusOK {
		t.Fatalf("patch: %d %v", st, out)
	}
	st, out = o.exchange(t, "gw2", v())
	wantError(t, st, out, "invalid_target")
	// The default audience is the new policy's; its scopes are none.
	st, out = o.exchange(t, "gw2", url.Values{"subject_token": {subject}, "subject_token_type": {typeAT}})
	if st != 200 || idClaims(t, out["access_token"].(string))["aud"] != "orders-backend" || out["scope"] != nil {
		t.Fatalf("after the patch: %d %v", st, out)
	}
}

// TestTokenExchangeConfigValidation: token_exchange.trusted_issuers is
// checked: issuer given, not this server, listed once; jwks_uri https;
// algorithms on the allow-list; audience given.
func TestTokenExchangeConfigValidation(t *testing.T) {
	good := node.TrustedIssuerConfig{Issuer: partnerIss, JWKSURI: "https://idp.partner.example/jwks", Algorithms: []string{"ES256"}, Audience: "https://op.example"}
	with := func(f func(*node.TrustedIssuerConfig)) func(*node.Config) {
		return func(c *node.Config) {
			ti := good
			f(&ti)
			c.TokenExchange.TrustedIssuers = []node.TrustedIssuerConfig{ti}
		}
	}
	checkValidation(t, []validationCase{
		{"a trusted issuer", with(func(*node.TrustedIssuerConfig) {}), ""},
		{"no issuer", with(func(ti *node.TrustedIssuerConfig) { ti.Issuer = "" }), "token_exchange.trusted_issuers[0].issuer"},
		{"this server", func(c *node.Config) {
			ti := good
			ti.Issuer = c.Issuer
			c.TokenExchange.TrustedIssuers = []node.TrustedIssuerConfig{ti}
		}, "token_exchange.trusted_issuers[0].issuer"},
		{"twice", func(c *node.Config) { c.TokenExchange.TrustedIssuers = []node.TrustedIssuerConfig{good, good} }, "token_exchange.trusted_issuers[1].issuer"},
		{"http jwks_uri", with(func(ti *node.TrustedIssuerConfig) { ti.JWKSURI = "http://idp.partner.example/jwks" }), "token_exchange.trusted_issuers[0].jwks_uri"},
		{"no algorithms", with(func(ti *node.TrustedIssuerConfig) { ti.Algorithms = nil }), "token_exchange.trusted_issuers[0].algorithms"},
		{"HS256", with(func(ti *node.TrustedIssuerConfig) { ti.Algorithms = []string{"HS256"} }), "token_exchange.trusted_issuers[0].algorithms"},
		{"none", with(func(ti *node.TrustedIssuerConfig) { ti.Algorithms = []string{"none"} }), "token_exchange.trusted_issuers[0].algorithms"},
		{"no audience", with(func(ti *node.TrustedIssuerConfig) { ti.Audience = "" }), "token_exchange.trusted_issuers[0].audience"},
	})
}
