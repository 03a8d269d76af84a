package keymanager

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Usage of a key in the JWKS (RFC 7517 §4.2).
const (
	UseSig = "sig"
	UseEnc = "enc"
)

// UseOf tells whether alg names a signing or an encryption key.
func UseOf(alg string) (string, error) {
	switch alg {
	case "RS256", "PS256", "ES256", "EdDSA":
		return UseSig, nil
	case "RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW":
		return UseEnc, nil
	}
	return "", fmt.Errorf("keymanager: unsupported algorithm %q", alg)
}

// generated is a fresh key before it is sealed.
type generated struct {
	kid       string
	publicJWK []byte
	pkcs8     []byte
}

// generateKey makes a key for alg. RSA keys are 2048 bits (OIDC's RS256
// baseline); EC keys use P-256.
func generateKey(alg string) (generated, error) {
	use, err := UseOf(alg)
	if err != nil {
		return generated{}, err
	}
	var priv crypto.Signer
	switch alg {
	case "RS256", "PS256", "RSA-OAEP", "RSA-OAEP-256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return generated{}, fmt.Errorf("keymanager: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return generated{}, fmt.Errorf("keymanager: encode %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: use}
	// RFC 7638 thumbprint: a kid that names the key material itself.
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return generated{}, fmt.Errorf("keymanager: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pj, err := json.Marshal(pub)
	if err != nil {
		return generated{}, fmt.Errorf("keymanager: encode public key: %w", err)
	}
	return generated{kid: pub.KeyID, publicJWK: pj, pkcs8: der}, nil
}
