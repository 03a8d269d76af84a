package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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

// prover signs DPoP proofs (RFC 9449 §4.2) with one ES256 key, each with
// a jti unique in the run. The proofs are signed by the load generator, so
// their cost is not the server's.
type prover struct {
	signer jose.Signer
	prefix []byte
	seq    atomic.Uint64
}

func newProver() (*prover, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	p := &prover{signer: signer, prefix: make([]byte, 8)}
	_, _ = rand.Read(p.prefix)
	return p, nil
}

// proof is a fresh proof for method htm at htu; for a resource request
// accessToken is the token it goes with (ath), "" otherwise.
func (p *prover) proof(htm, htu, accessToken string) (string, error) {
	jti := binary.BigEndian.AppendUint64(p.prefix[:8:8], p.seq.Add(1))
	c := map[string]any{"htm": htm, "htu": htu, "iat": time.Now().Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti)}
	if accessToken != "" {
		h := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(h[:])
	}
	claims, _ := json.Marshal(c)
	obj, err := p.signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// dpopCalls are client_credentials requests with a fresh DPoP proof each
// (RFC 9449): the server verifies an ES256 proof and records its jti in
// the store before it signs a bound token.
func (n *Node) dpopCalls() (Endless, error) {
	p, err := newProver()
	if err != nil {
		return nil, err
	}
	htu := strings.TrimSuffix(n.Server.Issuer, "/") + "/token"
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	return func(uint64) Call {
		return func(ctx context.Context, c *http.Client) error {
			proof, err := p.proof(http.MethodPost, htu, "")
			if err != nil {
				return err
			}
			_, err = postDPoP(ctx, c, n.base("token")+"/token", ClientService, form, proof)
			return err
		}
	}, nil
}

// postDPoP posts form to u as client with a DPoP proof and wants a bound
// token back.
func postDPoP(ctx context.Context, c *http.Client, u, client, form, proof string) (TokenResponse, error) {
	var tr TokenResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		return tr, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth(client, ClientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return tr, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"token_type":"DPoP"`) {
		return tr, fmt.Errorf("dpop: %s: %.200s", resp.Status, raw)
	}
	return tr, json.Unmarshal(raw, &tr)
}

// prepareUserinfoDPoP gets DPoP-bound access tokens (silent
// authorizations redeemed with a proof) and calls /userinfo with each in
// turn, a fresh proof (htm, htu, ath) per request: the server verifies
// the token and the proof and records the proof's jti.
func (n *Node) prepareUserinfoDPoP(ctx context.Context, _ int) (Source, error) {
	p, err := newProver()
	if err != nil {
		return nil, err
	}
	issuer := strings.TrimSuffix(n.Server.Issuer, "/")
	toks := make([]string, min(n.tokens.n, 1000))
	err = Parallel(ctx, len(toks), 2*n.conc, func(ctx context.Context, i int) error {
		code, err := AuthorizeSilently(ctx, n.prep, n.base("auth"), n.cookie(n.tokens.from+i), ClientES256, n.next())
		if err != nil {
			return err
		}
		proof, err := p.proof(http.MethodPost, issuer+"/token", "")
		if err != nil {
			return err
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {PKCEVerifier}}.Encode()
		tr, err := postDPoP(ctx, n.prep, n.base("token")+"/token", ClientES256, form, proof)
		toks[i] = tr.AccessToken
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("userinfo-dpop: no sessions to get tokens in")
	}
	u := n.base("userinfo") + "/userinfo"
	return Forever(func(seq uint64) Call {
		tok := toks[seq%uint64(len(toks))]
		return func(ctx context.Context, c *http.Client) error {
			proof, err := p.proof(http.MethodGet, issuer+"/userinfo", tok)
			if err != nil {
				return err
			}
			return get(ctx, c, u, http.StatusOK, http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}})
		}
	}), nil
}
