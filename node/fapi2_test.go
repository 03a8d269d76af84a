package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authrim/directory"
	"authrim/node"
)

// fapiSetup is a node with client "fapi" under the FAPI 2.0 Security
// Profile (its own profile), authenticating with private_key_jwt.
type fapiSetup struct {
	o      *op
	ec     *ecdsa.PrivateKey
	rsaKey *rsa.PrivateKey
	n      int
}

func startFAPI(t *testing.T) *fapiSetup {
	t.Helper()
	s := &fapiSetup{}
	s.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: s.ec.Public(), KeyID: "ec", Use: "sig"}, {Key: s.rsaKey.Public(), KeyID: "rsa", Use: "sig"},
	}})
	s.o = startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{ID: "fapi", ClientMetadata: directory.ClientMetadata{
			AuthMethod: "private_key_jwt", JWKS: directory.JWKS(set), Profile: directory.ProfileFAPI2,
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, RedirectURIs: []string{rpRedirect},
			IDTokenSignedResponseAlg: "ES256", SkipConsent: true,
		}})
	})
	return s
}

// sign signs claims with alg (ES256 with the EC key, PS256 or RS256
// with the RSA key).
func (s *fapiSetup) sign(t *testing.T, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	key := jose.JSONWebKey{Key: s.ec, KeyID: "ec"}
	if alg != jose.ES256 {
		key = jose.JSONWebKey{Key: s.rsaKey, KeyID: "rsa"}
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := sg.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// assertion is a private_key_jwt assertion of "fapi" signed with alg.
func (s *fapiSetup) assertion(t *testing.T, alg jose.SignatureAlgorithm) string {
	s.n++
	now := s.o.clock.Now()
	return s.sign(t, alg, map[string]any{"iss": "fapi", "sub": "fapi", "aud": s.o.issuer,
		"jti": fmt.Sprintf("a-%d-%d", s.n, now.UnixNano()), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
}

// post posts form to path as "fapi" (an ES256 assertion unless form
// has one) with the DPoP proofs.
func (s *fapiSetup) post(t *testing.T, path string, form url.Values, proofs ...string) (int, map[string]any) {
	t.Helper()
	if form.Get("client_assertion") == "" {
		form.Set("client_assertion", s.assertion(t, jose.ES256))
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_id", "fapi")
	req, _ := http.NewRequest(http.MethodPost, s.o.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// request is a valid authorization request of "fapi", changed by edit.
func fapiRequest(edit func(url.Values)) url.Values {
	v := url.Values{}
	for k, val := range baseParams() {
		v.Set(k, val)
	}
	v.Set("client_id", "fapi")
	v.Set("scope", "openid")
	if edit != nil {
		edit(v)
	}
	return v
}

// code pushes a request, signs the user in and returns the redirect.
func (s *fapiSetup) code(t *testing.T, k dpopKey) *url.URL {
	t.Helper()
	st, par := s.post(t, "/par", fapiRequest(nil), k.proof(t, proofClaims{htm: "POST", htu: s.o.issuer + "/par", iat: s.o.clock.Now()}))
	if st != http.StatusCreated {
		t.Fatalf("par: %d %v", st, par)
	}
	return s.o.signIn(t, browser(t), s.o.authorizeURL(map[string]string{"client_id": "fapi", "request_uri": par["request_uri"].(string)}))
}

// TestFAPI2FullFlow: PAR + private_key_jwt + DPoP, as the FAPI 2.0
// Security Profile has it: the response names the issuer, tokens are
// DPoP-bound, userinfo needs the proof, and a refresh does not rotate
// (so a retry with the same token works).
func TestFAPI2FullFlow(t *testing.T) {
	s := startFAPI(t)
	k := newDPoPKey(t)
	cb := s.code(t, k)
	if cb.Query().Get("iss") != s.o.issuer { // RFC 9207, FAPI 2.0 §5.3.1.2
		t.Fatalf("authorization response without iss: %v", cb)
	}
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
	st, tok := s.post(t, "/token", redeem, s.o.tokenProof(t, k))
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	at := wantBound(t, tok, k.jkt)
	if st, ui, _ := s.o.dpopUserinfo(t, "DPoP", at, s.o.userinfoProof(t, k, at)); st != http.StatusOK || ui["sub"] != s.o.user.Subject {
		t.Fatalf("userinfo: %d %v", st, ui)
	}
	rt := tok["refresh_token"].(string)
	for i := range 2 {
		st, r := s.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, s.o.tokenProof(t, k))
		if st != http.StatusOK {
			t.Fatalf("refresh %d with the same token: %d %v", i, st, r)
		}
		if _, rotated := r["refresh_token"]; rotated {
			t.Fatalf("refresh %d rotated the token (FAPI 2.0 §5.3.1.1): %v", i, r)
		}
		wantBound(t, r, k.jkt)
	}
}

// TestFAPI2Refusals: one refusal per variation the profile forbids.
func TestFAPI2Refusals(t *testing.T) {
	s := startFAPI(t)
	k := newDPoPKey(t)
	parProof := func() string {
		return k.proof(t, proofClaims{htm: "POST", htu: s.o.issuer + "/par", iat: s.o.clock.Now()})
	}
	authorizeError := func(t *testing.T, v url.Values) {
		t.Helper()
		p := get(t, browser(t), s.o.issuer+"/authorize?"+v.Encode())
		if p.loc == nil || p.loc.Query().Get("error") != "invalid_request" {
			t.Fatalf("authorize answered %d %v %s, want an invalid_request redirect", p.status, p.loc, p.body)
		}
	}
	t.Run("authorization request not pushed", func(t *testing.T) { authorizeError(t, fapiRequest(nil)) })
	t.Run("request object by value at /authorize", func(t *testing.T) {
		claims := map[string]any{"iss": "fapi", "aud": s.o.issuer, "exp": time.Now().Add(time.Minute).Unix()}
		for k, v := range fapiRequest(nil) {
			claims[k] = v[0]
		}
		authorizeError(t, url.Values{"client_id": {"fapi"}, "request": {s.sign(t, jose.ES256, claims)}})
	})
	t.Run("PAR without PKCE", func(t *testing.T) {
		st, b := s.post(t, "/par", fapiRequest(func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }), parProof())
		if st != http.StatusBadRequest || b["error"] != "invalid_request" {
			t.Fatalf("%d %v", st, b)
		}
	})
	t.Run("PAR with a request object signed RS256", func(t *testing.T) {
		claims := map[string]any{"iss": "fapi", "aud": s.o.issuer, "exp": time.Now().Add(time.Minute).Unix()}
		for k, v := range fapiRequest(nil) {
			claims[k] = v[0]
		}
		st, b := s.post(t, "/par", url.Values{"request": {s.sign(t, jose.RS256, claims)}}, parProof())
		if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(b["error_description"]), "FAPI 2.0") {
			t.Fatalf("%d %v", st, b)
		}
	})
	t.Run("bearer token (no DPoP, no certificate)", func(t *testing.T) {
		st, b := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}})
		if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(b["error_description"]), "sender-constrained") {
			t.Fatalf("%d %v", st, b)
		}
		if st, b := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}}, s.o.tokenProof(t, k)); st != http.StatusOK {
			t.Fatalf("with a proof: %d %v", st, b)
		}
	})
	t.Run("client assertion signed RS256", func(t *testing.T) {
		st, b := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion": {s.assertion(t, jose.RS256)}}, s.o.tokenProof(t, k))
		if st != http.StatusUnauthorized || b["error"] != "invalid_client" {
			t.Fatalf("%d %v", st, b)
		}
		if st, b := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion": {s.assertion(t, jose.PS256)}}, s.o.tokenProof(t, k)); st != http.StatusOK {
			t.Fatalf("PS256: %d %v", st, b)
		}
	})
	t.Run("code older than 60 seconds", func(t *testing.T) {
		code := s.code(t, k).Query().Get("code")
		s.o.clock.Advance(61 * time.Second)
		st, b := s.post(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}, s.o.tokenProof(t, k))
		if st != http.StatusBadRequest || b["error"] != "invalid_grant" {
			t.Fatalf("%d %v", st, b)
		}
	})
	// Registrations the profile forbids are refused when they are made.
	base := directory.ClientMetadata{Profile: directory.ProfileFAPI2, GrantTypes: []string{"client_credentials"},
		AuthMethod: "private_key_jwt", JWKS: directory.JWKS(mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: s.ec.Public(), KeyID: "ec"}}})),
		IDTokenSignedResponseAlg: "ES256"}
	no := false
	for _, tc := range []struct {
		name, field string
		edit        func(*directory.ClientMetadata)
	}{
		{"client secret", "token_endpoint_auth_method", func(m *directory.ClientMetadata) { m.AuthMethod, m.JWKS = "client_secret_basic", nil }},
		{"public client", "token_endpoint_auth_method", func(m *directory.ClientMetadata) { m.AuthMethod, m.JWKS = "none", nil }},
		{"RS256 ID tokens (the default)", "id_token_signed_response_alg", func(m *directory.ClientMetadata) { m.IDTokenSignedResponseAlg = "" }},
		{"RS256 assertions", "token_endpoint_auth_signing_alg", func(m *directory.ClientMetadata) { m.TokenEndpointAuthSigningAlg = "RS256" }},
		{"unsigned request objects", "request_object_signing_alg", func(m *directory.ClientMetadata) { m.RequestObjectSigningAlg = "none" }},
		{"PKCE off", "require_pkce", func(m *directory.ClientMetadata) { m.RequirePKCE = &no }},
	} {
		t.Run("registration: "+tc.name, func(t *testing.T) {
			m := base
			tc.edit(&m)
			_, _, err := s.o.n.Directory().CreateClient(t.Context(), directory.NewClient{ClientMetadata: m})
			if err == nil || !strings.Contains(err.Error(), tc.field+": FAPI 2.0") {
				t.Fatalf("got %v, want a FAPI 2.0 problem with %s", err, tc.field)
			}
		})
	}
}

