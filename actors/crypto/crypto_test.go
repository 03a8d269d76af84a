package crypto

import (
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/go-jose/go-jose/v4"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/internal/eventually"
)

type testKey struct {
	priv stdcrypto.Signer
	rec  *messages.Key
}

// newTestKey builds a sealed key record the way the KeyManager does.
func newTestKey(t testing.TB, kek *keymanager.KEK, alg, status string) testKey {
	t.Helper()
	var priv stdcrypto.Signer
	var err error
	switch alg {
	case "RS256", "RSA-OAEP-256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	use, _ := keymanager.UseOf(alg)
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: use}
	tp, _ := pub.Thumbprint(stdcrypto.SHA256)
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pj, _ := json.Marshal(pub)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	sealed, err := kek.Wrap(pub.KeyID, der)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, rec: &messages.Key{Kid: pub.KeyID, Alg: alg, Use: use, Status: status, PublicJwk: pj, WrappedPrivate: sealed}}
}

func testKEK(t testing.TB) *keymanager.KEK {
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := keymanager.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyAndRefusals(t *testing.T) {
	kek := testKEK(t)
	rs := newTestKey(t, kek, "RS256", keymanager.StatusActive)
	es := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	esNext := newTestKey(t, kek, "ES256", keymanager.StatusNext)
	c := NewCache(kek)
	if err := c.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{rs.rec, es.rec, esNext.rec}}); err != nil {
		t.Fatal(err)
	}
	tok, kid, err := c.Sign("ES256", []byte(`{"a":1}`), "at+jwt")
	if err != nil || kid != es.rec.Kid {
		t.Fatalf("sign: %v kid=%s", err, kid)
	}
	if p, _, _, err := c.Verify(tok, nil); err != nil || string(p) != `{"a":1}` {
		t.Fatalf("verify: %q %v", p, err)
	}

	// A foreign key with a kid we publish must not verify.
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: foreign, KeyID: es.rec.Kid}}, nil)
	forged, _ := fs.Sign([]byte(`{"a":1}`))
	forgedTok, _ := forged.CompactSerialize()
	// A token signed by the next key's private half (never handed out)
	// would verify; one by an unknown kid must not.
	us, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: foreign, KeyID: "unknown"}}, nil)
	unknown, _ := us.Sign([]byte(`{}`))
	unknownTok, _ := unknown.CompactSerialize()
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"a":2}`)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+es.rec.Kid+`"}`)) + "." + parts[1] + "."
	hsSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, nil)
	hs, _ := hsSigner.Sign([]byte(`{}`))
	hsTok, _ := hs.CompactSerialize()

	tests := []struct {
		name  string
		token string
		algs  []string
	}{
		{"forged signature under our kid", forgedTok, nil},
		{"unknown kid", unknownTok, nil},
		{"tampered payload", tampered, nil},
		{"alg none", none, nil},
		{"HS256", hsTok, nil},
		{"alg not in the caller's list", tok, []string{"RS256"}},
		{"garbage", "not.a.jwt", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := c.Verify(tt.token, tt.algs); !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, _, err := c.Sign("PS256", []byte("{}"), ""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("sign with an unconfigured alg: %v", err)
	}
}

func TestApplyKeepsNewestVersion(t *testing.T) {
	kek := testKEK(t)
	a := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	b := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	c := NewCache(kek)
	c.Apply(&messages.KeySet{Version: 2, Keys: []*messages.Key{b.rec}})
	c.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{a.rec}})
	if _, kid, _ := c.Sign("ES256", []byte("{}"), ""); kid != b.rec.Kid {
		t.Fatal("an older push replaced a newer key set")
	}
	// A key sealed under another KEK is refused, and the cache keeps what
	// it had.
	bad := newTestKey(t, testKEK(t), "ES256", keymanager.StatusActive)
	if err := c.Apply(&messages.KeySet{Version: 3, Keys: []*messages.Key{bad.rec}}); !errors.Is(err, keymanager.ErrKEK) {
		t.Fatalf("apply with a foreign KEK: %v", err)
	}
	if c.Version() != 2 {
		t.Fatalf("version %d after a failed apply", c.Version())
	}
}

