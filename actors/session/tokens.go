package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrMalformed: a token or cookie that is not one of ours.
var ErrMalformed = errors.New("session: malformed token")

// NewID returns a random identifier of n bytes, base64url.
func NewID(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error since Go 1.24.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSessionID returns a fresh session id and cookie secret.
func NewSessionID() (sid, secret string) { return NewID(16), NewID(32) }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func same(a, b []byte) bool { return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1 }

func validPart(s string, min int) bool {
	if len(s) < min || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// SplitCookie splits a session cookie "sid.secret".
func SplitCookie(v string) (sid, secret string, err error) {
	sid, secret, ok := strings.Cut(v, ".")
	if !ok || !validPart(sid, 16) || !validPart(secret, 32) {
		return "", "", ErrMalformed
	}
	return sid, secret, nil
}

// SplitCode splits an authorization code "sid.secret".
func SplitCode(v string) (sid, secret string, err error) { return SplitCookie(v) }

// SplitRefresh splits a refresh token "sid.grant.secret".
func SplitRefresh(v string) (sid, grant, secret string, err error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || !validPart(parts[0], 16) || !validPart(parts[1], 16) || !validPart(parts[2], 32) {
		return "", "", "", ErrMalformed
	}
	return parts[0], parts[1], parts[2], nil
}
