package dpop

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
)

// HeaderName is the request header that carries a proof, and the scheme
// of DPoP-bound access tokens in Authorization (RFC 9449 §4.1, §7.1).
const HeaderName = "DPoP"

// TokenType is the token_type of a DPoP-bound access token (RFC 9449 §5).
const TokenType = "DPoP"

// Type is the typ of a proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// Algs are the asymmetric JWS algorithms accepted for proofs, advertised
// as dpop_signing_alg_values_supported (RFC 9449 §5.1). No symmetric alg
// and no none (RFC 9449 §4.2).
var Algs = []string{"ES256", "PS256", "EdDSA", "RS256"}

// Leeway is how far in the future a proof's iat may be, for clocks that
// run ahead of ours, and how far past the lifetime it may be.
const Leeway = 5 * time.Second

// MaxProofLen bounds a proof: an RSA 4096 jwk and its signature fit well.
const MaxProofLen = 8192

// minRSABits is the smallest RSA key accepted (as for client keys).
const minRSABits = 2048

// maxJTILen bounds jti (RFC 9449 §4.2: enough entropy; not a payload).
const maxJTILen = 256

// Errors. Their text is safe to show the client (it names the rule, never
// a secret), and callers send it as the error description.
var (
	// ErrInvalidProof: the proof is missing where required, malformed,
	// badly signed, or does not match the request (invalid_dpop_proof).
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrReplay: the proof's jti was already used within its window;
	// the store's replay error (directory.UseDPoPJTI).
	ErrReplay = directory.ErrReplay
	// ErrUseNonce: the proof lacks the server nonce, or carries a stale
	// one (use_dpop_nonce; the answer carries a fresh DPoP-Nonce).
	ErrUseNonce = errors.New("dpop: use the server nonce")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, a...)...)
}

// Claims are a proof's payload (RFC 9449 §4.2).
type Claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Parsed is a proof whose signature verified with its own embedded key,
// not yet checked against a request.
type Parsed struct {
	Claims
	// Key is the proof's public key; JKT its RFC 7638 SHA-256
	// thumbprint, base64url (cnf.jkt).
	Key jose.JSONWebKey
	JKT string
}

// Parse verifies a proof's form and signature (RFC 9449 §4.3 checks 2 to
// 7): one compact JWS, typ dpop+jwt, alg one of algs (asymmetric), a jwk
// header holding a public key only, the signature valid under that key,
// and a JSON payload with jti, htm, htu and iat.
func Parse(raw string, algs []string) (*Parsed, error) {
	if raw == "" {
		return nil, invalid("empty proof")
	}
	if len(raw) > MaxProofLen {
		return nil, invalid("proof too long")
	}
	if strings.Count(raw, ".") != 2 {
		return nil, invalid("proof is not a compact JWS")
	}
	sa := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, a := range algs {
		if a == "none" || strings.HasPrefix(a, "HS") {
			continue // never symmetric, never unsigned
		}
		sa = append(sa, jose.SignatureAlgorithm(a))
	}
	if len(sa) == 0 {
		return nil, invalid("no algorithm accepted")
	}
	jws, err := jose.ParseSignedCompact(raw, sa)
	if err != nil {
		return nil, invalid("proof is not a JWS signed with one of %s", strings.Join(algs, ", "))
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return nil, invalid("typ must be %s", Type)
	}
	if h.JSONWebKey == nil {
		return nil, invalid("jwk header is required")
	}
	key := *h.JSONWebKey
	if !key.IsPublic() || !key.Valid() {
		return nil, invalid("jwk must be a public key")
	}
	if rk, ok := key.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return nil, invalid("RSA keys must have at least %d bits", minRSABits)
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, invalid("jwk alg does not match the proof's alg")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, invalid("signature does not verify with the jwk")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("payload is not a JSON object of the DPoP claims")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > maxJTILen:
		return nil, invalid("jti must be 1..%d bytes", maxJTILen)
	case c.HTM == "":
		return nil, invalid("htm is required")
	case c.HTU == "":
		return nil, invalid("htu is required")
	case c.IAT == nil:
		return nil, invalid("iat is required")
	}
	jkt, err := Thumbprint(key)
	if err != nil {
		return nil, invalid("jwk has no thumbprint")
	}
	return &Parsed{Claims: c, Key: key, JKT: jkt}, nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of key, base64url: the
