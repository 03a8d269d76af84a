package crypto

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-jose/go-jose/v4"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/internal/memo"
)

// Errors of the cache's operations; they wrap the messages sentinels so a
// reply's code survives a trip across nodes.
var (
	ErrNoKey        = fmt.Errorf("%w: crypto: no usable key", messages.ErrUnavailable)
	ErrInvalidToken = fmt.Errorf("%w: crypto: token rejected", messages.ErrInvalid)
)

// Supported JWE algorithms for Encrypt and Decrypt.
var (
	KeyAlgorithms = []jose.KeyAlgorithm{jose.RSA_OAEP, jose.RSA_OAEP_256, jose.ECDH_ES, jose.ECDH_ES_A128KW, jose.ECDH_ES_A256KW}
	ContentAlgs   = []jose.ContentEncryption{jose.A128GCM, jose.A256GCM, jose.A128CBC_HS256}
)

type signKey struct {
	kid, alg string
	priv     any
	// signers caches one *compactSigner per "typ" header value.
	signers sync.Map
}

type decKey struct {
	kid, alg string
	priv     any
}

// snapshot is an immutable view of one key set version.
type snapshot struct {
	version   uint64
	signing   map[string]*signKey         // alg -> active signing key
	published map[string]*jose.JSONWebKey // kid -> public signing key in the JWKS
	sigAlgs   []jose.SignatureAlgorithm   // algs of published signing keys
	decrypt   map[string]*decKey          // kid -> published encryption key
	encActive map[string]bool             // alg -> an active encryption key exists
	jwks      []byte
	etag      string
	set       *messages.KeySet
}

// Cache is one node's copy of the key set, shared read-only by the Crypto
// actors. Swapping the snapshot is atomic; readers never lock.
type Cache struct {
	kek *keymanager.KEK
	cur atomic.Pointer[snapshot]
}

// NewCache returns an empty cache that unwraps keys with kek.
func NewCache(kek *keymanager.KEK) *Cache { return &Cache{kek: kek} }

// Version is the key set version the cache holds (0 = none yet).
func (c *Cache) Version() uint64 {
	if s := c.cur.Load(); s != nil {
		return s.version
	}
	return 0
}

// HasSigningKeys reports whether an active key exists for every alg: a
// signing key for a JWS alg, an encryption key for a JWE key alg
// (keys.algorithms may list both kinds).
func (c *Cache) HasSigningKeys(algs []string) bool {
	s := c.cur.Load()
	if s == nil {
		return false
	}
	for _, a := range algs {
		if use, _ := keymanager.UseOf(a); use == keymanager.UseEnc {
			if !s.encActive[a] {
				return false
			}
			continue
		}
		if s.signing[a] == nil {
			return false
		}
	}
	return true
}

// KeySet is the key set the cache holds (lifecycle data for metrics; its
// private halves are sealed), or nil.
func (c *Cache) KeySet() *messages.KeySet {
	if s := c.cur.Load(); s != nil {
		return s.set
	}
	return nil
}

// JWKS returns the precomputed JWKS document and its ETag.
func (c *Cache) JWKS() (body []byte, etag string, ok bool) {
	s := c.cur.Load()
	if s == nil {
		return nil, "", false
	}
	return s.jwks, s.etag, true
}

// Apply installs set if it is newer than what the cache holds. Pushes may
// arrive out of order or twice; older versions are ignored.
func (c *Cache) Apply(set *messages.KeySet) error {
	if set == nil {
		return errors.New("crypto: nil key set")
	}
	if cur := c.cur.Load(); cur != nil && cur.version >= set.Version {
		return nil
	}
	s, err := c.build(set)
	if err != nil {
		return err
	}
	for {
		cur := c.cur.Load()
		if cur != nil && cur.version >= s.version {
			return nil
		}
		if c.cur.CompareAndSwap(cur, s) {
			return nil
		}
	}
}

