package crypto

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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

// The verifier accepts what go-jose and our signer produce, and refuses
// every malformed or mismatched token: wrong part count, bad base64
// (padding, whitespace), a non-object header, critical parameters, a
// signature of the wrong length or key type, a changed byte anywhere.
func TestCompactVerifier(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, ed, _ := ed25519.GenerateKey(rand.Reader)
	payload := []byte(`{"sub":"alice"}`)
	check := func(token, alg string, pub any) error {
		h, input, p, sig, err := parseCompact(token)
		if err != nil {
			return err
		}
		if h.Alg != alg {
			return fmt.Errorf("alg %q", h.Alg)
		}
		if err := verifySignature(alg, pub, input, sig); err != nil {
			return err
		}
		if string(p) != string(payload) {
			return fmt.Errorf("payload %q", p)
		}
		return nil
	}
	for _, tc := range []struct {
		alg  string
		priv any
		pub  any
	}{{"ES256", ec, &ec.PublicKey}, {"RS256", rs, &rs.PublicKey}, {"PS256", rs, &rs.PublicKey}, {"EdDSA", ed, edPub}} {
		ours, _ := newCompactSigner(tc.alg, "k", tc.priv, "JWT")
		tok, _ := ours.sign(payload)
		if err := check(tok, tc.alg, tc.pub); err != nil {
			t.Errorf("%s, our token: %v", tc.alg, err)
		}
		js, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(tc.alg), Key: tc.priv}, nil)
		obj, _ := js.Sign(payload)
		theirs, _ := obj.CompactSerialize()
		if err := check(theirs, tc.alg, tc.pub); err != nil {
			t.Errorf("%s, go-jose's token: %v", tc.alg, err)
		}
		// Every single changed character breaks it.
		for i := 0; i < len(tok); i += 7 {
			b := []byte(tok)
			if b[i] == '.' {
				continue
			}
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			if check(string(b), tc.alg, tc.pub) == nil {
				t.Errorf("%s: token changed at %d still verifies", tc.alg, i)
			}
		}
	}

	s, _ := newCompactSigner("ES256", "k", ec, "")
	good, _ := s.sign(payload)
	parts := strings.Split(good, ".")
	b64 := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	resign := func(header string) string {
		in := b64(header) + "." + parts[1]
		d := sha256.Sum256([]byte(in))
		r, ss, _ := ecdsaSign(ec, d[:])
		return in + "." + base64.RawURLEncoding.EncodeToString(append(r, ss...))
	}
	for name, tok := range map[string]string{
		"two parts":          parts[0] + "." + parts[1],
		"four parts":         good + "." + parts[2],
		"JSON serialization": `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"empty signature":    parts[0] + "." + parts[1] + ".",
		"padded header":      parts[0] + "=." + parts[1] + "." + parts[2],
		"whitespace":         parts[0] + ". " + parts[1] + "." + parts[2],
		"header not object":  b64(`["ES256"]`) + "." + parts[1] + "." + parts[2],
		"crit, well signed":  resign(`{"alg":"ES256","kid":"k","crit":["exp"],"exp":1}`),
		"b64 false in crit":  resign(`{"alg":"ES256","kid":"k","b64":false,"crit":["b64"]}`),
		"short signature":    parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 63)),
		"too large":          parts[0] + "." + strings.Repeat("A", maxJWS) + "." + parts[2],
	} {
		if check(tok, "ES256", &ec.PublicKey) == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// Right signature, wrong key kind or alg for it.
	_, input, _, sig, _ := parseCompact(good)
	if verifySignature("RS256", &ec.PublicKey, input, sig) == nil || verifySignature("ES256", &rs.PublicKey, input, sig) == nil ||
		verifySignature("EdDSA", &ec.PublicKey, input, sig) == nil {
		t.Error("a signature verified under another algorithm or key kind")
	}
}

// FuzzParseCompact: the compact JWS parser takes only three canonical
// base64url parts (no padding, no whitespace, nothing a second decoder
// might read differently) with a JSON object header and no crit; and no
// token verifies under our keys unless its signing input is one we
// signed, whatever is done to the rest.
func FuzzParseCompact(f *testing.F) {
	seed := make([]byte, ed25519.SeedSize)
	ed := ed25519.NewKeyFromSeed(seed)
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), append(make([]byte, 31), 7))
	if err != nil {
		f.Fatal(err)
	}
	keys := []struct {
		alg  string
		priv any
		pub  any
	}{{"EdDSA", ed, ed.Public()}, {"ES256", ec, &ec.PublicKey}}
	signed := map[string]bool{}
	for _, k := range keys {
		s, err := newCompactSigner(k.alg, "k1", k.priv, "JWT")
		if err != nil {
			f.Fatal(err)
		}
		tok, err := s.sign([]byte(`{"iss":"https://op.example","sub":"alice","exp":2000000000}`))
		if err != nil {
			f.Fatal(err)
		}
		signed[tok[:strings.LastIndexByte(tok, '.')]] = true
		f.Add(tok)
	}
	f.Add("e30.e30.AA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(`eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYjY0Il19.e30.AA`)
	f.Fuzz(func(t *testing.T, token string) {
		h, input, payload, sig, err := parseCompact(token)
		if err != nil {
			return
		}
		parts := strings.Split(token, ".")
		enc := base64.RawURLEncoding
		switch {
		case len(parts) != 3:
			t.Fatalf("accepted %d parts", len(parts))
		case input != parts[0]+"."+parts[1]:
			t.Fatalf("signing input %q is not the first two parts", input)
		case enc.EncodeToString(payload) != parts[1] || enc.EncodeToString(sig) != parts[2] || len(sig) == 0:
			t.Fatalf("payload or signature not canonical base64url: %q", token)
		case h.Crit != nil:
			t.Fatal("accepted crit")
		}
		hb, _ := enc.DecodeString(parts[0])
		if enc.EncodeToString(hb) != parts[0] || len(hb) == 0 || hb[0] != '{' {
			t.Fatalf("header not a canonical JSON object: %q", parts[0])
		}
		for _, k := range keys {
			if verifySignature(k.alg, k.pub, input, sig) == nil && !signed[input] {
				t.Fatalf("a signing input we never signed verifies with %s: %q", k.alg, token)
			}
		}
	})
}
