package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"authrim/directory"
	"authrim/node"
)

// A client declared in config.yaml can ask for encrypted ID tokens like a
// registered one: its metadata reaches the directory.
func TestStaticClientGetsEncryptedIDTokens(t *testing.T) {
	encKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &encKey.PublicKey, KeyID: "enc-1", Use: "enc", Algorithm: string(jose.ECDH_ES_A128KW)}}})
	o := startOPWith(t, func(cfg *node.Config) {
		cfg.Clients = append(cfg.Clients, node.ClientConfig{
			ID:     "enc-rp",
			Secret: rpSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:                        "Encrypting RP",
				RedirectURIs:                []string{rpRedirect},
				AuthMethod:                  "client_secret_basic",
				GrantTypes:                  []string{"authorization_code"},
				SkipConsent:                 true,
				JWKS:                        directory.JWKS(jwks),
				IDTokenEncryptedResponseAlg: "ECDH-ES+A128KW",
				IDTokenEncryptedResponseEnc: "A128GCM",
			},
		})
	})
	params := baseParams()
	params["client_id"] = "enc-rp"
	verifier, challenge := pkce()
	params["code_challenge"], params["code_challenge_method"] = challenge, "S256"
	loc := o.signIn(t, browser(t), o.authorizeURL(params))
	status, tok := o.tokenRequest(t, "enc-rp", map[string][]string{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {rpRedirect}, "code_verifier": {verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	jwe, err := jose.ParseEncryptedCompact(tok["id_token"].(string), []jose.KeyAlgorithm{jose.ECDH_ES_A128KW}, []jose.ContentEncryption{jose.A128GCM})
	if err != nil {
		t.Fatalf("the ID token is not a JWE to the client's key: %v", err)
	}
	inner, err := jwe.Decrypt(encKey)
	if err != nil {
		t.Fatal(err)
	}
	if claims := idClaims(t, string(inner)); claims["aud"] != "enc-rp" {
		t.Fatalf("inner ID token: %v", claims)
	}
}
