package crypto

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"authrim/actors/messages"
)

// SignatureAlgs are the JWS algorithms accepted from other parties
// (request objects): the ones we can verify, never "none" (which the
// front end handles itself, and only for clients that registered it).
var SignatureAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// maxExternalToken bounds a token handed to VerifyWithKeys.
const maxExternalToken = 64 << 10

// jwksCache keeps parsed client key sets by the hash of their JSON, so a
// busy client's keys are not parsed for every request. It is bounded: it
// is emptied when it grows past maxCachedSets.
type jwksCache struct {
	mu   sync.Mutex
	sets map[[32]byte]*jose.JSONWebKeySet
}

const maxCachedSets = 1024

var parsedSets = &jwksCache{sets: map[[32]byte]*jose.JSONWebKeySet{}}

func (c *jwksCache) parse(raw []byte) (*jose.JSONWebKeySet, error) {
	sum := sha256.Sum256(raw)
	c.mu.Lock()
	s := c.sets[sum]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("%w: key set: %w", messages.ErrInvalid, err)
	}
	c.mu.Lock()
	if len(c.sets) >= maxCachedSets {
		clear(c.sets)
	}
	c.sets[sum] = &set
	c.mu.Unlock()
	return &set, nil
}

// VerifyWithKeys checks a compact JWS against the signer's public JWK set
// (JSON). Only algs (narrowed to SignatureAlgs; all of them when empty)
// are accepted. A key is tried when its kid matches the header's (any key
// when the header names none), its "use" is not "enc", its "alg" (if any)
// is the header's, and its type fits the algorithm.
func VerifyWithKeys(token string, jwks []byte, algs []string) (payload []byte, kid, alg string, err error) {
	if len(token) > maxExternalToken {
		return nil, "", "", fmt.Errorf("%w: token too large", ErrInvalidToken)
	}
	allowed := SignatureAlgs
	if len(algs) > 0 {
		allowed = nil
		for _, a := range algs {
			if sa := jose.SignatureAlgorithm(a); slices.Contains(SignatureAlgs, sa) {
				allowed = append(allowed, sa)
			}
		}
	}
	if len(allowed) == 0 {
		return nil, "", "", fmt.Errorf("%w: no acceptable algorithm", ErrInvalidToken)
	}
	set, err := parsedSets.parse(jwks)
	if err != nil {
		return nil, "", "", err
	}
	obj, err := jose.ParseSigned(token, allowed)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, "", "", fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	h := obj.Signatures[0].Protected
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != h.Algorithm) || !fits(k.Key, h.Algorithm) {
			continue
		}
		if p, err := obj.Verify(k.Key); err == nil {
			return p, k.KeyID, h.Algorithm, nil
		}
	}
	return nil, "", "", fmt.Errorf("%w: no key of the signer verifies it", ErrInvalidToken)
}

// fits tells whether a public key can verify alg.
func fits(key any, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" || alg == "PS256"
	case *ecdsa.PublicKey:
		return alg == "ES256"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
