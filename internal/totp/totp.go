package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Parameters of the codes this provider issues: what every common
// authenticator app supports (the otpauth URI's defaults).
const (
	// Period is the length of a time step (RFC 6238 §4: X = 30 s).
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// SecretLen is the length of a new secret in bytes: 160 bits, the
	// length of an HMAC-SHA1 output (RFC 4226 §4 R6 recommends it).
	SecretLen = 20
	// Skew is how many steps before and after the current one are
	// accepted, for clock drift and typing time (RFC 6238 §5.2).
	Skew = 1
)

// ErrCode: the code is malformed or matches no step in the window.
var ErrCode = errors.New("totp: wrong code")

// Hash selects the HMAC hash (RFC 6238 §1.2 allows SHA-256 and SHA-512;
// apps mostly support SHA1 only, which is what this provider issues).
type Hash func() hash.Hash

// The hashes of RFC 6238 appendix B.
var (
	SHA1   Hash = sha1.New
	SHA256 Hash = sha256.New
	SHA512 Hash = sha512.New
)

// NewSecret returns SecretLen random bytes.
func NewSecret() []byte {
	b := make([]byte, SecretLen)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

// Step is the time step of t (RFC 6238 §4.2: T = floor((t - T0) / X),
// T0 = 0).
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the HOTP value of secret at counter step with digits digits
// (RFC 4226 §5.3: dynamic truncation, then modulo 10^digits).
func Code(h Hash, secret []byte, step int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(h, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(bin%mod), 10)
	return strings.Repeat("0", digits-len(s)) + s
}

// Normalize strips the spaces and dashes people type or paste inside a
// code ("123 456"); it returns "" for anything that is not Digits digits.
func Normalize(code string) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
	if len(code) != Digits {
		return ""
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return code
}

// Verify finds the step in [Step(now)-Skew, Step(now)+Skew] whose code
// is code and that is later than last (the last step this secret
// accepted: a code, and every code before it, works once; RFC 6238
// §5.2). It returns that step, or ErrCode. Every step of the window is
// compared in constant time.
func Verify(secret []byte, code string, now time.Time, last int64) (int64, error) {
	code = Normalize(code)
	if code == "" {
		return 0, ErrCode
	}
	cur := Step(now)
	found := int64(-1)
	for s := cur - Skew; s <= cur+Skew; s++ {
		if subtle.ConstantTimeCompare([]byte(Code(SHA1, secret, s, Digits)), []byte(code)) == 1 && s > last && found < 0 {
			found = s
		}
	}
	if found < 0 {
		return 0, ErrCode
	}
	return found, nil
}

// EncodeSecret is the form apps take a secret in when typed: base32
// (RFC 4648) without padding.
func EncodeSecret(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// GroupedSecret is EncodeSecret in groups of four, easier to copy by hand.
func GroupedSecret(secret []byte) string {
	s := EncodeSecret(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// URI is the otpauth:// URI an authenticator app reads from a QR code:
// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
// (the de facto "Key Uri Format" every app follows).
func URI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", strconv.Itoa(Digits))
	q.Set("period", strconv.Itoa(int(Period/time.Second)))
	return "otpauth://totp/" + label + "?" + q.Encode()
}
