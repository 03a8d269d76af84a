package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/persistence"
)

// IndexBucket maps user codes to device authorization ids.
const IndexBucket = persistence.BucketDeviceUserCodes

// keepAfterExpiry is how long a device record outlives its expiry before
// the sweeper deletes it, so a late poll still gets expired_token rather
// than invalid_grant.
const keepAfterExpiry = time.Hour

// ErrNoUserCode: every fresh user code tried was taken (practically
// never: 20^7 codes).
var ErrNoUserCode = errors.New("device: no free user code")

type indexEntry struct {
	ID  string `json:"id"`
	Exp int64  `json:"exp"`
}

// Reserve takes a fresh user code for device authorization id until
// expires. The index entry is created only if absent, so two
// authorizations never share a code, on any node.
func Reserve(ctx context.Context, store persistence.Backend, id string, expires time.Time) (string, error) {
	b, err := json.Marshal(indexEntry{ID: id, Exp: expires.UnixMilli()})
	if err != nil {
		return "", err
	}
	for range 8 {
		code := NewUserCode()
		err := store.Create(ctx, IndexBucket, code, b)
		if errors.Is(err, persistence.ErrConflict) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("device: reserve user code: %w", err)
		}
		return code, nil
	}
	return "", ErrNoUserCode
}

// Lookup returns the device authorization id of a normalised user code,
// or an error wrapping persistence.ErrNotFound when there is none (or it
// expired at now).
func Lookup(ctx context.Context, store persistence.Backend, code string, now time.Time) (string, error) {
	b, err := store.Get(ctx, IndexBucket, code)
	if err != nil {
		return "", err
	}
	var e indexEntry
	if json.Unmarshal(b, &e) != nil || e.Exp <= now.UnixMilli() {
		return "", persistence.ErrNotFound
	}
	return e.ID, nil
}

// Sweep deletes user code entries past their expiry and device records
// keepAfterExpiry past theirs; it returns how many records it deleted.
// A record is deleted only if it still holds the bytes Sweep read.
func Sweep(ctx context.Context, store persistence.Backend, now time.Time) (int, error) {
	type dead struct {
		bucket persistence.Bucket
		key    string
		value  []byte
	}
	var batch []dead
	err := store.List(ctx, IndexBucket, "", func(key string, v []byte) error {
		var e indexEntry
		if json.Unmarshal(v, &e) == nil && e.Exp <= now.UnixMilli() {
			batch = append(batch, dead{IndexBucket, key, bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("device: sweep: %w", err)
	}
	err = store.List(ctx, Bucket, "", func(key string, v []byte) error {
		st := &messages.DeviceState{}
		if proto.Unmarshal(v, st) == nil && st.ExpiresMs+keepAfterExpiry.Milliseconds() <= now.UnixMilli() {
			batch = append(batch, dead{Bucket, key, bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("device: sweep: %w", err)
	}
	changed := errors.New("changed")
	n := 0
	for _, d := range batch {
		err := store.Update(ctx, d.bucket, d.key, func(old []byte, exists bool) ([]byte, error) {
			if !exists || !bytes.Equal(old, d.value) {
				return nil, changed
			}
			return nil, nil
		})
		switch {
		case errors.Is(err, changed):
		case err != nil:
			return n, fmt.Errorf("device: sweep: %w", err)
		default:
			n++
		}
	}
	return n, nil
}