func TestEncryptDecryptThroughThePool(t *testing.T) {
	kek := testKEK(t)
	enc := newTestKey(t, kek, "RSA-OAEP-256", keymanager.StatusActive)
	ecEnc := newTestKey(t, kek, "ECDH-ES", keymanager.StatusNext)
	sig := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	c := NewCache(kek)
	if err := c.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{enc.rec, ecEnc.rec, sig.rec}}); err != nil {
		t.Fatal(err)
	}
	system := actor.NewActorSystem()
	defer system.Shutdown()
	pid, err := Spawn(system.Root, c, Options{Size: 2, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(msg any) any {
		res, err := system.Root.RequestFuture(pid, msg, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, tt := range []struct {
		name     string
		rec      *messages.Key
		alg, enc string
	}{
		{"RSA-OAEP-256 A256GCM", enc.rec, "RSA-OAEP-256", "A256GCM"},
		{"ECDH-ES A128CBC-HS256", ecEnc.rec, "ECDH-ES", "A128CBC-HS256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			er := ask(&messages.EncryptRequest{Plaintext: []byte("hello"), Jwk: tt.rec.PublicJwk, Alg: tt.alg, Enc: tt.enc, Cty: "JWT"}).(*messages.EncryptResponse)
			if er.Error != nil {
				t.Fatal(er.Error.Err())
			}
			dr := ask(&messages.DecryptRequest{Token: er.Token}).(*messages.DecryptResponse)
			if dr.Error != nil || string(dr.Plaintext) != "hello" || dr.Kid != tt.rec.Kid {
				t.Fatalf("decrypt: %+v", dr)
			}
		})
	}
	t.Run("refuses a private recipient key and unknown algs", func(t *testing.T) {
		privJWK, _ := json.Marshal(jose.JSONWebKey{Key: enc.priv, KeyID: "x"})
		for _, req := range []*messages.EncryptRequest{
			{Plaintext: []byte("x"), Jwk: privJWK, Alg: "RSA-OAEP-256", Enc: "A256GCM"},
			{Plaintext: []byte("x"), Jwk: enc.rec.PublicJwk, Alg: "RSA1_5", Enc: "A256GCM"},
			{Plaintext: []byte("x"), Jwk: []byte("{"), Alg: "RSA-OAEP-256", Enc: "A256GCM"},
			{Plaintext: []byte("x"), Jwk: ecEnc.rec.PublicJwk, Alg: "ECDH-ES+A128KW", Enc: "A128GCM"},
		} {
			if r := ask(req).(*messages.EncryptResponse); r.Error.GetCode() != messages.CodeInvalid {
				t.Fatalf("%s: %+v", req.Alg, r)
			}
		}
	})
	t.Run("refuses garbage", func(t *testing.T) {
		if r := ask(&messages.DecryptRequest{Token: "a.b.c.d.e"}).(*messages.DecryptResponse); r.Error.GetCode() != messages.CodeInvalid {
			t.Fatalf("%+v", r)
		}
	})
}

// The key cache's actor is reachable by every cluster member: it applies
// only pushes sealed with the KEK, so nobody else can install keys, revive
// a revoked one or empty the set.
func TestKeyPushNeedsTheKEK(t *testing.T) {
	kek := testKEK(t)
	old := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	cur := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	c := NewCache(kek)
	if err := c.Apply(&messages.KeySet{Version: 5, Keys: []*messages.Key{cur.rec}}); err != nil {
		t.Fatal(err)
	}
	system := actor.NewActorSystem()
	defer system.Shutdown()
	if _, err := Spawn(system.Root, c, Options{Size: 1, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	cacheActor := actor.NewPID(system.Address(), keymanager.CacheActorName)
	// An older key (its sealed private half is genuine) as a newer set.
	revived := &messages.KeySet{Version: 9, Keys: []*messages.Key{old.rec}}
	genuine, err := kek.SealPush(revived)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := testKEK(t).SealPush(revived)
	if err != nil {
		t.Fatal(err)
	}
	emptied, _ := kek.SealPush(&messages.KeySet{Version: 10})
	for _, tt := range []struct {
		name string
		msg  *messages.KeySetChanged
	}{
		{"no MAC", &messages.KeySetChanged{Set: genuine.Set}},
		{"MAC under another KEK", foreign},
		{"set altered after sealing", &messages.KeySetChanged{Set: emptied.Set, Mac: genuine.Mac}},
		{"garbage", &messages.KeySetChanged{Set: []byte{0xff, 0x01}, Mac: genuine.Mac}},
	} {
		system.Root.Send(cacheActor, tt.msg)
	}
	// A genuine push afterwards is applied: once it is, the forged ones
	// before it in the mailbox have been handled.
	next := newTestKey(t, kek, "ES256", keymanager.StatusActive)
	ok, _ := kek.SealPush(&messages.KeySet{Version: 6, Keys: []*messages.Key{next.rec}})
	system.Root.Send(cacheActor, ok)
	eventually.True(t, "the genuine push to be applied", func() bool {
		if v := c.Version(); v != 5 && v != 6 {
			t.Fatalf("a forged push was applied: version %d", v)
		}
		return c.Version() == 6
	})
	if _, kid, _ := c.Sign("ES256", []byte("{}"), ""); kid != next.rec.Kid {
		t.Fatalf("signing with %s, want the pushed key", kid)
	}
}