// value of cnf.jkt (RFC 9449 §6.1) and of dpop_jkt.
func Thumbprint(key jose.JSONWebKey) (string, error) {
	pub := key.Public()
	b, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ATH is the ath of a proof sent with accessToken (RFC 9449 §4.2):
// base64url of its SHA-256.
func ATH(accessToken string) string {
	s := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// NormalizeURI is u as htu compares (RFC 9449 §4.3 check 9, RFC 3986
// §6.2.2 and §6.2.3): scheme and host lowercase, the scheme's default
// port dropped, an empty path as "/", query and fragment left out. ok is
// false for anything but an absolute http(s) URI.
func NormalizeURI(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || p.Opaque != "" || p.User != nil {
		return "", false
	}
	scheme := strings.ToLower(p.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := strings.ToLower(p.Hostname()), p.Port()
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := p.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// JTIs records used proof ids, cluster-wide.
type JTIs interface {
	// UseDPoPJTI records jti of a proof by key jkt until exp, and fails
	// with an error matching ErrReplay when it
	// was already recorded and still live.
	UseDPoPJTI(ctx context.Context, jkt, jti string, exp time.Time) error
}

// Checker checks proofs against requests.
type Checker struct {
	// Lifetime is how old (by iat) a proof may be (dpop.proof_lifetime).
	Lifetime time.Duration
	// Algs accepted (default Algs).
	Algs []string
	// JTIs records used ids; nil only in tests of the other rules.
	JTIs JTIs
	// Nonces, when set, requires each proof to carry a current server
	// nonce (RFC 9449 §8).
	Nonces *Nonces
	Now    func() time.Time
}

// Request is what a proof must match: the method, the URI (issuer base +
// path: the expected htu) and, at a resource, the access token (ath).
type Request struct {
	Method      string
	URI         string
	AccessToken string
}

// Check takes the DPoP header values of a request (none: nil, nil; more
// than one is an error: RFC 9449 §4.3 check 1), parses the proof, and
// checks it against req: htm, htu, iat, ath when req has an access token,
// the nonce when Nonces is set, and last (so a bad proof spends nothing)
// that its jti is unused.
func (c *Checker) Check(ctx context.Context, headers []string, req Request) (*Parsed, error) {
	switch len(headers) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, invalid("more than one DPoP header")
	}
	p, err := Parse(headers[0], c.Accepted())
	if err != nil {
		return nil, err
	}
	if p.HTM != req.Method {
		return nil, invalid("htm does not match the request method")
	}
	want, ok := NormalizeURI(req.URI)
	got, gok := NormalizeURI(p.HTU)
	if !ok || !gok || got != want {
		return nil, invalid("htu does not match the request URI")
	}
	now := c.now()
	iat := time.Unix(*p.IAT, 0)
	if iat.After(now.Add(Leeway)) {
		return nil, invalid("iat is in the future")
	}
	if iat.Before(now.Add(-c.Lifetime - Leeway)) {
		return nil, invalid("proof is too old (iat)")
	}
	if req.AccessToken != "" {
		if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(ATH(req.AccessToken))) != 1 {
			return nil, invalid("ath does not match the access token")
		}
	} else if p.ATH != "" {
		return nil, invalid("ath without an access token")
	}
	if c.Nonces != nil {
		if err := c.Nonces.Check(p.Nonce); err != nil {
			return nil, err
		}
	}
	if c.JTIs != nil {
		// Kept until iat can no longer pass the age check above.
		err := c.JTIs.UseDPoPJTI(ctx, p.JKT, p.JTI, iat.Add(c.Lifetime+Leeway))
		if err != nil {
			if errors.Is(err, ErrReplay) {
				return nil, invalid("proof was already used (jti)")
			}
			return nil, err
		}
	}
	return p, nil
}

// Accepted are the algorithms proofs may use (Algs unless set); nil c:
// Algs.
func (c *Checker) Accepted() []string {
	if c == nil || len(c.Algs) == 0 {
		return Algs
	}
	return c.Algs
}

// SetNonce puts the nonce to use next in h (RFC 9449 §8), when nonces
// are on; nil c does nothing.
func (c *Checker) SetNonce(h http.Header) {
	if c != nil && c.Nonces != nil {
		h.Set(NonceHeader, c.Nonces.Current())
	}
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Bound reports whether a proof's key is the one a token was bound to.
func Bound(p *Parsed, jkt string) bool {
	return p != nil && jkt != "" && subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) == 1
}

// Description is the client-safe text of a proof error: the rule it
// broke, without the package prefix.
func Description(err error) string {
	s := err.Error()
	for _, pre := range []string{ErrInvalidProof.Error() + ": ", ErrUseNonce.Error() + ": "} {
		if rest, ok := strings.CutPrefix(s, pre); ok {
			return rest
		}
	}
	if slices.Contains([]string{ErrInvalidProof.Error(), ErrUseNonce.Error()}, s) {
		return s
	}
	return "invalid DPoP proof"
}