func (c *Cache) build(set *messages.KeySet) (*snapshot, error) {
	s := &snapshot{
		version:   set.Version,
		signing:   map[string]*signKey{},
		published: map[string]*jose.JSONWebKey{},
		decrypt:   map[string]*decKey{},
		encActive: map[string]bool{},
		set:       set,
	}
	jwks := jose.JSONWebKeySet{}
	// Active keys first, so a verifier that takes the first match of an
	// alg picks the one in use.
	order := map[string]int{keymanager.StatusActive: 0, keymanager.StatusNext: 1, keymanager.StatusRetiring: 2}
	keys := slices.Clone(set.Keys)
	slices.SortStableFunc(keys, func(a, b *messages.Key) int { return order[a.Status] - order[b.Status] })
	for _, k := range keys {
		if !keymanager.Published(k) {
			continue
		}
		var pub jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJwk, &pub); err != nil {
			return nil, fmt.Errorf("crypto: public key %s: %w", k.Kid, err)
		}
		jwks.Keys = append(jwks.Keys, pub)
		needPrivate := k.Status == keymanager.StatusActive || k.Use == keymanager.UseEnc
		var priv any
		if needPrivate {
			der, err := c.kek.Unwrap(k.Kid, k.WrappedPrivate)
			if err != nil {
				return nil, err
			}
			priv, err = x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, fmt.Errorf("crypto: private key %s: %w", k.Kid, err)
			}
		}
		switch k.Use {
		case keymanager.UseSig:
			s.published[k.Kid] = &pub
			if a := jose.SignatureAlgorithm(k.Alg); !slices.Contains(s.sigAlgs, a) {
				s.sigAlgs = append(s.sigAlgs, a)
			}
			if k.Status == keymanager.StatusActive {
				s.signing[k.Alg] = &signKey{kid: k.Kid, alg: k.Alg, priv: priv}
			}
		case keymanager.UseEnc:
			s.decrypt[k.Kid] = &decKey{kid: k.Kid, alg: k.Alg, priv: priv}
			if k.Status == keymanager.StatusActive {
				s.encActive[k.Alg] = true
			}
		}
	}
	body, err := json.Marshal(jwks)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	s.jwks = body
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return s, nil
}

