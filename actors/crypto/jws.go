package crypto

import (
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// compactSigner makes compact JWS (RFC 7515 §7.1) with one key and one
// protected header, computed once: a signature is the key operation, two
// base64url encodings and one allocation for the token. go-jose's signer
// rebuilt and re-marshalled the header on every call, which cost as much
// as an ES256 signature in allocations. Verification stays on go-jose.
type compactSigner struct {
	alg    string
	priv   any
	header string // base64url of the protected header, with the dot
}

func newCompactSigner(alg, kid string, priv any, typ string) (*compactSigner, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != "ES256" || k.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("crypto: %s with a P-%d key", alg, k.Curve.Params().BitSize)
		}
	case *rsa.PrivateKey:
		if alg != "RS256" && alg != "PS256" {
			return nil, fmt.Errorf("crypto: %s with an RSA key", alg)
		}
	case ed25519.PrivateKey:
		if alg != "EdDSA" {
			return nil, fmt.Errorf("crypto: %s with an Ed25519 key", alg)
		}
	default:
		return nil, fmt.Errorf("crypto: cannot sign %s with %T", alg, priv)
	}
	h := struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ,omitempty"`
	}{alg, kid, typ}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return &compactSigner{alg: alg, priv: priv, header: base64.RawURLEncoding.EncodeToString(b) + "."}, nil
}

// sign returns header.payload.signature.
func (s *compactSigner) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	// One buffer for the whole token: header, payload, and room for the
	// largest signature we make (RSA 4096: 512 bytes -> 683 characters).
	buf := make([]byte, 0, len(s.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, s.header...)
	buf = enc.AppendEncode(buf, payload)
	input := buf
	var sig []byte
	var err error
	switch k := s.priv.(type) {
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(input)
		var r, ss []byte
		if r, ss, err = ecdsaSign(k, d[:]); err == nil {
			sig = append(r, ss...)
		}
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		if s.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, k, stdcrypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, stdcrypto.SHA256, d[:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	}
	if err != nil {
		return "", fmt.Errorf("crypto: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// ecdsaSign signs digest with a P-256 key and returns r and s as 32-byte
// big-endian values, the JWS form (RFC 7518 §3.4).
func ecdsaSign(k *ecdsa.PrivateKey, digest []byte) (r, s []byte, err error) {
	ri, si, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, nil, err
	}
	r, s = make([]byte, 32), make([]byte, 32)
	ri.FillBytes(r)
	si.FillBytes(s)
	return r, s, nil
}
