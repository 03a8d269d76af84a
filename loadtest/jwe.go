package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
)

// ClientJWE is registered for encrypted userinfo responses
// (userinfo_encrypted_response_alg ECDH-ES, the default enc A128CBC-HS256)
// to benchEncKey's public half.
const ClientJWE = "bench-jwe"

// benchEncKey is the bench client's decryption key. It is derived from a
// fixed string so that a node measured again with --target, which keeps
// the client registered earlier, still encrypts to a key the bench holds.
// It protects nothing but bench responses.
var benchEncKey = func() *ecdsa.PrivateKey {
	seed := sha256.Sum256([]byte("authrim bench: userinfo encryption key"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		panic(err)
	}
	return k
}()

// benchJWKS is ClientJWE's registered key set: the public encryption key.
func benchJWKS() json.RawMessage {
	pub, err := benchEncKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "enc", "alg": "ECDH-ES", "kid": "bench-enc",
		"x": b64(pub[1:33]), "y": b64(pub[33:]),
	}}})
	return set
}

// prepareUserinfoJWE gets ClientJWE access tokens through the code flow
// in the token range's sessions (silent authorize, redemption), checks
// that /userinfo answers a JWE the bench can open, then cycles them.
func (n *Node) prepareUserinfoJWE(ctx context.Context, _ int) (Source, error) {
	n.jweOnce.Do(func() {
		n.jweTokens = make([]string, min(n.tokens.n, 1000))
		n.jweErr = Parallel(ctx, len(n.jweTokens), 2*n.conc, func(ctx context.Context, i int) error {
			code, err := AuthorizeSilently(ctx, n.prep, n.base("auth"), n.cookie(n.tokens.from+i), ClientJWE, n.next())
			if err != nil {
				return err
			}
			tr, err := Redeem(ctx, n.prep, n.base("token"), ClientJWE, code)
			n.jweTokens[i] = tr.AccessToken
			return err
		})
		if n.jweErr == nil && len(n.jweTokens) == 0 {
			n.jweErr = errors.New("userinfo-jwe: no sessions to get tokens in")
		}
		if n.jweErr == nil {
			n.jweErr = openUserinfo(ctx, n.prep, n.base("userinfo")+"/userinfo", n.jweTokens[0])
		}
	})
	if n.jweErr != nil {
		return nil, n.jweErr
	}
	toks, u := n.jweTokens, n.base("userinfo")+"/userinfo"
	return Forever(func(seq uint64) Call {
		h := http.Header{"Authorization": {"Bearer " + toks[seq%uint64(len(toks))]}}
		return func(ctx context.Context, c *http.Client) error { return get(ctx, c, u, http.StatusOK, h) }
	}), nil
}

// openUserinfo asks url with token and wants an application/jwt answer
// that benchEncKey decrypts to claims with a subject.
func openUserinfo(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "application/jwt" {
		return fmt.Errorf("userinfo-jwe: %s, %q: %.200s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	obj, err := jose.ParseEncrypted(string(body), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		return fmt.Errorf("userinfo-jwe: not a JWE: %w", err)
	}
	plain, err := obj.Decrypt(benchEncKey)
	if err != nil {
		return fmt.Errorf("userinfo-jwe: decrypt: %w", err)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(plain, &claims); err != nil || claims.Sub == "" {
		return fmt.Errorf("userinfo-jwe: decrypted %.100q: no subject (%v)", plain, err)
	}
	return nil
}
