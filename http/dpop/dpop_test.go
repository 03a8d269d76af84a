package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
	"authrim/http/dpop"
	"authrim/persistence/bbolt"
)

const tokenURI = "https://op.example/token"

// sign makes a proof with key (embedded as jwk), any header extras and
// claims as given.
func sign(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true})
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handMade signs an ES256 JWS whose header is exactly hdr: for headers
// go-jose will not produce (a private jwk).
func handMade(t testing.TB, key *ecdsa.PrivateKey, hdr, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func claims(now time.Time, over map[string]any) map[string]any {
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(randBytes(12)), "htm": "POST", "htu": tokenURI, "iat": now.Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newDirectory(t *testing.T, now func() time.Time) *directory.Directory {
	t.Helper()
	s, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	d, err := directory.New(s, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCheck: every rule of RFC 9449 §4.3 refuses the proof that breaks
// it, and only that one.
func TestCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	const at = "an-access-token"
	pubJWK := jose.JSONWebKey{Key: ec.Public()}
	privJWK := jose.JSONWebKey{Key: ec}
	pubJSON, _ := pubJWK.MarshalJSON()
	privJSON, _ := privJWK.MarshalJSON()
	var pubMap, privMap map[string]any
	_ = json.Unmarshal(pubJSON, &pubMap)
	_ = json.Unmarshal(privJSON, &privMap)
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: randBytes(32)}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
	hsObj, _ := hs.Sign([]byte(`{"jti":"x","htm":"POST","htu":"` + tokenURI + `","iat":1800000000}`))
	hsProof, _ := hsObj.CompactSerialize()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	swapped := func() string {
		// The header's jwk is ec's, the signature other's.
		return handMade(t, other, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": pubMap}, claims(now, nil))
	}

	tests := []struct {
		name  string
		proof string
		req   dpop.Request
		want  string // "" accepts; else a word of the description
	}{
		{"ES256", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"EdDSA", sign(t, ed, jose.EdDSA, "dpop+jwt", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"PS256", sign(t, rk, jose.PS256, "dpop+jwt", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"RS256", sign(t, rk, jose.RS256, "dpop+jwt", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"htu normalised (case, default port, query, fragment)", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htu": "HTTPS://OP.example:443/token?x=1#f"})), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"iat at the edge of the window", sign(t, ec, jose.ES256, "dpop+jwt", claims(now.Add(-time.Minute), nil)), dpop.Request{Method: "POST", URI: tokenURI}, ""},
		{"ath matches", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htm": "GET", "htu": "https://op.example/userinfo", "ath": dpop.ATH(at)})), dpop.Request{Method: "GET", URI: "https://op.example/userinfo", AccessToken: at}, ""},

		{"RSA key under 2048 bits", sign(t, weak, jose.RS256, "dpop+jwt", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, "2048"},
		{"typ missing", sign(t, ec, jose.ES256, "", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, "typ"},
		{"typ JWT", sign(t, ec, jose.ES256, "JWT", claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, "typ"},
		{"symmetric alg", hsProof, dpop.Request{Method: "POST", URI: tokenURI}, "signed with"},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{}`)) + ".", dpop.Request{Method: "POST", URI: tokenURI}, "signed with"},
		{"no jwk", handMade(t, ec, map[string]any{"typ": "dpop+jwt", "alg": "ES256"}, claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, "jwk"},
		{"private jwk", handMade(t, ec, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": privMap}, claims(now, nil)), dpop.Request{Method: "POST", URI: tokenURI}, "JWS"},
		{"signed by another key", swapped(), dpop.Request{Method: "POST", URI: tokenURI}, "signature"},
		{"not a JWS", "a.b", dpop.Request{Method: "POST", URI: tokenURI}, "compact"},
		{"wrong htm", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htm": "GET"})), dpop.Request{Method: "POST", URI: tokenURI}, "htm"},
		{"wrong htu path", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htu": "https://op.example/userinfo"})), dpop.Request{Method: "POST", URI: tokenURI}, "htu"},
		{"wrong htu host", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htu": "https://evil.example/token"})), dpop.Request{Method: "POST", URI: tokenURI}, "htu"},
		{"wrong htu scheme", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htu": "http://op.example/token"})), dpop.Request{Method: "POST", URI: tokenURI}, "htu"},
		{"htu with another port", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htu": "https://op.example:8443/token"})), dpop.Request{Method: "POST", URI: tokenURI}, "htu"},
		{"stale iat", sign(t, ec, jose.ES256, "dpop+jwt", claims(now.Add(-time.Minute-dpop.Leeway-time.Second), nil)), dpop.Request{Method: "POST", URI: tokenURI}, "too old"},
		{"future iat", sign(t, ec, jose.ES256, "dpop+jwt", claims(now.Add(dpop.Leeway+time.Second), nil)), dpop.Request{Method: "POST", URI: tokenURI}, "future"},
		{"no iat", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"iat": nil})), dpop.Request{Method: "POST", URI: tokenURI}, "iat"},
		{"no jti", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"jti": nil})), dpop.Request{Method: "POST", URI: tokenURI}, "jti"},
		{"ath mismatch", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htm": "GET", "htu": "https://op.example/userinfo", "ath": dpop.ATH("another token")})), dpop.Request{Method: "GET", URI: "https://op.example/userinfo", AccessToken: at}, "ath"},
		{"ath missing at a resource", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"htm": "GET", "htu": "https://op.example/userinfo"})), dpop.Request{Method: "GET", URI: "https://op.example/userinfo", AccessToken: at}, "ath"},
		{"ath without a token", sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"ath": dpop.ATH(at)})), dpop.Request{Method: "POST", URI: tokenURI}, "ath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &dpop.Checker{Lifetime: time.Minute, JTIs: newDirectory(t, clock), Now: clock}
			p, err := c.Check(context.Background(), []string{tt.proof}, tt.req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.JKT == "" {
					t.Fatal("no thumbprint")
				}
				return
			}
			if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want invalid proof mentioning %q", err, tt.want)
			}
		})
	}
}

// TestReplay: a jti is used once per key, within its window, through the
// store; the same jti with another key is another proof.
func TestReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	d := newDirectory(t, clock)
	c := &dpop.Checker{Lifetime: time.Minute, JTIs: d, Now: clock}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cl := claims(now, map[string]any{"jti": "one"})
	proof := sign(t, ec, jose.ES256, "dpop+jwt", cl)
	req := dpop.Request{Method: "POST", URI: tokenURI}
	ctx := context.Background()
	if _, err := c.Check(ctx, []string{proof}, req); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, []string{proof}, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay: %v", err)
	}
	if _, err := c.Check(ctx, []string{sign(t, ec2, jose.ES256, "dpop+jwt", cl)}, req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// A refused proof spends nothing: the same jti in a good proof after
	// a bad one still works.
	bad := sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"jti": "two", "htm": "GET"}))
	if _, err := c.Check(ctx, []string{bad}, req); err == nil {
		t.Fatal("bad proof accepted")
	}
	if _, err := c.Check(ctx, []string{sign(t, ec, jose.ES256, "dpop+jwt", claims(now, map[string]any{"jti": "two"}))}, req); err != nil {
		t.Fatalf("after a refused proof: %v", err)
	}
	if _, err := c.Check(ctx, []string{proof, proof}, req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("two headers: %v", err)
	}
	if p, err := c.Check(ctx, nil, req); p != nil || err != nil {
		t.Fatalf("no header: %v %v", p, err)
	}
}

// TestThumbprint: the RFC 7638 §3.1 example key has the RFC's thumbprint.
func TestThumbprint(t *testing.T) {
	var k jose.JSONWebKey
	rfc := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	if err := k.UnmarshalJSON([]byte(rfc)); err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(k)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("%q %v", got, err)
	}
}

// TestNormalizeURI: RFC 9449 §4.3 and RFC 3986 §6.2.2-3.
func TestNormalizeURI(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://OP.Example/token", "https://op.example/token"},
		{"HTTPS://op.example:443/token?a=b#c", "https://op.example/token"},
		{"http://op.example:80", "http://op.example/"},
		{"http://op.example:8080/x", "http://op.example:8080/x"},
		{"https://[::1]:443/t", "https://[::1]/t"},
		{"ftp://op.example/", ""},
		{"/token", ""},
		{"https://user@op.example/", ""},
	} {
		got, ok := dpop.NormalizeURI(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q: got %q %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}

// TestNonces: a nonce works in its window and the next, not after, and a
// forged one never.
func TestNonces(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	n := &dpop.Nonces{Key: []byte("k"), Period: time.Minute, Now: func() time.Time { return now }}
	cur := n.Current()
	if err := n.Check(cur); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := n.Check(cur); err != nil {
		t.Fatalf("previous window: %v", err)
	}
	if n.Current() == cur {
		t.Fatal("nonce did not rotate")
	}
	now = now.Add(time.Minute)
	if err := n.Check(cur); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("stale nonce: %v", err)
	}
	other := &dpop.Nonces{Key: []byte("other"), Period: time.Minute, Now: func() time.Time { return now }}
	for _, bad := range []string{"", "x", other.Current()} {
		if err := n.Check(bad); !errors.Is(err, dpop.ErrUseNonce) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// FuzzParse: whatever the input, Parse either refuses it with
// ErrInvalidProof or returns a proof with every required claim and a
// thumbprint.
func FuzzParse(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	f.Add(sign(f, ec, jose.ES256, "dpop+jwt", claims(now, nil)))
	f.Add(sign(f, ec, jose.ES256, "JWT", claims(now, nil)))
	f.Add("e30.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpop.Parse(raw, dpop.Algs)
		if err != nil {
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("error outside ErrInvalidProof: %v", err)
			}
			return
		}
		if p.JTI == "" || p.HTM == "" || p.HTU == "" || p.IAT == nil || p.JKT == "" || !p.Key.IsPublic() {
			t.Fatalf("accepted an incomplete proof: %+v", p)
		}
	})
}

// FuzzNormalizeURI: a normalised URI normalises to itself, and carries
// no query or fragment.
func FuzzNormalizeURI(f *testing.F) {
	for _, s := range []string{"https://OP.example:443/token?x#y", "http://[::1]:80", "https://a/%7e", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		n, ok := dpop.NormalizeURI(u)
		if !ok {
			return
		}
		again, ok2 := dpop.NormalizeURI(n)
		if !ok2 || again != n || strings.ContainsAny(n, "?#") {
			t.Fatalf("%q -> %q -> %q %v", u, n, again, ok2)
		}
	})
}
