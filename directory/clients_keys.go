package directory

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/internal/memo"
)

// secretHashPrefix marks how SecretHash was made. SHA-256 without salt or
// stretching is right here, unlike for passwords: client secrets are long
// random strings (generated ones carry 256 bits), so there is nothing to
// guess and a fast hash costs an attacker as much as a slow one.
const secretHashPrefix = "sha256:"

// needsSecret tells whether method authenticates with a shared secret
// (RFC 6749 §2.3.1).
func needsSecret(method string) bool {
	return method == "client_secret_basic" || method == "client_secret_post"
}

// HashClientSecret returns the SecretHash form of secret.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyClientSecret checks secret against c.SecretHash in constant time.
// ErrInvalidCredentials when it does not match or c has no secret.
func VerifyClientSecret(c Client, secret string) error {
	got := HashClientSecret(secret)
	// Compare even when c has no hash, so the time does not tell.
	ok := subtle.ConstantTimeCompare([]byte(got), []byte(c.SecretHash)) == 1
	if !ok || c.SecretHash == "" || !needsSecret(c.AuthMethod) {
		return ErrInvalidCredentials
	}
	return nil
}

func validSecretHash(h string) bool {
	raw, ok := strings.CutPrefix(h, secretHashPrefix)
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	return err == nil && len(b) == sha256.Size
}

// JWKS is a client's public JWK set (RFC 7517 §5) as JSON. In a JSON
// document (a record, the admin API, a registration) it is the set
// itself; in config.yaml it is a string holding the set.
type JWKS []byte

// MarshalJSON writes the set as it is (null when empty).
func (k JWKS) MarshalJSON() ([]byte, error) {
	if len(k) == 0 {
		return []byte("null"), nil
	}
	return k, nil
}

// UnmarshalJSON keeps the JSON value as it is, whatever its type: the
// validation says what is wrong with it. null is no set.
func (k *JWKS) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*k = nil
		return nil
	}
	*k = bytes.Clone(b)
	return nil
}

// UnmarshalText reads the set from a string (config.yaml).
func (k *JWKS) UnmarshalText(b []byte) error {
	*k = bytes.Clone(b)
	return nil
}

// compacted is k without insignificant white space, or nil when k holds
// nothing (or null). Anything that does not compact is returned as it is
// for the validation to report.
func (k JWKS) compacted() JWKS {
	t := bytes.TrimSpace(k)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	var buf bytes.Buffer
	if len(k) > maxJWKSLen || json.Compact(&buf, k) != nil {
		return bytes.Clone(k)
	}
	return buf.Bytes()
}

// parseJWKS parses a JWK set (RFC 7517 §5) that may hold only public
// signing keys: RSA of at least 2048 bits, EC or Ed25519. A private or
// symmetric key here means the client leaked it to us, so it is refused
// rather than stripped. The error's reason does not repeat "jwks".
func parseJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > maxJWKSLen {
		return nil, invalid("larger than %d bytes", maxJWKSLen)
	}
	var set jose.JSONWebKeySet
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&set); err != nil || dec.More() {
		return nil, invalid("not a JWK set ({\"keys\": [...]}) of supported keys")
	}
	if len(set.Keys) == 0 {
		return nil, invalid("must hold at least one key")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, invalid("key %d is not a public key: send public keys only", i)
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				return nil, invalid("key %d: RSA keys need at least %d bits", i, minRSABits)
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, invalid("key %d: only RSA, EC and Ed25519 keys are supported", i)
		}
		if k.Use != "" && k.Use != "sig" && k.Use != "enc" {
			return nil, invalid("key %d: use must be sig or enc", i)
		}
	}
	return &set, nil
}

// EncryptionKey picks the client's public key to encrypt to with alg from
// its JWK set (JSON): a key whose use is "enc" (or unset), whose alg (if
// set) is alg and whose type fits (RSA for RSA-OAEP*, EC for ECDH-ES*). It
// returns the key as JSON.
func EncryptionKey(jwks []byte, alg string) ([]byte, error) {
	// Every encrypted response asks again with the same bytes: parse once.
	h := sha256.Sum256(jwks)
	return encryptionKeys.Get(alg+"\x00"+string(h[:]), func() ([]byte, error) { return encryptionKey(jwks, alg) })
}

// encryptionKeys remembers EncryptionKey's answers by key set and alg.
var encryptionKeys = memo.New[[]byte](1024)

func encryptionKey(jwks []byte, alg string) ([]byte, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, invalid("client key set is not a JWK set")
	}
	for _, k := range set.Keys {
		if k.Use == "sig" || (k.Algorithm != "" && k.Algorithm != alg) || !k.IsPublic() {
			continue
		}
		_, isRSA := k.Key.(*rsa.PublicKey)
		_, isEC := k.Key.(*ecdsa.PublicKey)
		if (strings.HasPrefix(alg, "RSA-") && isRSA) || (strings.HasPrefix(alg, "ECDH-ES") && isEC) {
			return json.Marshal(k)
		}
	}
	return nil, invalid("no public key for %s encryption (use \"enc\" or unset) in the client's keys", clip(alg))
}
