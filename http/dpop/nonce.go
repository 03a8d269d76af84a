package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// NonceHeader carries a server-provided nonce in answers (RFC 9449 §8).
const NonceHeader = "DPoP-Nonce"

// Nonces are server-provided nonces (RFC 9449 §8) that need no shared
// state: a nonce is a time window's number and an HMAC of it under a key
// every node of the cluster derives alike, so any node accepts what any
// other handed out. A nonce is accepted in its window and the next one,
// so it rotates every Period and lives between one and two of them.
type Nonces struct {
	Key    []byte
	Period time.Duration
	Now    func() time.Time
}

func (n *Nonces) window(t time.Time) uint64 {
	return uint64(t.UnixNano() / int64(n.Period))
}

func (n *Nonces) mac(w uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], w)
	m := hmac.New(sha256.New, n.Key)
	m.Write([]byte("authrim dpop nonce\x00"))
	m.Write(b[:])
	return append(b[:], m.Sum(nil)[:16]...)
}

func (n *Nonces) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

// Current is the nonce to hand out now.
func (n *Nonces) Current() string {
	return base64.RawURLEncoding.EncodeToString(n.mac(n.window(n.now())))
}

// Check accepts a nonce of this window or the one before; any other
// (missing, forged, stale) is ErrUseNonce.
func (n *Nonces) Check(nonce string) error {
	if nonce == "" {
		return fmt.Errorf("%w: a server nonce is required", ErrUseNonce)
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return fmt.Errorf("%w: unknown nonce", ErrUseNonce)
	}
	w := binary.BigEndian.Uint64(b[:8])
	cur := n.window(n.now())
	if w != cur && w+1 != cur {
		return fmt.Errorf("%w: stale nonce", ErrUseNonce)
	}
	if !hmac.Equal(n.mac(w), b) {
		return fmt.Errorf("%w: unknown nonce", ErrUseNonce)
	}
	return nil
}