// TestFAPI2NodeProfile: profile: fapi2 holds every client to the rules,
// and the node's own token algorithm too.
func TestFAPI2NodeProfile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*node.Config)
		want   string
	}{
		{"unknown profile", func(c *node.Config) { c.Profile = "fapi1" }, "profile"},
		{"RS256 access tokens", func(c *node.Config) { c.Profile, c.Tokens.AccessTokenAlg = directory.ProfileFAPI2, "RS256" }, "tokens.access_token_alg"},
		{"request_uri living 600 s", func(c *node.Config) {
			c.Profile, c.Tokens.AccessTokenAlg, c.Requests.PushedTTL = directory.ProfileFAPI2, "ES256", node.Duration(10*time.Minute)
		}, "requests.pushed_request_ttl"},
		{"a static client with a secret", func(c *node.Config) {
			c.Profile, c.Tokens.AccessTokenAlg = directory.ProfileFAPI2, "ES256"
			c.Clients = []node.ClientConfig{{ID: "rp", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
				AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}, IDTokenSignedResponseAlg: "ES256"}}}
		}, "FAPI 2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.Default()
			tc.adjust(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
	cfg := node.Default()
	cfg.Profile, cfg.Tokens.AccessTokenAlg = directory.ProfileFAPI2, "ES256"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("profile fapi2 with ES256 access tokens: %v", err)
	}
}
