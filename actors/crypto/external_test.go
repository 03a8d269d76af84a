package crypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/go-jose/go-jose/v4"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
)

func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

func jwksOf(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyWithKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	payload := []byte(`{"iss":"c1"}`)
	set := jwksOf(t,
		jose.JSONWebKey{Key: &other.PublicKey, KeyID: "enc1", Use: "enc"},
		jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "e1", Use: "sig", Algorithm: "ES256"},
		jose.JSONWebKey{Key: &rs.PublicKey, KeyID: "r1"})
	tests := []struct {
		name  string
		token string
		jwks  []byte
		algs  []string
		ok    bool
	}{
		{"ES256 by kid", signWith(t, jose.ES256, ec, "e1", payload), set, nil, true},
		{"RS256 without kid", signWith(t, jose.RS256, rs, "", payload), set, nil, true},
		{"PS256 with an RSA key", signWith(t, jose.PS256, rs, "r1", payload), set, nil, true},
		{"alg not allowed", signWith(t, jose.ES256, ec, "e1", payload), set, []string{"RS256"}, false},
		{"unknown signer", signWith(t, jose.ES256, other, "e1", payload), set, nil, false},
		{"enc key never verifies", signWith(t, jose.ES256, other, "enc1", payload), set, nil, false},
		{"kid of another key", signWith(t, jose.ES256, ec, "r1", payload), set, nil, false},
		{"HS256 refused", hsToken(t), set, nil, false},
		{"not a key set", signWith(t, jose.ES256, ec, "e1", payload), []byte(`[`), nil, false},
		{"garbage", "a.b.c", set, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _, err := VerifyWithKeys(tc.token, tc.jwks, tc.algs)
			if tc.ok && (err != nil || string(p) != string(payload)) {
				t.Fatalf("want ok, got %q %v", p, err)
			}
			if !tc.ok && (err == nil || !errors.Is(err, messages.ErrInvalid)) {
				t.Fatalf("want an invalid error, got %v", err)
			}
		})
	}
}

func hsToken(t *testing.T) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: make([]byte, 32)}, nil)
	obj, _ := s.Sign([]byte(`{}`))
	tok, _ := obj.CompactSerialize()
	return tok
}

// An encryption key in keys.algorithms counts for readiness only once it
// is active, and a JWE without kid is opened with the key of its alg.
func TestEncryptionKeysInCache(t *testing.T) {
	kek := testKEK(t)
	rs := newTestKey(t, kek, "RS256", keymanager.StatusActive)
	encNext := newTestKey(t, kek, "RSA-OAEP-256", keymanager.StatusNext)
	c := NewCache(kek)
	if err := c.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{rs.rec, encNext.rec}}); err != nil {
		t.Fatal(err)
	}
	if c.HasSigningKeys([]string{"RS256", "RSA-OAEP-256"}) {
		t.Fatal("ready without an active encryption key")
	}
	enc := newTestKey(t, kek, "RSA-OAEP-256", keymanager.StatusActive)
	if err := c.Apply(&messages.KeySet{Version: 2, Keys: []*messages.Key{rs.rec, enc.rec, encNext.rec}}); err != nil {
		t.Fatal(err)
	}
	if !c.HasSigningKeys([]string{"RS256", "RSA-OAEP-256"}) {
		t.Fatal("not ready with an active encryption key")
	}
	body, _, _ := c.JWKS()
	var set jose.JSONWebKeySet
	json.Unmarshal(body, &set)
	var encKeys int
	for _, k := range set.Keys {
		if k.Use == "enc" {
			encKeys++
		}
	}
	if encKeys != 2 {
		t.Fatalf("JWKS has %d enc keys, want 2 (active and next)", encKeys)
	}
	// To the next key, without kid.
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: encNext.priv.Public(), Algorithm: "RSA-OAEP-256", Use: "enc"})
	tok, err := Encrypt([]byte("hello"), jwk, "RSA-OAEP-256", "A128GCM", "")
	if err != nil {
		t.Fatal(err)
	}
	pt, kid, err := c.Decrypt(tok)
	if err != nil || string(pt) != "hello" || kid != encNext.rec.Kid {
		t.Fatalf("decrypt: %q %s %v", pt, kid, err)
	}
	// To a key that is not ours.
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk, _ = json.Marshal(jose.JSONWebKey{Key: &stranger.PublicKey})
	tok, _ = Encrypt([]byte("hello"), jwk, "RSA-OAEP-256", "A128GCM", "")
	if _, _, err := c.Decrypt(tok); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("a JWE to a stranger's key: %v", err)
	}
}

