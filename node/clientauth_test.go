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
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/node"
)

func (o *op) assertion(t *testing.T, key any, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	o := startOP(t)
	now := time.Now()
	good := jwt.Claims{Issuer: "pkjwt", Subject: "pkjwt", Audience: jwt.Audience{o.issuer}, ID: "jti-1",
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}
	send := func(assertion string) (int, map[string]any) {
		return o.post(t, "/token", "", url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		})
	}
	first := o.assertion(t, o.clientKey, good)
	if st, out := send(first); st != 200 || out["access_token"] == nil {
		t.Fatalf("valid assertion: %d %v", st, out)
	}
	if st, out := send(first); st != 401 || out["error"] != "invalid_client" {
		t.Fatalf("replayed jti: %d %v", st, out)
	}
	mutate := func(f func(c *jwt.Claims)) jwt.Claims {
		c := good
		c.ID = "jti-" + time.Now().Format(time.RFC3339Nano)
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		claims jwt.Claims
	}{
		{"wrong audience", mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere.example"} })},
		// draft-ietf-oauth-rfc7523bis: the issuer, as a single string.
		{"audience the token endpoint", mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{o.issuer + "/token"} })},
		{"audience the PAR endpoint", mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{o.issuer + "/par"} })},
		{"audience an array holding only the issuer", mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{o.issuer, o.issuer} })},
		{"audience an array with the issuer and another", mutate(func(c *jwt.Claims) { c.Audience = jwt.Audience{o.issuer, "https://elsewhere.example"} })},
		{"expired", mutate(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) })},
		{"sub is not the client", mutate(func(c *jwt.Claims) { c.Subject = "someone" })},
		{"no jti", mutate(func(c *jwt.Claims) { c.ID = "" })},
		{"unknown client", mutate(func(c *jwt.Claims) { c.Issuer, c.Subject = "nobody", "nobody" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, out := send(o.assertion(t, o.clientKey, tt.claims)); st != 401 || out["error"] != "invalid_client" {
				t.Fatalf("%d %v", st, out)
			}
		})
	}
	t.Run("signed by another key", func(t *testing.T) {
		stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if st, out := send(o.assertion(t, stranger, mutate(func(*jwt.Claims) {}))); st != 401 || out["error"] != "invalid_client" {
			t.Fatalf("%d %v", st, out)
		}
	})
}

// audienceClaims are assertion claims for client "pkjwt" with aud as
// given (a string or an array).
func audienceClaims(aud any) map[string]any {
	now := time.Now()
	return map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": aud, "jti": "jti-" + now.Format(time.RFC3339Nano),
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
}

// An assertion's aud is the issuer as one string wherever the client
// authenticates: an array holding the issuer is refused at /introspect as
// at /token (the audience injection attack sends an assertion made for
// one server, listing several audiences, to another).
func TestPrivateKeyJWTAudienceIsOneString(t *testing.T) {
	o := startOP(t)
	for _, tc := range []struct {
		name string
		aud  any
		ok   bool
	}{
		{"issuer", o.issuer, true},
		{"array of the issuer", []string{o.issuer}, false},
		{"token endpoint", o.issuer + "/token", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := o.post(t, "/introspect", "", url.Values{"token": {"x"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {o.assertion(t, o.clientKey, audienceClaims(tc.aud))}})
			if tc.ok != (st == 200) || (!tc.ok && out["error"] != "invalid_client") {
				t.Fatalf("%d %v", st, out)
			}
		})
	}
}

// client_auth.accept_token_endpoint_audience lets older clients name the
// token endpoint, still only as one string.
func TestPrivateKeyJWTTokenEndpointAudienceOption(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.ClientAuth.AcceptTokenEndpointAudience = true })
	for _, tc := range []struct {
		name string
		aud  any
		ok   bool
	}{
		{"issuer", o.issuer, true},
		{"token endpoint", o.issuer + "/token", true},
		{"array of the token endpoint", []string{o.issuer + "/token"}, false},
		{"PAR endpoint", o.issuer + "/par", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := o.post(t, "/token", "", url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {o.assertion(t, o.clientKey, audienceClaims(tc.aud))}})
			if tc.ok != (st == 200) || (!tc.ok && out["error"] != "invalid_client") {
				t.Fatalf("%d %v", st, out)
			}
		})
	}
}

// TestTokenEndpointAuthSigningAlg: a client that registers
// token_endpoint_auth_signing_alg gets it back (RFC 7591 §3.2.1), and its
// private_key_jwt assertions must be signed with exactly that alg, even
// by another of its own keys (OIDC Dynamic Client Registration §2).
func TestTokenEndpointAuthSigningAlg(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Registration.InitialAccessToken = initialToken
		c.RateLimit.Enabled = false
	})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// Keys without alg: the key alone does not pin one.
	jwks := json.RawMessage(mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "ec"}, {Key: &rk.PublicKey, KeyID: "rsa"}}}))
	md := func(method, alg string) map[string]any {
		m := map[string]any{"token_endpoint_auth_method": method, "grant_types": []string{"client_credentials"}, "jwks": jwks}
		if method != "private_key_jwt" {
			delete(m, "jwks")
		}
		if alg != "" {
			m["token_endpoint_auth_signing_alg"] = alg
		}
		return m
	}
	for _, tc := range []struct{ name, method, alg string }{
		{"none", "private_key_jwt", "none"},
		{"HS256", "private_key_jwt", "HS256"},
		{"with client_secret_basic", "client_secret_basic", "ES256"},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			if st, r := o.registerClient(t, initialToken, md(tc.method, tc.alg)); st != 400 || r.raw["error"] != "invalid_client_metadata" {
				t.Fatalf("%d %v", st, r.raw)
			}
		})
	}
	st, cl := o.registerClient(t, initialToken, md("private_key_jwt", "ES256"))
	if st != 201 || cl.raw["token_endpoint_auth_signing_alg"] != "ES256" {
		t.Fatalf("register: %d %v", st, cl.raw)
	}
	req, _ := http.NewRequest("GET", cl.RegURI, nil)
	req.Header.Set("Authorization", "Bearer "+cl.RegToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var read map[string]any
	decodeJSON(resp, &read)
	resp.Body.Close()
	if read["token_endpoint_auth_signing_alg"] != "ES256" {
		t.Fatalf("RFC 7592 read: %v", read)
	}
	send := func(alg jose.SignatureAlgorithm, key any, kid string) (int, map[string]any) {
		now := time.Now()
		a := signObj(t, alg, key, kid, map[string]any{"iss": cl.ID, "sub": cl.ID, "aud": o.issuer,
			"jti": fmt.Sprint(now.UnixNano()), "exp": now.Add(time.Minute).Unix()})
		return o.post(t, "/token", "", url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	}
	if st, out := send(jose.RS256, rk, "rsa"); st != 401 || out["error"] != "invalid_client" {
		t.Fatalf("RS256 assertion of a client registered for ES256: %d %v", st, out)
	}
	if st, out := send(jose.ES256, ec, "ec"); st != 200 {
		t.Fatalf("ES256 assertion: %d %v", st, out)
	}
}
