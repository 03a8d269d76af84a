package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/persistence"
)

// sweepBatch bounds how many records one listing pass collects, so a
// large backlog is swept in passes of bounded memory.
const sweepBatch = 1024

// errChanged aborts a sweep's Update: the record is no longer the one
// that was found dead.
var errChanged = errors.New("session: record changed since it was listed")

// Sweep deletes the session records that hold nothing once what has
// expired at now is dropped (by the same rules as a grain applies), and
// returns how many it deleted. codeTTL and accessTokenTTL must be the
// grains' Config.CodeTTL and AccessTokenTTL.
//
// A grain prunes its own record whenever the session is used; Sweep is for
// the records nobody comes back to, such as the session a cookieless
// /authorize creates for a sign-in that is never finished. Records that
// still hold something are left as they are. A record is deleted only if
// it still holds the bytes Sweep decoded, so one a grain rewrote in the
// meantime is left alone. A record that does not decode is left too (the
// grain reports it when the session is used).
func Sweep(ctx context.Context, store persistence.Backend, now time.Time, codeTTL, accessTokenTTL time.Duration) (removed int, err error) {
	type dead struct {
		key   string
		value []byte
	}
	for {
		var batch []dead
		full := errors.New("batch full")
		err := store.List(ctx, Bucket, "", func(key string, v []byte) error {
			st := &messages.SessionState{}
			if proto.Unmarshal(v, st) != nil {
				return nil
			}
			prune(st, st, now, codeTTL, accessTokenTTL)
			if !empty(st) {
				return nil
			}
			batch = append(batch, dead{key: key, value: bytes.Clone(v)})
			if len(batch) >= sweepBatch {
				return full
			}
			return nil
		})
		more := errors.Is(err, full)
		if err != nil && !more {
			return removed, fmt.Errorf("session: sweep: %w", err)
		}
		n := 0
		for _, d := range batch {
			err := store.Update(ctx, Bucket, d.key, func(old []byte, exists bool) ([]byte, error) {
				if !exists || !bytes.Equal(old, d.value) {
					return nil, errChanged
				}
				return nil, nil // delete
			})
			switch {
			case errors.Is(err, errChanged):
			case err != nil:
				return removed, fmt.Errorf("session: sweep: %w", err)
			default:
				n++
			}
		}
		removed += n
		// Another pass only if this one stopped early and made progress
		// (a full batch of records that all changed would repeat).
		if !more || n == 0 {
			return removed, nil
		}
	}
}
