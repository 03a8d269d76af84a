package connectors_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/connectors"
	"authrim/http/fetch"
)

// fakeOP is an OpenID Provider speaking discovery, token, JWKS and
// userinfo over TLS; idToken makes the token endpoint's ID token from the
// nonce the test expects.
type fakeOP struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	mu      sync.Mutex
	claims  func(issuer string) map[string]any
	sign    func(claims map[string]any) string
	algs    []string
	used    map[string]bool
	info    map[string]any
	tokenOK bool
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	op := &fakeOP{used: map[string]bool{}, algs: []string{"ES256"}, tokenOK: true}
	op.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := op.srv.URL
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "userinfo_endpoint": iss + "/userinfo",
			"id_token_signing_alg_values_supported": op.algs,
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: op.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		defer op.mu.Unlock()
		code := r.PostForm.Get("code")
		w.Header().Set("Content-Type", "application/json")
		if op.used[code] || !op.tokenOK || r.PostForm.Get("code_verifier") == "" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		op.used[code] = true
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": op.sign(op.claims(op.srv.URL))})
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(op.info)
	})
	op.srv = httptest.NewTLSServer(mux)
	t.Cleanup(op.srv.Close)
	op.sign = op.es256
	return op
}

func (op *fakeOP) es256(claims map[string]any) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: op.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	tok, _ := jwt.Signed(s).Claims(claims).Serialize()
	return tok
}

// fetcher trusts srv and allows loopback (the test's upstream).
func fetcher(srv *httptest.Server) *fetch.Fetcher {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return fetch.New(fetch.Config{AllowPrivate: true, RootCAs: pool})
}

func build(t *testing.T, c connectors.Config, f *fetch.Fetcher) connectors.Redirect {
	t.Helper()
	if problems := connectors.Validate([]connectors.Config{c}); len(problems) > 0 {
		t.Fatal(problems)
	}
	cs, err := connectors.Build([]connectors.Config{c}, f)
	if err != nil {
		t.Fatal(err)
	}
	return cs[0].(connectors.Redirect)
}

const nonce = "the-nonce"

func goodClaims(iss string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": iss, "sub": "u-1", "aud": "client", "exp": now + 300, "iat": now, "nonce": nonce,
		"email": "u@corp.example", "email_verified": true, "amr": []string{"pwd", "mfa"}, "acr": "urn:corp:strong"}
}

