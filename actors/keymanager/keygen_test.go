package keymanager

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authrim/actors/messages"
)

// TestEncryptionKeys: a JWE algorithm in the policy gets keys marked
// "use":"enc" of the right type, with the same lifecycle as signing keys
// (one active, one next).
func TestEncryptionKeys(t *testing.T) {
	for alg, rsaKey := range map[string]bool{"RSA-OAEP": true, "RSA-OAEP-256": true, "ECDH-ES": false, "ECDH-ES+A128KW": false, "ECDH-ES+A256KW": false} {
		g, err := generateKey(alg)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		var pub jose.JSONWebKey
		if err := json.Unmarshal(g.publicJWK, &pub); err != nil {
			t.Fatal(err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(g.pkcs8)
		if err != nil {
			t.Fatal(err)
		}
		_, isRSA := priv.(*rsa.PrivateKey)
		_, isEC := priv.(*ecdsa.PrivateKey)
		if pub.Use != UseEnc || pub.Algorithm != alg || pub.KeyID != g.kid || !pub.IsPublic() || isRSA != rsaKey || isEC == rsaKey {
			t.Errorf("%s: use %q alg %q public %v rsa %v", alg, pub.Use, pub.Algorithm, pub.IsPublic(), isRSA)
		}
	}
	if _, err := UseOf("A128KW"); err == nil {
		t.Error("a symmetric key algorithm was accepted")
	}
	gen := &fakeKeys{}
	set := &messages.KeySet{}
	p := Policy{Algorithms: []string{"RS256", "RSA-OAEP-256"}, RotationPeriod: time.Hour, PublishAhead: time.Minute, RetireAfter: time.Hour}
	if _, err := advance(set, p, time.Unix(1_700_000_000, 0), gen.newKey); err != nil {
		t.Fatal(err)
	}
	if find(set, "RSA-OAEP-256", StatusActive) == nil || find(set, "RSA-OAEP-256", StatusNext) == nil {
		t.Fatalf("encryption keys: %+v", set.Keys)
	}
}