// Sign makes a compact JWS of payload with the active key of alg.
func (c *Cache) Sign(alg string, payload []byte, typ string) (token, kid string, err error) {
	s := c.cur.Load()
	if s == nil {
		return "", "", ErrNoKey
	}
	k := s.signing[alg]
	if k == nil {
		return "", "", fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	signer, err := k.signer(typ)
	if err != nil {
		return "", "", err
	}
	token, err = signer.sign(payload)
	return token, k.kid, err
}

func (k *signKey) signer(typ string) (*compactSigner, error) {
	if s, ok := k.signers.Load(typ); ok {
		return s.(*compactSigner), nil
	}
	s, err := newCompactSigner(k.alg, k.kid, k.priv, typ)
	if err != nil {
		return nil, err
	}
	actual, _ := k.signers.LoadOrStore(typ, s)
	return actual.(*compactSigner), nil
}

// Verify checks a compact JWS against the keys in our JWKS. Only algs we
// publish are accepted, narrowed further by algs when given; a token whose
// kid is not published (revoked, removed, foreign) fails.
func (c *Cache) Verify(token string, algs []string) (payload []byte, kid, alg string, err error) {
	return c.VerifyType(token, "", algs)
}

// VerifyType is Verify that also requires the JOSE "typ" header (RFC 8725
// §3.11: a token of one kind must not pass for another; RFC 9068 §4).
// "at+jwt" also matches "application/at+jwt".
func (c *Cache) VerifyType(token, typ string, algs []string) (payload []byte, kid, alg string, err error) {
	s := c.cur.Load()
	if s == nil {
		return nil, "", "", ErrNoKey
	}
	allowed := s.sigAlgs
	if len(algs) > 0 {
		allowed = nil
		for _, a := range algs {
			if sa := jose.SignatureAlgorithm(a); slices.Contains(s.sigAlgs, sa) {
				allowed = append(allowed, sa)
			}
		}
	}
	if len(allowed) == 0 {
		return nil, "", "", fmt.Errorf("%w: no acceptable algorithm", ErrInvalidToken)
	}
	h, input, payload, sig, err := parseCompact(token)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !slices.Contains(allowed, jose.SignatureAlgorithm(h.Alg)) {
		return nil, "", "", fmt.Errorf("%w: algorithm %q not accepted", ErrInvalidToken, h.Alg)
	}
	if typ != "" && !strings.EqualFold(strings.TrimPrefix(strings.ToLower(h.Typ), "application/"), typ) {
		return nil, "", "", fmt.Errorf("%w: typ %q, want %q", ErrInvalidToken, h.Typ, typ)
	}
	pub := s.published[h.Kid]
	if pub == nil || pub.Algorithm != h.Alg {
		return nil, "", "", fmt.Errorf("%w: unknown key %q", ErrInvalidToken, h.Kid)
	}
	if err := verifySignature(h.Alg, pub.Key, input, sig); err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return payload, h.Kid, h.Alg, nil
}

// recipientKeys are parsed recipient JWKs by the SHA-256 of their JSON:
// a client's key arrives as the same bytes with each response.
var recipientKeys = memo.New[*jose.JSONWebKey](1024)

// Encrypt makes a compact JWE of plaintext to the recipient's public JWK.
func Encrypt(plaintext, recipientJWK []byte, alg, enc, cty string) (string, error) {
	h := sha256.Sum256(recipientJWK)
	jwk, err := recipientKeys.Get(string(h[:]), func() (*jose.JSONWebKey, error) {
		var k jose.JSONWebKey
		if err := json.Unmarshal(recipientJWK, &k); err != nil {
			return nil, fmt.Errorf("%w: recipient key: %w", messages.ErrInvalid, err)
		}
		return &k, nil
	})
	if err != nil {
		return "", err
	}
	ka, ce := jose.KeyAlgorithm(alg), jose.ContentEncryption(enc)
	if !slices.Contains(KeyAlgorithms, ka) || !slices.Contains(ContentAlgs, ce) {
		return "", fmt.Errorf("%w: unsupported JWE alg/enc %s/%s", messages.ErrInvalid, alg, enc)
	}
	if !jwk.IsPublic() {
		return "", fmt.Errorf("%w: recipient key must be a public key", messages.ErrInvalid)
	}
	// RFC 7517 §4.4: a key that names its algorithm is used with no other.
	if jwk.Algorithm != "" && jwk.Algorithm != alg {
		return "", fmt.Errorf("%w: recipient key is for %s, not %s", messages.ErrInvalid, jwk.Algorithm, alg)
	}
	opts := &jose.EncrypterOptions{}
	if cty != "" {
		opts = opts.WithContentType(jose.ContentType(cty))
	}
	e, err := jose.NewEncrypter(ce, jose.Recipient{Algorithm: ka, Key: jwk.Key, KeyID: jwk.KeyID}, opts)
	if err != nil {
		return "", fmt.Errorf("%w: encrypter: %w", messages.ErrInvalid, err)
	}
	obj, err := e.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("crypto: encrypt: %w", err)
	}
	return obj.CompactSerialize()
}

// Decrypt opens a compact JWE addressed to one of our published
// encryption keys: the one its kid names, or, without a kid, each
// published key of its alg in turn.
func (c *Cache) Decrypt(token string) (plaintext []byte, kid string, err error) {
	s := c.cur.Load()
	if s == nil || len(s.decrypt) == 0 {
		return nil, "", fmt.Errorf("%w: no decryption key", ErrNoKey)
	}
	if len(token) > maxExternalToken {
		return nil, "", fmt.Errorf("%w: token too large", ErrInvalidToken)
	}
	obj, err := jose.ParseEncryptedCompact(token, KeyAlgorithms, ContentAlgs)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var candidates []*decKey
	if obj.Header.KeyID != "" {
		if k := s.decrypt[obj.Header.KeyID]; k != nil && k.alg == obj.Header.Algorithm {
			candidates = append(candidates, k)
		}
	} else {
		for _, k := range s.decrypt {
			if k.alg == obj.Header.Algorithm {
				candidates = append(candidates, k)
			}
		}
	}
	if len(candidates) == 0 {
		return nil, "", fmt.Errorf("%w: unknown key %q", ErrInvalidToken, obj.Header.KeyID)
	}
	for _, k := range candidates {
		if pt, err := obj.Decrypt(k.priv); err == nil {
			return pt, k.kid, nil
		}
	}
	return nil, "", fmt.Errorf("%w: cannot decrypt", ErrInvalidToken)
}
