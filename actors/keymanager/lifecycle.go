package keymanager

import (
	"fmt"
	"slices"
	"time"

	"authrim/actors/messages"
)

// Key statuses. A key is published in the JWKS while next, active or
// retiring; removed and revoked keys are kept as records without their
// private half.
const (
	StatusNext     = "next"
	StatusActive   = "active"
	StatusRetiring = "retiring"
	StatusRemoved  = "removed"
	StatusRevoked  = "revoked"
)

// Policy is what the lifecycle follows, per algorithm.
type Policy struct {
	Algorithms []string
	// RotationPeriod: how long a key stays active.
	RotationPeriod time.Duration
	// PublishAhead: how long a next key is published before it may sign;
	// at least the JWKS cache lifetime, so verifiers already have it.
	PublishAhead time.Duration
	// RetireAfter: how long a replaced key stays published; at least the
	// longest lifetime of anything it signed.
	RetireAfter time.Duration
}

// newKeyFunc makes a fresh sealed key record for alg, created at now.
type newKeyFunc func(alg string, now time.Time) (*messages.Key, error)

// Published reports whether k belongs in the JWKS.
func Published(k *messages.Key) bool {
	switch k.Status {
	case StatusNext, StatusActive, StatusRetiring:
		return true
	}
	return false
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// find returns the first key of alg with status st.
func find(set *messages.KeySet, alg, st string) *messages.Key {
	for _, k := range set.Keys {
		if k.Alg == alg && k.Status == st {
			return k
		}
	}
	return nil
}

// retire takes a key out of signing and schedules it out of the JWKS.
func retire(k *messages.Key, p Policy, now time.Time) {
	k.Status = StatusRetiring
	k.RetiredMs = ms(now)
	k.RemoveAtMs = ms(now.Add(p.RetireAfter))
}

// drop ends a key's life and forgets its private half.
func drop(k *messages.Key, status string, now time.Time) {
	k.Status = status
	k.WrappedPrivate = nil
	if status == StatusRemoved {
		k.RemovedMs = ms(now)
	} else {
		k.RevokedMs = ms(now)
	}
}

// advance brings the set up to date at now: retiring keys past their time
// leave the JWKS, a next key whose time has come becomes active, every
// configured algorithm has exactly one active and one next key, and keys of
// algorithms no longer configured wind down. It reports whether it changed
// anything; the caller persists before it acts on the result.
func advance(set *messages.KeySet, p Policy, now time.Time, newKey newKeyFunc) (bool, error) {
	changed := false
	for _, k := range set.Keys {
		if k.Status == StatusRetiring && k.RemoveAtMs <= ms(now) {
			drop(k, StatusRemoved, now)
			changed = true
		}
		if slices.Contains(p.Algorithms, k.Alg) {
			continue
		}
		switch k.Status {
		case StatusActive:
			retire(k, p, now)
			changed = true
		case StatusNext:
			drop(k, StatusRemoved, now)
			changed = true
		}
	}
	for _, alg := range p.Algorithms {
		active := find(set, alg, StatusActive)
		next := find(set, alg, StatusNext)
		// A next key is promoted when its time comes, or at once when there
		// is no active key (the active one was revoked): it is already
		// published, which is the best a revocation allows.
		if next != nil && (next.ActivateAtMs <= ms(now) || active == nil) {
			if active != nil {
				retire(active, p, now)
			}
			next.Status = StatusActive
			next.ActivatedMs = ms(now)
			active, next = next, nil
			changed = true
		}
		if active == nil {
			k, err := newKey(alg, now)
			if err != nil {
				return changed, err
			}
			k.Status = StatusActive
			k.ActivatedMs = ms(now)
			set.Keys = append(set.Keys, k)
			active = k
			changed = true
		}
		if next == nil {
			k, err := newKey(alg, now)
			if err != nil {
				return changed, err
			}
			k.Status = StatusNext
			at := time.UnixMilli(active.ActivatedMs).Add(p.RotationPeriod)
			if earliest := now.Add(p.PublishAhead); at.Before(earliest) {
				at = earliest
			}
			k.ActivateAtMs = ms(at)
			set.Keys = append(set.Keys, k)
			changed = true
		}
	}
	return changed, nil
}

// rotate brings the next key's activation forward to the earliest moment
// it may sign: now, or when it has been published for PublishAhead. An
// empty alg rotates every algorithm. The promotion itself happens in
// advance, so a rotation that must wait is carried out by the timer.
func rotate(set *messages.KeySet, p Policy, alg string, now time.Time) (bool, error) {
	if alg != "" && !slices.Contains(p.Algorithms, alg) {
		return false, fmt.Errorf("%w: algorithm %q is not configured", messages.ErrInvalid, alg)
	}
	changed := false
	for _, k := range set.Keys {
		if k.Status != StatusNext || (alg != "" && k.Alg != alg) {
			continue
		}
		at := time.UnixMilli(k.CreatedMs).Add(p.PublishAhead)
		if at.Before(now) {
			at = now
		}
		if ms(at) < k.ActivateAtMs {
			k.ActivateAtMs = ms(at)
			changed = true
		}
	}
	return changed, nil
}

// revoke takes kid out of the JWKS at once; nothing is signed with it again.
// Revoking a key that is already revoked is a no-op (delivery may repeat).
func revoke(set *messages.KeySet, kid, reason string, now time.Time) (bool, error) {
	for _, k := range set.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Status == StatusRevoked {
			return false, nil
		}
		drop(k, StatusRevoked, now)
		k.RevokeReason = reason
		return true, nil
	}
	return false, fmt.Errorf("%w: no key %q", messages.ErrNotFound, kid)
}
