package oauth2

import (
	"context"
	"fmt"

	"authrim/directory"
)

// Encrypter makes a JWE to a recipient's public key (the Crypto pool).
type Encrypter interface {
	Encrypt(ctx context.Context, plaintext, jwk []byte, alg, enc, cty string) (string, error)
}

// ClientKeys returns a client's public JWK set as JSON (its jwks, or its
// jwks_uri document).
type ClientKeys func(ctx context.Context, c directory.Client) ([]byte, error)

// EncryptFor encrypts plaintext to client c with alg/enc (OIDC Core
// §10.2): to the first key of its set that suits alg. cty is "JWT" for a
// nested signed token. The response must not go out unencrypted when
// this fails: callers answer with an error.
func EncryptFor(ctx context.Context, e Encrypter, keys ClientKeys, c directory.Client, plaintext []byte, alg, enc, cty string) (string, error) {
	if e == nil || keys == nil {
		return "", fmt.Errorf("oauth2: encryption for client %s is not configured", c.ID)
	}
	set, err := keys(ctx, c)
	if err != nil {
		return "", fmt.Errorf("oauth2: keys of client %s: %w", c.ID, err)
	}
	key, err := directory.EncryptionKey(set, alg)
	if err != nil {
		return "", fmt.Errorf("oauth2: encryption key of client %s: %w", c.ID, err)
	}
	return e.Encrypt(ctx, plaintext, key, alg, enc, cty)
}
