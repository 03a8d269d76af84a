package keymanager

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// ErrKEK reports a key-encryption key that cannot be used.
var ErrKEK = errors.New("keymanager: key-encryption key")

// KEK seals private keys (AES-256-GCM). Every node of a cluster reads the
// same KEK file; the KEK itself is never stored with the data or sent.
// It also authenticates key-set pushes (see SealPush), with a key derived
// from it for that purpose alone.
type KEK struct {
	aead    cipher.AEAD
	pushMAC []byte
	// nonce keys the DPoP server nonces (DPoPNonceKey).
	nonce []byte
}

// pushMACInfo separates the push-authentication key from any other use
// of the KEK (HKDF, RFC 5869 §3.2).
const pushMACInfo = "authrim/keymanager/key-set-push/v1"

// dpopNonceInfo separates the DPoP nonce key likewise.
const dpopNonceInfo = "authrim/dpop/nonce/v1"

// NewKEK builds a KEK from 32 raw bytes.
func NewKEK(raw []byte) (*KEK, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("%w: need 32 bytes, got %d", ErrKEK, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	mk, err := hkdf.Key(sha256.New, raw, nil, pushMACInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	nk, err := hkdf.Key(sha256.New, raw, nil, dpopNonceInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	return &KEK{aead: aead, pushMAC: mk, nonce: nk}, nil
}

// LoadOrCreateKEK reads the hex-encoded KEK at path, creating it (32 random
// bytes, mode 0600, parent directory 0700) when the file does not exist. It
// refuses a file that others may read.
func LoadOrCreateKEK(path string) (*KEK, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		// Written whole to a private temporary file, then linked into
		// place: the link fails if another process (nodes of a cluster
		// starting at once on one KEK path) got there first, and nobody
		// ever reads a file that is created but not yet written.
		f, err := os.CreateTemp(filepath.Dir(path), ".kek-*")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		tmp := f.Name()
		defer os.Remove(tmp)
		if _, err := f.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
			return LoadOrCreateKEK(path)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKEK, err)
		}
		return NewKEK(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	if st, err := os.Stat(path); err == nil && !kekPrivate(st) {
		return nil, fmt.Errorf("%w: %s is readable by others (mode %v); chmod 600 it (group read is accepted only for the node's own group)", ErrKEK, path, st.Mode().Perm())
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not hex", ErrKEK, path)
	}
	return NewKEK(raw)
}

// Wrap seals plaintext; the kid is bound as additional data so a sealed key
// cannot be swapped onto another key record.
func (k *KEK) Wrap(kid string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plaintext, []byte(kid)), nil
}

// Unwrap opens what Wrap sealed for the same kid.
func (k *KEK) Unwrap(kid string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed key too short", ErrKEK)
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot unwrap key %s (wrong KEK?)", ErrKEK, kid)
	}
	return pt, nil
}

// ErrPush: a key-set push that was not made with this KEK (forged,
// altered, or from a node with another KEK).
var ErrPush = errors.New("keymanager: key-set push not authenticated")

// SealPush encodes set for a push to the nodes' key caches, with a MAC
// only holders of the KEK can make. The caches' actors are reachable by
// every cluster member (and, with cluster.insecure_loopback, by local
// users): the MAC is what makes a push the KeyManager's.
func (k *KEK) SealPush(set *messages.KeySet) (*messages.KeySetChanged, error) {
	b, err := proto.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keymanager: encode key set: %w", err)
	}
	return &messages.KeySetChanged{Set: b, Mac: k.mac(b)}, nil
}

// OpenPush checks a push's MAC and decodes its set.
func (k *KEK) OpenPush(m *messages.KeySetChanged) (*messages.KeySet, error) {
	if !hmac.Equal(m.GetMac(), k.mac(m.GetSet())) {
		return nil, ErrPush
	}
	set := &messages.KeySet{}
	if err := proto.Unmarshal(m.GetSet(), set); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPush, err)
	}
	return set, nil
}

func (k *KEK) mac(b []byte) []byte {
	h := hmac.New(sha256.New, k.pushMAC)
	h.Write(b)
	return h.Sum(nil)
}

// kekPrivate reports whether only the node can read the KEK file: no
// permission for others, no group write, and group read only when the
// group is the node's own. That last case is how Kubernetes mounts a
// Secret into a pod with an fsGroup (mode 0440, group = the pod's fsGroup,
// which is the node's group), and how a host shares a root-owned secret
// with one service's group.
func kekPrivate(st os.FileInfo) bool {
	perm := st.Mode().Perm()
	if perm&0o037 != 0 {
		return false
	}
	if perm&0o040 == 0 {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Gid) == os.Getegid()
}

// DPoPNonceKey keys the DPoP server nonces (RFC 9449 §8): derived from
// the KEK, so every node of a cluster accepts the nonces of the others.
func (k *KEK) DPoPNonceKey() []byte { return k.nonce }
