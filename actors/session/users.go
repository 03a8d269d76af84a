package session

// A user's sessions as the account page and the admin API see them: the
// per-user index, each entry confirmed by its grain before it is shown
// or ended.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"authrim/actors/messages"
	"authrim/persistence"
)

// ErrNotUsers is the answer for a session that is not one of the user's
// live sessions: never theirs, or already ended. Both look the same, so
// the answer does not tell whether a session id exists for someone else.
var ErrNotUsers = errors.New("session: no such session of the user")

// Grains is what UserSessions asks of the Session grains
// (cluster.Sessions has these methods).
type Grains interface {
	Describe(ctx context.Context, sid, subject string) (*messages.SessionReply, error)
	End(ctx context.Context, sid, subject, reason string) (*messages.SessionReply, error)
}

// Active is one of a user's sessions, as its grain confirmed it.
type Active struct {
	IndexEntry
	Login *messages.Login
	// Clients that have tokens or an ID token of this sign-in.
	Clients []string
}

// UserSessions lists and ends a user's sessions through the per-user
// index, so that no session record of anyone else is read.
type UserSessions struct {
	Store  persistence.Backend
	Grains Grains
}

// List returns subject's live sessions, the most recent sign-in first.
// Index entries whose grain no longer knows a login of subject (expired,
// ended while the entry's removal failed) are dropped as they are met.
func (u *UserSessions) List(ctx context.Context, subject string) ([]Active, error) {
	entries, err := ListIndex(ctx, u.Store, subject)
	if err != nil {
		return nil, err
	}
	out := make([]Active, 0, len(entries))
	for _, e := range entries {
		r, err := u.Grains.Describe(ctx, e.Sid, subject)
		if errors.Is(err, messages.ErrNotFound) {
			if err := DropIndex(ctx, u.Store, subject, e.Sid); err != nil {
				return nil, fmt.Errorf("session: drop index entry: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("session: describe: %w", err)
		}
		out = append(out, Active{IndexEntry: e, Login: r.Login, Clients: r.Clients})
	}
	slices.SortFunc(out, func(a, b Active) int {
		return cmp.Or(cmp.Compare(b.SignedInMs, a.SignedInMs), cmp.Compare(a.Sid, b.Sid))
	})
	return out, nil
}

// Indexed reports whether sid is in subject's index.
func (u *UserSessions) Indexed(ctx context.Context, subject, sid string) (bool, error) {
	// A session id is 22 characters; anything else, or a NUL that would
	// reach into another key, is nobody's (and never reaches the store).
	if subject == "" || sid == "" || len(sid) > 64 || strings.ContainsRune(subject+sid, 0) {
		return false, nil
	}
	_, err := u.Store.Get(ctx, IndexBucket, indexKey(subject, sid))
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("session: read index: %w", err)
	}
	return true, nil
}

// End ends subject's session sid (its relying parties are told, by
// back-channel logout). A session id that is not in subject's index is
// ErrNotUsers without any grain being asked: a user, or an operator
// acting for one, never ends another user's session. (The grain checks
// the subject too.)
func (u *UserSessions) End(ctx context.Context, subject, sid, reason string) error {
	ok, err := u.Indexed(ctx, subject, sid)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotUsers
	}
	_, err = u.Grains.End(ctx, sid, subject, reason)
	if errors.Is(err, messages.ErrNotFound) {
		// Over already: the index entry outlived it.
		if err := DropIndex(ctx, u.Store, subject, sid); err != nil {
			return fmt.Errorf("session: drop index entry: %w", err)
		}
		return ErrNotUsers
	}
	if err != nil {
		return fmt.Errorf("session: end: %w", err)
	}
	return nil
}

// EndAll ends every session of subject except the one named except (""
// for none) and returns the ids it ended. It goes on past a session it
// cannot end; err joins those failures.
func (u *UserSessions) EndAll(ctx context.Context, subject, except, reason string) (ended []string, err error) {
	entries, err := ListIndex(ctx, u.Store, subject)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		if e.Sid == except {
			continue
		}
		switch err := u.End(ctx, subject, e.Sid, reason); {
		case err == nil:
			ended = append(ended, e.Sid)
		case errors.Is(err, ErrNotUsers):
		default:
			errs = append(errs, err)
		}
	}
	return ended, errors.Join(errs...)
}
