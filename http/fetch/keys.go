package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"authrim/directory"
)

// KeyRefetchInterval is how often a cached JWK set may be fetched again
// for a token that names a key the set lacks.
const KeyRefetchInterval = 30 * time.Second

// KeySet returns the JWK set at rawURL, from the cache while it may be
// used. When kid is set and the cached set lacks it (its owner rotated
// keys since), the set is fetched again, at most once per
// KeyRefetchInterval: a rotation works at once, and tokens with made-up
// kids cannot make the node fetch at their pace.
func (f *Fetcher) KeySet(ctx context.Context, rawURL, kid string) ([]byte, error) {
	b, err := f.Get(ctx, rawURL)
	if err != nil || kid == "" || hasKey(b, kid) {
		return b, err
	}
	if fresh, err := f.Refetch(ctx, rawURL, KeyRefetchInterval); err == nil {
		return fresh, nil
	}
	return b, nil
}

// hasKey tells whether the JWK set (JSON) has a key with this kid.
func hasKey(set []byte, kid string) bool {
	type jwk struct {
		KID string `json:"kid"`
	}
	var s struct {
		Keys []jwk `json:"keys"`
	}
	if json.Unmarshal(set, &s) != nil {
		return false
	}
	return slices.ContainsFunc(s.Keys, func(k jwk) bool { return k.KID == kid })
}

// ClientKeys returns a client's public JWK set as JSON: the registered
// jwks, or the document at its registered jwks_uri (fetched through the
// guard, cached as its Cache-Control allows).
func (f *Fetcher) ClientKeys(ctx context.Context, c directory.Client) ([]byte, error) {
	return f.ClientSigningKeys(ctx, c, "")
}

// ClientSigningKeys is ClientKeys for verifying a JWS of the client
// whose header names kid: a jwks_uri set that lacks it is fetched again
// (KeySet).
func (f *Fetcher) ClientSigningKeys(ctx context.Context, c directory.Client, kid string) ([]byte, error) {
	if len(c.JWKS) > 0 {
		return c.JWKS, nil
	}
	if c.JWKSURI == "" {
		return nil, fmt.Errorf("%w: the client registered no keys", ErrFetch)
	}
	b, err := f.KeySet(ctx, c.JWKSURI, kid)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(b, &set) != nil || len(set.Keys) == 0 {
		return nil, fmt.Errorf("%w: jwks_uri is not a JWK set", ErrFetch)
	}
	return b, nil
}
