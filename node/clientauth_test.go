package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func (o *op) assertion(t *testing.T, key any, claims jwt.Claims) string {
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
	good := jwt.Claims{Issuer: "pkjwt", Subject: "pkjwt", Audience: jwt.Audience{o.issuer + "/token"}, ID: "jti-1",
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
