package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SweepPendingSignUps deletes self-service sign-ups that were never
// confirmed: pending accounts created more than olderThan ago (the
// verification link's lifetime) that hold no live verification link.
// Without it, a sign-up nobody confirms would keep its username and its
// record for ever, and anyone could fill the store with them. A link
// mailed again (a second sign-up with the same address) keeps the
// account until that link expires. It returns the users it deleted.
func (d *Directory) SweepPendingSignUps(ctx context.Context, olderThan time.Duration) ([]User, error) {
	now := d.now()
	live := map[string]bool{}
	err := d.store.List(ctx, BucketActionTokens, "", func(_ string, v []byte) error {
		var t ActionToken
		if json.Unmarshal(v, &t) == nil && t.Purpose == PurposeVerifyEmail && t.ExpMs > now.UnixMilli() {
			live[t.Subject] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: sweep sign-ups: %w", err)
	}
	cutoff := now.Add(-olderThan)
	var stale []string
	err = d.store.List(ctx, BucketUsers, "", func(sub string, v []byte) error {
		var u User
		if json.Unmarshal(v, &u) == nil && u.Pending && u.Created.Before(cutoff) && !live[u.Subject] {
			stale = append(stale, u.Subject)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: sweep sign-ups: %w", err)
	}
	var out []User
	var errs []error
	for _, sub := range stale {
		// Read again: confirmed since the scan means kept.
		u, err := d.User(ctx, sub)
		if errors.Is(err, ErrNotFound) || (err == nil && !u.Pending) {
			continue
		}
		if err == nil {
			err = d.DeleteUser(ctx, sub)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		out = append(out, u)
	}
	return out, errors.Join(errs...)
}
