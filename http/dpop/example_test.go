package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/http/dpop"
)

// A client makes a proof for POST /token with its key (the jwk header
// carries the public half), and the server checks it against the request
// it came with. The README's DPoP section shows the same client code.
func ExampleChecker_Check() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	claims, _ := json.Marshal(map[string]any{
		"jti": "a-fresh-random-id", "htm": "POST", "htu": "https://op.example/token", "iat": time.Now().Unix(),
	})
	obj, _ := signer.Sign(claims)
	proof, _ := obj.CompactSerialize() // send as the DPoP header

	c := &dpop.Checker{Lifetime: time.Minute}
	p, err := c.Check(context.Background(), []string{proof}, dpop.Request{Method: "POST", URI: "https://op.example/token"})
	want, _ := dpop.Thumbprint(jose.JSONWebKey{Key: key.Public()})
	fmt.Println(err, p.JKT == want)
	// Output: <nil> true
}