// BenchmarkVerifyWithKeys is request-object verification as the auth
// front end does it: a client's ES256 or RS256 signature checked against
// its JWK set, inline and through the Crypto pool.
func BenchmarkVerifyWithKeys(b *testing.B) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	set := jwksOf(b, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "e1"}, jose.JSONWebKey{Key: &rs.PublicKey, KeyID: "r1"})
	payload := []byte(`{"iss":"client","aud":"http://localhost:8080","response_type":"code","client_id":"client","redirect_uri":"https://rp.example/cb","scope":"openid profile","state":"af0ifjsldkj","nonce":"n-0S6_WzA2Mj","exp":1893456000,"jti":"3b9ac9ff"}`)
	system := actor.NewActorSystem()
	pid, err := Spawn(system.Root, NewCache(testKEK(b)), Options{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		alg   string
		token string
	}{{"ES256", signWith(b, jose.ES256, ec, "e1", payload)}, {"RS256", signWith(b, jose.RS256, rs, "r1", payload)}} {
		b.Run(tc.alg+"/inline", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := VerifyWithKeys(tc.token, set, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.alg+"/pool", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := system.Root.RequestFuture(pid, &messages.VerifyWithKeysRequest{Token: tc.token, Jwks: set}, 5*time.Second).Result()
				if err != nil || res.(*messages.VerifyResponse).Error != nil {
					b.Fatal(err, res)
				}
			}
		})
	}
}

// BenchmarkEncryptPool is ID-token / userinfo encryption to a client key
// through the Crypto pool, for each key algorithm we offer.
func BenchmarkEncryptPool(b *testing.B) {
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	system := actor.NewActorSystem()
	pid, err := Spawn(system.Root, NewCache(testKEK(b)), Options{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	plaintext := []byte(signWith(b, jose.ES256, ec, "k", []byte(`{"iss":"http://localhost:8080","sub":"248289761001","aud":"client","exp":1893456000,"iat":1700000000,"nonce":"n-0S6_WzA2Mj"}`)))
	for _, tc := range []struct {
		alg, enc string
		key      any
	}{
		{"RSA-OAEP-256", "A128CBC-HS256", &rs.PublicKey},
		{"RSA-OAEP", "A256GCM", &rs.PublicKey},
		{"ECDH-ES", "A128GCM", &ec.PublicKey},
		{"ECDH-ES+A128KW", "A128CBC-HS256", &ec.PublicKey},
		{"ECDH-ES+A256KW", "A256GCM", &ec.PublicKey},
	} {
		jwk, _ := json.Marshal(jose.JSONWebKey{Key: tc.key, KeyID: "c1", Use: "enc"})
		b.Run(tc.alg+"/"+tc.enc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := system.Root.RequestFuture(pid, &messages.EncryptRequest{Plaintext: plaintext, Jwk: jwk, Alg: tc.alg, Enc: tc.enc, Cty: "JWT"}, 5*time.Second).Result()
				if err != nil || res.(*messages.EncryptResponse).Error != nil {
					b.Fatal(err, res)
				}
			}
		})
	}
}

// TestEncryptToClientKeys: every key algorithm and content encryption we
// advertise for ID tokens and userinfo makes a JWE the client opens with
// go-jose and its private key; a key of the wrong type is refused.
func TestEncryptToClientKeys(t *testing.T) {
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, alg := range KeyAlgorithms {
		for _, enc := range ContentAlgs {
			var pub, priv any = &rs.PublicKey, rs
			if alg != jose.RSA_OAEP && alg != jose.RSA_OAEP_256 {
				pub, priv = &ec.PublicKey, ec
			}
			jwk, _ := json.Marshal(jose.JSONWebKey{Key: pub, KeyID: "c", Use: "enc"})
			tok, err := Encrypt([]byte("payload"), jwk, string(alg), string(enc), "JWT")
			if err != nil {
				t.Fatalf("%s/%s: %v", alg, enc, err)
			}
			obj, err := jose.ParseEncryptedCompact(tok, []jose.KeyAlgorithm{alg}, []jose.ContentEncryption{enc})
			if err != nil {
				t.Fatalf("%s/%s: %v", alg, enc, err)
			}
			if pt, err := obj.Decrypt(priv); err != nil || string(pt) != "payload" || obj.Header.KeyID != "c" {
				t.Fatalf("%s/%s: %q %v", alg, enc, pt, err)
			}
		}
	}
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	if _, err := Encrypt([]byte("x"), jwk, "RSA-OAEP", "A128GCM", ""); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("RSA-OAEP to an EC key: %v", err)
	}
}
