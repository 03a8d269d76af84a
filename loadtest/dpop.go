package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// dpopCalls are client_credentials requests with a fresh DPoP proof each
// (RFC 9449): the server verifies an ES256 proof and records its jti in
// the store before it signs a bound token. The proofs are signed here,
// by the load generator, so their cost is not the server's.
func (n *Node) dpopCalls() (Endless, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	htu := strings.TrimSuffix(n.Server.Issuer, "/") + "/token"
	prefix := make([]byte, 8)
	_, _ = rand.Read(prefix)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	var seq atomic.Uint64 // jtis unique whatever the caller counts
	return func(uint64) Call {
		return func(ctx context.Context, c *http.Client) error {
			jti := binary.BigEndian.AppendUint64(prefix[:8:8], seq.Add(1))
			claims, _ := json.Marshal(map[string]any{"htm": "POST", "htu": htu, "iat": time.Now().Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti)})
			obj, err := signer.Sign(claims)
			if err != nil {
				return err
			}
			proof, err := obj.CompactSerialize()
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base("token")+"/token", strings.NewReader(form))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", proof)
			req.SetBasicAuth(ClientService, ClientSecret)
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"token_type":"DPoP"`) {
				return fmt.Errorf("token-dpop: %s: %.200s", resp.Status, raw)
			}
			return nil
		}
	}, nil
}
