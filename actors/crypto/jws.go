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
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// compactSigner makes compact JWS (RFC 7515 §7.1) with one key and one
// protected header, computed once: a signature is the key operation, two
// base64url encodings and one allocation for the token. go-jose's signer
// rebuilt and re-marshalled the header on every call, which cost as much
// as an ES256 signature in allocations. Verification (parseCompact,
// verifySignature) likewise reads the three parts directly.
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

// maxJWS bounds a token we parse: ours are a few hundred bytes to a few KB.
const maxJWS = 16 << 10

// jwsHeader is the protected header fields verification reads.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// parseCompact splits a compact JWS (exactly three base64url parts,
// RFC 7515 §7.1) and decodes its protected header. A header naming
// critical extensions is refused: we implement none (RFC 7515 §4.1.11),
// which also rules out an unencoded payload (RFC 7797 needs "b64" in crit).
func parseCompact(token string) (h jwsHeader, signingInput string, payload, sig []byte, err error) {
	if len(token) > maxJWS {
		return h, "", nil, nil, errors.New("token too large")
	}
	i, j := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
	if i < 0 || i == j || strings.IndexByte(token[i+1:j], '.') >= 0 {
		return h, "", nil, nil, errors.New("not a compact JWS")
	}
	// Go's base64 decoders skip CR and LF, even strict ones: a part with
	// line breaks would decode like one without, so one token would have
	// several spellings. base64url has no line breaks (RFC 7515 §2).
	if strings.ContainsAny(token, "\r\n") {
		return h, "", nil, nil, errors.New("not a compact JWS")
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err := enc.DecodeString(token[:i])
	if err != nil {
		return h, "", nil, nil, errors.New("header is not base64url")
	}
	if len(hb) == 0 || hb[0] != '{' || json.Unmarshal(hb, &h) != nil {
		return h, "", nil, nil, errors.New("header is not a JSON object")
	}
	if h.Crit != nil {
		return h, "", nil, nil, errors.New("critical header parameters are not supported")
	}
	if payload, err = enc.DecodeString(token[i+1 : j]); err != nil {
		return h, "", nil, nil, errors.New("payload is not base64url")
	}
	if sig, err = enc.DecodeString(token[j+1:]); err != nil || len(sig) == 0 {
		return h, "", nil, nil, errors.New("signature is not base64url")
	}
	return h, token[:j], payload, sig, nil
}

// verifySignature checks sig over input with pub for alg (one of the
// algorithms we sign with).
func verifySignature(alg string, pub any, input string, sig []byte) error {
	digest := func() []byte {
		hh := sha256.New()
		io.WriteString(hh, input)
		return hh.Sum(nil)
	}
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == "ES256" && k.Curve.Params().BitSize == 256 && len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			ok = ecdsa.Verify(k, digest(), r, s)
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256":
			ok = rsa.VerifyPKCS1v15(k, stdcrypto.SHA256, digest(), sig) == nil
		case "PS256":
			ok = rsa.VerifyPSS(k, stdcrypto.SHA256, digest(), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		}
	case ed25519.PublicKey:
		ok = alg == "EdDSA" && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, []byte(input), sig)
	}
	if !ok {
		return errors.New("signature does not verify")
	}
	return nil
}
