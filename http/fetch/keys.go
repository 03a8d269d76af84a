package fetch

import (
	"context"
	"encoding/json"
	"fmt"

	"authrim/directory"
)

// ClientKeys returns a client's public JWK set as JSON: the registered
// jwks, or the document at its registered jwks_uri (fetched through the
// guard, cached as its Cache-Control allows).
func (f *Fetcher) ClientKeys(ctx context.Context, c directory.Client) ([]byte, error) {
	if len(c.JWKS) > 0 {
		return c.JWKS, nil
	}
	if c.JWKSURI == "" {
		return nil, fmt.Errorf("%w: the client registered no keys", ErrFetch)
	}
	b, err := f.Get(ctx, c.JWKSURI)
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