// TestOIDCCallback: the ID token is accepted only from the issuer, for
// this client, unexpired, with our nonce, signed with an advertised
// asymmetric algorithm by the upstream's key; an upstream error, a
// refused code and the connector's rules each fail with their sentinel.
func TestOIDCCallback(t *testing.T) {
	op := newFakeOP(t)
	f := fetcher(op.srv)
	cfg := connectors.Config{ID: "corp", Type: "oidc", Issuer: op.srv.URL, ClientID: "client", ClientSecret: "s"}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hmacToken := func(c map[string]any) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("s-s-s-s-s-s-s-s-s-s-s-s-s-s-s-s-s")}, nil)
		tok, _ := jwt.Signed(s).Claims(c).Serialize()
		return tok
	}
	cases := []struct {
		name   string
		edit   func(c map[string]any)
		sign   func(c map[string]any) string
		cfg    func(c *connectors.Config)
		query  url.Values
		algs   []string
		want   error
		verify func(t *testing.T, id connectors.Identity)
	}{
		{name: "good", verify: func(t *testing.T, id connectors.Identity) {
			if id.Subject != "u-1" || id.Issuer != op.srv.URL || id.ConnectorID != "corp" || !id.EmailVerified || id.ACR != "urn:corp:strong" || len(id.AMR) != 2 {
				t.Fatalf("identity %+v", id)
			}
		}},
		{name: "wrong issuer", edit: func(c map[string]any) { c["iss"] = "https://evil.example" }, want: connectors.ErrInvalidToken},
		{name: "wrong audience", edit: func(c map[string]any) { c["aud"] = "someone-else" }, want: connectors.ErrInvalidToken},
		{name: "several audiences without azp", edit: func(c map[string]any) { c["aud"] = []string{"client", "other"} }, want: connectors.ErrInvalidToken},
		{name: "azp of another client", edit: func(c map[string]any) { c["azp"] = "other" }, want: connectors.ErrInvalidToken},
		{name: "expired", edit: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, want: connectors.ErrInvalidToken},
		{name: "no exp", edit: func(c map[string]any) { delete(c, "exp") }, want: connectors.ErrInvalidToken},
		{name: "wrong nonce", edit: func(c map[string]any) { c["nonce"] = "other" }, want: connectors.ErrInvalidToken},
		{name: "no nonce", edit: func(c map[string]any) { delete(c, "nonce") }, want: connectors.ErrInvalidToken},
		{name: "signed by another key", sign: func(c map[string]any) string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: other}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
			tok, _ := jwt.Signed(s).Claims(c).Serialize()
			return tok
		}, want: connectors.ErrInvalidToken},
		{name: "HMAC with the client secret", sign: hmacToken, algs: []string{"ES256", "HS256"}, want: connectors.ErrInvalidToken},
		{name: "algorithm not advertised", algs: []string{"RS256"}, want: connectors.ErrInvalidToken},
		{name: "upstream error", query: url.Values{"error": {"access_denied"}}, want: connectors.ErrUpstream},
		{name: "callback from another issuer", query: url.Values{"code": {"c"}, "iss": {"https://evil.example"}}, want: connectors.ErrInvalidToken},
		{name: "disallowed domain", cfg: func(c *connectors.Config) { c.AllowedDomains = []string{"other.example"} }, want: connectors.ErrDenied},
		{name: "allowed domain", cfg: func(c *connectors.Config) { c.AllowedDomains = []string{"corp.example"} }},
		{name: "unverified email in an allowed domain", cfg: func(c *connectors.Config) { c.AllowedDomains = []string{"corp.example"} },
			edit: func(c map[string]any) { c["email_verified"] = false }, want: connectors.ErrDenied},
		{name: "required claim missing", cfg: func(c *connectors.Config) {
			c.RequiredClaims = []connectors.RequiredClaim{{Claim: "groups", Values: []string{"admins"}}}
		}, want: connectors.ErrDenied},
		{name: "required claim present", cfg: func(c *connectors.Config) {
			c.RequiredClaims = []connectors.RequiredClaim{{Claim: "groups", Values: []string{"admins"}}}
		},
			edit: func(c map[string]any) { c["groups"] = []string{"staff", "admins"} }},
		{name: "claim mapping", cfg: func(c *connectors.Config) { c.Claims = connectors.ClaimMapping{Subject: "oid", Email: "mail"} },
			edit: func(c map[string]any) { c["oid"], c["mail"] = "object-7", "m@corp.example" },
			verify: func(t *testing.T, id connectors.Identity) {
				if id.Subject != "object-7" || id.Email != "m@corp.example" {
					t.Fatalf("mapped identity %+v", id)
				}
			}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.SkipUserInfo = true
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			conn := build(t, c, f)
			op.claims = func(iss string) map[string]any {
				cl := goodClaims(iss)
				if tc.edit != nil {
					tc.edit(cl)
				}
				return cl
			}
			op.sign = op.es256
			if tc.sign != nil {
				op.sign = tc.sign
			}
			op.algs = []string{"ES256"}
			if tc.algs != nil {
				op.algs = tc.algs
			}
			q := tc.query
			if q == nil {
				q = url.Values{"code": {"code-" + string(rune('a'+i))}}
			}
			// A fresh fetcher per case: discovery is not cached across
			// changes of the advertised algorithms.
			conn = build(t, c, fetcher(op.srv))
			id, err := conn.Callback(context.Background(), "https://down.example/cb", connectors.Params{State: "st", Nonce: nonce, Verifier: "v"}, q)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tc.verify != nil {
					tc.verify(t, id)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestOIDCReplayedCode: the upstream refuses a code used twice; the
// connector reports it as ErrUpstream.
func TestOIDCReplayedCode(t *testing.T) {
	op := newFakeOP(t)
	op.claims = goodClaims
	conn := build(t, connectors.Config{ID: "corp", Type: "oidc", Issuer: op.srv.URL, ClientID: "client", ClientSecret: "s", SkipUserInfo: true}, fetcher(op.srv))
	p := connectors.Params{State: "st", Nonce: nonce, Verifier: "v"}
	q := url.Values{"code": {"once"}}
	if _, err := conn.Callback(context.Background(), "https://down.example/cb", p, q); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Callback(context.Background(), "https://down.example/cb", p, q); !errors.Is(err, connectors.ErrUpstream) {
		t.Fatalf("replayed code: %v", err)
	}
}

// TestGooglePreset: the google type finds Google's endpoints by
// discovery (here a local server standing in for accounts.google.com),
// asks for PKCE and openid email profile, reads userinfo and may be
// restricted to a Workspace domain through hd.
func TestGooglePreset(t *testing.T) {
	op := newFakeOP(t)
	op.claims = func(iss string) map[string]any {
		c := goodClaims(iss)
		c["hd"] = "corp.example"
		return c
	}
	op.info = map[string]any{"sub": "u-1", "name": "Una User", "picture": "https://img.example/u.png", "email": "u@corp.example", "email_verified": true}
	c := connectors.Config{ID: "google", Type: "google", Issuer: op.srv.URL, ClientID: "client", ClientSecret: "s",
		RequiredClaims: []connectors.RequiredClaim{{Claim: "hd", Values: []string{"corp.example"}}}}
	conn := build(t, c, fetcher(op.srv))
	if conn.Name() != "Google" {
		t.Fatalf("name %q", conn.Name())
	}
	target, err := conn.AuthCodeURL(context.Background(), "https://down.example/cb", connectors.Params{State: "st", Nonce: nonce, Verifier: "v"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	q := u.Query()
	if !strings.HasPrefix(target, op.srv.URL+"/authorize?") || q.Get("scope") != "openid email profile" || q.Get("code_challenge_method") != "S256" ||
		q.Get("state") != "st" || q.Get("nonce") != nonce || q.Get("client_id") != "client" || q.Get("hd") != "corp.example" {
		t.Fatalf("authorization URL %s", target)
	}
	id, err := conn.Callback(context.Background(), "https://down.example/cb", connectors.Params{State: "st", Nonce: nonce, Verifier: "v"}, url.Values{"code": {"g1"}})
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "Una User" || id.Claims["picture"] != "https://img.example/u.png" {
		t.Fatalf("userinfo not merged: %+v", id)
	}
	// Another Workspace domain is refused.
	op.claims = goodClaims
	if _, err := conn.Callback(context.Background(), "https://down.example/cb", connectors.Params{State: "st", Nonce: nonce, Verifier: "v"}, url.Values{"code": {"g2"}}); !errors.Is(err, connectors.ErrDenied) {
		t.Fatalf("no hd: %v", err)
	}
	// userinfo about someone else is refused.
	op.claims = func(iss string) map[string]any { c := goodClaims(iss); c["hd"] = "corp.example"; return c }
	op.info = map[string]any{"sub": "u-2", "email": "x@corp.example"}
	if _, err := conn.Callback(context.Background(), "https://down.example/cb", connectors.Params{State: "st", Nonce: nonce, Verifier: "v"}, url.Values{"code": {"g3"}}); !errors.Is(err, connectors.ErrInvalidToken) {
		t.Fatalf("userinfo of another subject: %v", err)
	}
}
