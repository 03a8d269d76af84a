package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authrim/actors/crypto"
	"authrim/actors/keymanager"
)

// TestVerifyWithKeysFollowsTheCryptoMode: a client's signature is checked
// where crypto.mode says, like our own: inline, no Crypto pool exists at
// all and the call still works.
func TestVerifyWithKeysFollowsTheCryptoMode(t *testing.T) {
	n, err := Start(Config{Name: "verify-test", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"iss":"rp"}`))
	if err != nil {
		t.Fatal(err)
	}
	token, _ := jws.CompactSerialize()
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	kek, err := keymanager.NewKEK(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := n.InlineCrypto(crypto.NewCache(kek), nil) // an empty key cache, no pool
	payload, kid, alg, err := c.VerifyWithKeys(context.Background(), token, jwks, []string{"ES256"})
	if err != nil || string(payload) != `{"iss":"rp"}` || kid != "k1" || alg != "ES256" {
		t.Fatalf("inline VerifyWithKeys: %q %q %q %v", payload, kid, alg, err)
	}
}
