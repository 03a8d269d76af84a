package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"authrim/persistence"
)

// BucketPushed holds pushed authorization requests (RFC 9126) until they
// are used or expire, keyed by the reference in their request_uri
// (declared in persistence/schema.go).
const BucketPushed = persistence.BucketPushed

// PushedURIPrefix starts every request_uri /par returns (RFC 9126 §2.2).
const PushedURIPrefix = "urn:ietf:params:oauth:request_uri:"

// Errors of pushed requests and request objects.
var (
	// ErrPushedUnknown: the request_uri is unknown, used, expired or
	// belongs to another client. One error for all, so nothing is told.
	ErrPushedUnknown = errors.New("directory: pushed request unknown, used or expired")
)

type pushedRecord struct {
	ClientID string `json:"client_id"`
	Params   string `json:"params"`
	Exp      int64  `json:"exp"`
}

// PushRequest stores the parameters of a pushed authorization request of
// clientID for ttl and returns its request_uri (RFC 9126 §2.2): a random
// reference with 256 bits, usable once, by this client only.
func (d *Directory) PushRequest(ctx context.Context, clientID string, params url.Values, ttl time.Duration) (string, error) {
	if err := checkClientKey(clientID); err != nil {
		return "", err
	}
	ref, err := randomToken(32)
	if err != nil {
		return "", err
	}
	rec, err := json.Marshal(pushedRecord{ClientID: clientID, Params: params.Encode(), Exp: d.now().Add(ttl).UnixMilli()})
	if err != nil {
		return "", fmt.Errorf("directory: encode pushed request: %w", err)
	}
	if err := d.store.Create(ctx, BucketPushed, ref, rec); err != nil {
		return "", fmt.Errorf("directory: store pushed request: %w", err)
	}
	return PushedURIPrefix + ref, nil
}

// TakePushedRequest returns the parameters pushed as requestURI by
// clientID and deletes them (single use, RFC 9126 §4): a second take, an
// expired one, or one by another client gets ErrPushedUnknown. Another
// client's attempt does not consume the request.
func (d *Directory) TakePushedRequest(ctx context.Context, clientID, requestURI string) (url.Values, error) {
	ref, ok := cutPrefix(requestURI, PushedURIPrefix)
	if !ok || ref == "" || len(ref) > 64 {
		return nil, ErrPushedUnknown
	}
	now := d.now().UnixMilli()
	var got pushedRecord
	err := d.store.Update(ctx, BucketPushed, ref, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, ErrPushedUnknown
		}
		var r pushedRecord
		if json.Unmarshal(old, &r) != nil {
			return nil, nil // unreadable: drop it
		}
		if r.ClientID != clientID {
			return old, ErrPushedUnknown
		}
		got = r
		return nil, nil
	})
	if err != nil {
		if errors.Is(err, ErrPushedUnknown) {
			return nil, ErrPushedUnknown
		}
		return nil, fmt.Errorf("directory: take pushed request: %w", err)
	}
	if got.ClientID == "" || got.Exp <= now {
		return nil, ErrPushedUnknown
	}
	v, err := url.ParseQuery(got.Params)
	if err != nil {
		return nil, ErrPushedUnknown
	}
	return v, nil
}

// sweepPushed deletes expired pushed requests.
func (d *Directory) sweepPushed(ctx context.Context) (int, error) {
	now := d.now().UnixMilli()
	var stale []string
	err := d.store.List(ctx, BucketPushed, "", func(key string, v []byte) error {
		var r pushedRecord
		if json.Unmarshal(v, &r) != nil || r.Exp <= now {
			stale = append(stale, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("directory: sweep pushed requests: %w", err)
	}
	n := 0
	for _, key := range stale {
		if err := d.store.Delete(ctx, BucketPushed, key); err == nil {
			n++
		}
	}
	return n, nil
}

// UseRequestJTI records the jti of a request object of clientID until exp
// (plus JTIGrace); a second use while recorded returns ErrReplay
// (RFC 9101 §10.3 leaves replay protection to the server; we refuse
// replays). It shares the jti bucket with client assertions under its
// own key space.
func (d *Directory) UseRequestJTI(ctx context.Context, clientID, jti string, exp time.Time) error {
	return d.useJTI(ctx, "request:"+clientID, clientID, jti, exp)
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return "", false
	}
	return s[len(prefix):], true
}
