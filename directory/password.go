package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// argon2id output sizes (RFC 9106 §3.1 recommends a 16-byte salt; 32-byte
// tags are the usual choice for password hashing).
const (
	saltLen = 16
	keyLen  = 32
)

// Bounds accepted when reading parameters back from a stored hash. A
// record is data, so a damaged or tampered one must not make a login ask
// for terabytes of memory.
const (
	maxTime      = 64
	maxMemoryKiB = 4 * 1024 * 1024 // 4 GiB
	maxThreads   = 255
	minMemoryKiB = 8 * 1024
)

// errMalformedHash is returned for a stored hash we cannot parse. It is an
// internal error (a damaged record), never ErrInvalidCredentials, so that
// it shows up in logs instead of looking like a mistyped password.
var errMalformedHash = errors.New("directory: stored password hash is malformed")

type argonParams struct {
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

// newParams validates argon2id parameters for new hashes: at least 8 MiB
// of memory (as node config requires), one pass, 1..255 lanes (RFC 9106
// §3.1).
func newParams(t, memKiB, threads int) (argonParams, error) {
	if t < 1 || t > maxTime {
		return argonParams{}, invalid("argon2 time must be 1..%d, got %d", maxTime, t)
	}
	if memKiB < minMemoryKiB || memKiB > maxMemoryKiB {
		return argonParams{}, invalid("argon2 memory must be %d..%d KiB, got %d", minMemoryKiB, maxMemoryKiB, memKiB)
	}
	if threads < 1 || threads > maxThreads {
		return argonParams{}, invalid("argon2 threads must be 1..%d, got %d", maxThreads, threads)
	}
	return argonParams{time: uint32(t), memory: uint32(memKiB), threads: uint8(threads)}, nil
}

// hashSlots bounds how many argon2id hashes run at once: each holds its
// memory cost (64 MiB by default) until it ends, so a burst of password
// sign-ins would otherwise allocate that many times over (32 at once took
// a node past 2 GB). One per core: more only share the cores and add
// memory; the others wait their turn.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// hashing counts the hashes running now; peakHashing is its maximum
// (what the bound test reads).
var hashing, peakHashing atomic.Int32

func argon2id(pw string, salt []byte, p argonParams, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { hashing.Add(-1); <-hashSlots }()
	now := hashing.Add(1)
	for old := peakHashing.Load(); now > old && !peakHashing.CompareAndSwap(old, now); old = peakHashing.Load() {
	}
	return argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, n)
}

// hashPassword returns the PHC string of an argon2id hash of pw with a
// fresh salt:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, as in the PHC string
// format and the argon2 reference implementation.
func hashPassword(pw string, p argonParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("directory: random salt: %w", err)
	}
	key := argon2id(pw, salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword reports whether pw matches the PHC string phc, using the
// parameters stored in phc. The final comparison is constant-time.
func verifyPassword(phc, pw string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2id(pw, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parsePHC reads an argon2id PHC string. Errors never quote the input: it
// is a hash.
func parsePHC(phc string) (argonParams, []byte, []byte, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return argonParams{}, nil, nil, errMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return argonParams{}, nil, nil, fmt.Errorf("%w: unsupported argon2 version", errMalformedHash)
	}
	var p argonParams
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return argonParams{}, nil, nil, errMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return argonParams{}, nil, nil, errMalformedHash
		}
		switch k {
		case "m":
			p.memory, seen = uint32(n), seen|1
		case "t":
			p.time, seen = uint32(n), seen|2
		case "p":
			if n > maxThreads {
				return argonParams{}, nil, nil, errMalformedHash
			}
			p.threads, seen = uint8(n), seen|4
		default:
			return argonParams{}, nil, nil, errMalformedHash
		}
	}
	if seen != 7 || p.time < 1 || p.time > maxTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > maxMemoryKiB {
		return argonParams{}, nil, nil, fmt.Errorf("%w: parameters out of range", errMalformedHash)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return argonParams{}, nil, nil, errMalformedHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return argonParams{}, nil, nil, errMalformedHash
	}
	return p, salt, key, nil
}
