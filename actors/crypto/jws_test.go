package crypto

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Our compact signer's tokens verify with an independent implementation
// (go-jose) for every algorithm we sign with, carry the kid and typ, and
// a key of the wrong kind for the algorithm is refused.
func TestCompactSignerInteroperates(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	payload := []byte(`{"sub":"alice","n":1}`)
	for _, tc := range []struct {
		alg  string
		priv any
		pub  any
	}{
		{"ES256", ec, &ec.PublicKey}, {"RS256", rs, &rs.PublicKey}, {"PS256", rs, &rs.PublicKey}, {"EdDSA", ed, ed.Public()},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			s, err := newCompactSigner(tc.alg, "kid-1", tc.priv, "at+jwt")
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ { // ES256: r or s with leading zeros must still verify
				tok, err := s.sign(payload)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Count(tok, ".") != 2 {
					t.Fatalf("not compact: %s", tok)
				}
				jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.alg)})
				if err != nil {
					t.Fatal(err)
				}
				h := jws.Signatures[0].Header
				if h.KeyID != "kid-1" || h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != tc.alg {
					t.Fatalf("header %+v", h)
				}
				got, err := jws.Verify(tc.pub)
				if err != nil || string(got) != string(payload) {
					t.Fatalf("go-jose verify: %v %s", err, got)
				}
			}
		})
	}
	for _, bad := range []struct {
		alg  string
		priv any
	}{{"ES256", rs}, {"RS256", ec}, {"EdDSA", ec}, {"ES256", ec384}, {"PS256", ed}, {"HS256", []byte("secret")}} {
		if _, err := newCompactSigner(bad.alg, "k", bad.priv, ""); err == nil {
			t.Errorf("%s with %T accepted", bad.alg, bad.priv)
		}
	}
}
