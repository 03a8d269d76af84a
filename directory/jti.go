package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// JTIGrace is how long past its exp a used assertion id stays recorded.
// The token endpoint accepts an assertion a little after its exp to allow
// for clock skew; an id must stay recorded for at least as long, or the
// same assertion could be replayed within that leeway.
const JTIGrace = 5 * time.Minute

// maxJTILen bounds a jti (the store key is client id + jti).
const maxJTILen = 1024

type jtiRecord struct {
	// Exp is the assertion's exp, in Unix seconds.
	Exp int64 `json:"exp"`
}

// jtiKey joins client id and jti. The space cannot occur in a client id,
// so no two pairs share a key.
func jtiKey(clientID, jti string) string { return clientID + " " + jti }

// live reports whether a recorded id still blocks reuse at now.
func (r jtiRecord) live(now time.Time) bool {
	return now.Before(time.Unix(r.Exp, 0).Add(JTIGrace))
}

// UseJTI records that clientID used a private_key_jwt assertion with this
// jti, expiring at exp (RFC 7523 §3 item 7: the server may keep track of
// used jti values to prevent replay). The first use wins atomically; any
// later use while the record is live returns ErrReplay. A record older
// than exp + JTIGrace no longer counts and is overwritten (SweepJTIs
// deletes them). Checking the assertion's exp itself is the caller's job.
func (d *Directory) UseJTI(ctx context.Context, clientID, jti string, exp time.Time) error {
	return d.useJTI(ctx, clientID, clientID, jti, exp)
}

// useJTI records jti under space (a client id, or a prefixed one whose
// ':' cannot occur in a client id, so the spaces never meet).
func (d *Directory) useJTI(ctx context.Context, space, clientID, jti string, exp time.Time) error {
	if err := checkClientKey(clientID); err != nil {
		return err
	}
	if jti == "" || len(jti) > maxJTILen {
		return invalid("jti must be 1..%d bytes", maxJTILen)
	}
	if exp.IsZero() {
		return invalid("assertion has no exp")
	}
	err := d.recordJTI(ctx, jtiKey(space, jti), exp)
	if errors.Is(err, ErrReplay) {
		return fmt.Errorf("%w: client %q", ErrReplay, clientID)
	}
	return err
}

// recordJTI records key until exp (plus JTIGrace): the first use wins
// atomically, a later one while the record is live is ErrReplay.
func (d *Directory) recordJTI(ctx context.Context, key string, exp time.Time) error {
	now := d.now()
	rec, err := json.Marshal(jtiRecord{Exp: exp.Unix()})
	if err != nil {
		return fmt.Errorf("directory: encode jti: %w", err)
	}
	err = d.store.Update(ctx, BucketJTIs, key, func(old []byte, exists bool) ([]byte, error) {
		if exists {
			var prev jtiRecord
			// An unreadable record counts as used: refusing one login is
			// better than accepting a replay.
			if json.Unmarshal(old, &prev) != nil || prev.live(now) {
				return nil, ErrReplay
			}
		}
		return rec, nil
	})
	if errors.Is(err, ErrReplay) {
		return err
	}
	if err != nil {
		return fmt.Errorf("directory: record jti: %w", err)
	}
	return nil
}

// UseDPoPJTI records the jti of a DPoP proof made with the key of
// thumbprint jkt, until exp (plus JTIGrace), cluster-wide: a second use
// while recorded returns ErrReplay (RFC 9449 §11.1). The key is a hash
// of jkt and jti (both chosen by the client), in its own space of the
// jti bucket: "dpop:" cannot begin a client id.
func (d *Directory) UseDPoPJTI(ctx context.Context, jkt, jti string, exp time.Time) error {
	if jkt == "" || jti == "" || len(jti) > maxJTILen {
		return invalid("jti must be 1..%d bytes", maxJTILen)
	}
	if exp.IsZero() {
		return invalid("proof has no expiry")
	}
	h := sha256.Sum256([]byte(jkt + " " + jti))
	return d.recordJTI(ctx, jtiKey("dpop:", hex.EncodeToString(h[:])), exp)
}

// SweepJTIs deletes the used-jti records that no longer block anything,
// expired pushed authorization requests and action tokens (mailed
// links), and returns how many it
// deleted. Run it now and then; correctness does not depend on it (UseJTI
// ignores stale records, TakePushedRequest expired ones).
func (d *Directory) SweepJTIs(ctx context.Context) (int, error) {
	pushed, err := d.sweepPushed(ctx)
	if err != nil {
		return 0, err
	}
	links, err := d.sweepActionTokens(ctx)
	if err != nil {
		return 0, err
	}
	n, err := d.sweepJTIs(ctx)
	return n + pushed + links, err
}

func (d *Directory) sweepJTIs(ctx context.Context) (int, error) {
	now := d.now()
	var stale []string
	err := d.store.List(ctx, BucketJTIs, "", func(key string, v []byte) error {
		var r jtiRecord
		if json.Unmarshal(v, &r) == nil && !r.live(now) {
			stale = append(stale, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("directory: sweep jtis: %w", err)
	}
	n := 0
	for _, key := range stale {
		// Delete only if still stale: the id may have been reused (and
		// recorded anew) since the listing.
		deleted := false
		err := d.store.Update(ctx, BucketJTIs, key, func(old []byte, exists bool) ([]byte, error) {
			deleted = false
			var r jtiRecord
			if !exists || json.Unmarshal(old, &r) != nil || r.live(now) {
				return old, nil
			}
			deleted = true
			return nil, nil
		})
		if err != nil {
			return n, fmt.Errorf("directory: sweep jtis: %w", err)
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// UseUpstreamState records that an upstream sign-in's state (a hash of
// it) came back, until exp: a second callback with it, even with the
// sealed cookie copied, is ErrReplay. Its space "upstream:" cannot begin
// a client id.
func (d *Directory) UseUpstreamState(ctx context.Context, stateHash string, exp time.Time) error {
	if stateHash == "" || len(stateHash) > maxJTILen {
		return invalid("state must be 1..%d bytes", maxJTILen)
	}
	return d.recordJTI(ctx, jtiKey("upstream:", stateHash), exp)
}
