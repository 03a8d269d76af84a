package directory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"authrim/persistence"
)

// MaxUsernameLen bounds a username, in characters.
const MaxUsernameLen = 64

// maxSubjectLen bounds what User accepts as a subject before asking the
// store (subjects we issue are 22 characters).
const maxSubjectLen = 255

// User is a stored user. PasswordHash is an argon2id PHC string; front
// ends must not show it.
type User struct {
	// Subject is the OIDC sub: random, opaque and never reassigned
	// (OIDC Core §2: locally unique and never reassigned). 128 random bits
	// make a reuse after deletion practically impossible.
	Subject string `json:"sub"`
	// Username is what the user types to sign in, as registered (case
	// preserved). Uniqueness ignores case.
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
	// Claims are OIDC standard claims (OIDC Core §5.1), see
	// StandardClaims.
	Claims  map[string]any `json:"claims,omitempty"`
	Created time.Time      `json:"created"`
	// Updated is the record's last change (creation, disable, enable):
	// the updated_at claim.
	Updated time.Time `json:"updated"`
	// Disabled users cannot sign in, and nothing issued to them works
	// any more: sessions, codes, refresh and access tokens (see Active).
	Disabled bool `json:"disabled,omitempty"`
	// SessionsNotBefore ends every sign-in made before it: set when the
	// user is disabled, so enabling them again does not revive what they
	// had (a session, a refresh token held by a stolen device).
	SessionsNotBefore time.Time `json:"sessions_not_before,omitzero"`
	// Pending: the user signed up themselves and has not confirmed
	// their address yet; they cannot sign in (ErrUserPending) until
	// VerifyEmail clears it.
	Pending bool `json:"pending,omitempty"`
	// Admin lets the user into the admin console (http/console). Only the
	// admin API grants it (authrim users grant-admin); the console checks
	// it again at every request.
	Admin bool `json:"admin,omitempty"`
}

// Active reports whether a sign-in of u made at authTime may still be
// used: u is enabled and signed in after their sessions were last ended.
// A user that no longer exists has no record to ask: callers treat
// ErrNotFound as inactive.
func (u User) Active(authTime time.Time) bool {
	return !u.Disabled && authTime.After(u.SessionsNotBefore)
}

// ClaimValues are the user's claims as clients may receive them: the
// stored standard claims plus updated_at, the time of the record's last
// change in seconds since the epoch (OIDC Core §5.1), which the directory
// keeps itself. The map is the caller's.
func (u User) ClaimValues() map[string]any {
	out := make(map[string]any, len(u.Claims)+1)
	maps.Copy(out, u.Claims)
	t := u.Updated
	if t.IsZero() {
		t = u.Created
	}
	if !t.IsZero() {
		out["updated_at"] = t.Unix()
	}
	return out
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username string
	Password string
	Claims   map[string]any
	// Pending: a self-service sign-up, which cannot sign in before its
	// address is confirmed.
	Pending bool
}

// canonicalUsername returns the username to show (case preserved) and the
// key of the uniqueness index. Both are PRECIS-enforced (RFC 8265 §3.3 and
// §3.4): width-folded and NFC-normalized, so that two names that look the
// same cannot both be registered; the key is also lowercased. The
// IdentifierClass (RFC 8264 §4.2) refuses spaces and control characters.
func canonicalUsername(s string) (display, key string, err error) {
	if s == "" {
		return "", "", invalid("username must not be empty")
	}
	if len(s) > 4*MaxUsernameLen || !utf8.ValidString(s) {
		return "", "", invalid("username must be 1..%d characters of UTF-8", MaxUsernameLen)
	}
	display, err = precis.UsernameCasePreserved.String(s)
	if err != nil {
		return "", "", invalid("username may not contain spaces, control characters or symbols outside letters, digits and ASCII punctuation")
	}
	if n := utf8.RuneCountInString(display); n < 1 || n > MaxUsernameLen {
		return "", "", invalid("username must be 1..%d characters", MaxUsernameLen)
	}
	key, err = precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", "", invalid("username may not contain spaces, control characters or symbols outside letters, digits and ASCII punctuation")
	}
	return display, key, nil
}

// CreateUser registers a user. It returns an error wrapping ErrInvalid for
// bad input and ErrUsernameTaken when the username (compared without case)
// is in use. Exactly one of several concurrent creates of a username
// succeeds: the usernames index is claimed with Backend.Create first, and
// released again if the user record cannot be written.
func (d *Directory) CreateUser(ctx context.Context, in NewUser) (User, error) {
	var problems []string
	display, key, err := canonicalUsername(in.Username)
	if err != nil {
		problems = append(problems, reason(err))
	}
	if err := d.passwords.Check(in.Password, display); err != nil {
		problems = append(problems, reason(err))
	}
	claims, err := checkClaims(in.Claims)
	if err != nil {
		problems = append(problems, reason(err))
	}
	if err := invalidAll(problems); err != nil {
		return User{}, err
	}

	// Cheap early refusals before the expensive hash. They are not what
	// guarantees uniqueness (Create below is).
	if _, err := d.store.Get(ctx, BucketUsernames, key); err == nil {
		return User{}, fmt.Errorf("%w: %q", ErrUsernameTaken, display)
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("directory: create user: %w", err)
	}
	// Lookups take "subject or username"; a username equal to an existing
	// subject would make them ambiguous.
	if _, err := d.store.Get(ctx, BucketUsers, display); err == nil {
		return User{}, fmt.Errorf("%w: %q", ErrUsernameTaken, display)
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("directory: create user: %w", err)
	}

	hash, err := hashPassword(in.Password, d.params)
	if err != nil {
		return User{}, err
	}
	subject, err := randomToken(16)
	if err != nil {
		return User{}, err
	}
	now := d.now().UTC()
	u := User{Subject: subject, Username: display, PasswordHash: hash, Claims: claims, Created: now, Updated: now, Pending: in.Pending}
	rec, err := json.Marshal(u)
	if err != nil {
		return User{}, fmt.Errorf("directory: encode user: %w", err)
	}

	if err := d.store.Create(ctx, BucketUsernames, key, []byte(subject)); err != nil {
		if errors.Is(err, persistence.ErrConflict) {
			return User{}, fmt.Errorf("%w: %q", ErrUsernameTaken, display)
		}
		return User{}, fmt.Errorf("directory: create user: %w", err)
	}
	if err := d.store.Create(ctx, BucketUsers, subject, rec); err != nil {
		rctx, cancel := rollbackCtx(ctx)
		defer cancel()
		if rerr := d.releaseUsername(rctx, key, subject); rerr != nil {
			return User{}, fmt.Errorf("directory: create user: %w (and releasing the username failed: %v)", err, rerr)
		}
		return User{}, fmt.Errorf("directory: create user: %w", err)
	}
	return u, nil
}

// releaseUsername deletes the index entry key if it still points to
// subject, so a rollback or delete never frees a name someone else holds.
func (d *Directory) releaseUsername(ctx context.Context, key, subject string) error {
	return d.store.Update(ctx, BucketUsernames, key, func(old []byte, exists bool) ([]byte, error) {
		if !exists || string(old) == subject {
			return nil, nil
		}
		return old, nil
	})
}

// User returns the user with this subject, or ErrNotFound.
func (d *Directory) User(ctx context.Context, subject string) (User, error) {
	return d.user(ctx, subject, cloneUser)
}

// sharedUser is a clone function that does not copy: for callers that
// only read the record and let nothing of it out.
func sharedUser(u User) User { return u }

func (d *Directory) user(ctx context.Context, subject string, clone func(User) User) (User, error) {
	if subject == "" || len(subject) > maxSubjectLen {
		return User{}, fmt.Errorf("%w: user", ErrNotFound)
	}
	b, err := d.store.Get(ctx, BucketUsers, subject)
	if errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, clip(subject))
	}
	if err != nil {
		return User{}, fmt.Errorf("directory: get user: %w", err)
	}
	u, err := d.users.get(subject, b, func(b []byte) (User, error) {
		var u User
		err := json.Unmarshal(b, &u)
		return u, err
	}, clone)
	if err != nil {
		return User{}, fmt.Errorf("directory: decode user %q: %w", subject, err)
	}
	return u, nil
}

// cloneUser copies what a caller could change without touching the
// cached user: the claims map (claim values are only read).
func cloneUser(u User) User {
	u.Claims = maps.Clone(u.Claims)
	return u
}

// UserByUsername returns the user with this username (compared without
// case), or ErrNotFound.
func (d *Directory) UserByUsername(ctx context.Context, username string) (User, error) {
	_, key, err := canonicalUsername(username)
	if err != nil {
		// No such name can have been registered.
		return User{}, fmt.Errorf("%w: user", ErrNotFound)
	}
	sub, err := d.store.Get(ctx, BucketUsernames, key)
	if errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, clip(username))
	}
	if err != nil {
		return User{}, fmt.Errorf("directory: get username: %w", err)
	}
	// A create that died between claiming the name and writing the record
	// leaves the name pointing nowhere: User then says ErrNotFound.
	return d.User(ctx, string(sub))
}

// FindUser returns the user whose subject, or else whose username, is ref.
func (d *Directory) FindUser(ctx context.Context, ref string) (User, error) {
	u, err := d.User(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return d.UserByUsername(ctx, ref)
	}
	return u, err
}

// ListUsers returns every user, sorted by username (without case).
func (d *Directory) ListUsers(ctx context.Context) ([]User, error) {
	type keyed struct {
		key string
		u   User
	}
	var all []keyed
	err := d.store.List(ctx, BucketUsers, "", func(sub string, b []byte) error {
		var u User
		if err := json.Unmarshal(b, &u); err != nil {
			return fmt.Errorf("directory: decode user %q: %w", sub, err)
		}
		_, key, err := canonicalUsername(u.Username)
		if err != nil {
			key = u.Username // a record from an older rule set: still list it
		}
		all = append(all, keyed{key, u})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list users: %w", err)
	}
	slices.SortFunc(all, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.u.Subject, b.u.Subject))
	})
	out := make([]User, len(all))
	for i, k := range all {
		out[i] = k.u
	}
	return out, nil
}

// DeleteUser removes the user whose subject, or else whose username, is
// ref, with their passkeys, and frees the username and the passkeys'
// credential IDs. The subject is never handed out again. ErrNotFound when
// there is no such user.
func (d *Directory) DeleteUser(ctx context.Context, ref string) error {
	u, err := d.FindUser(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		// A delete that died half-way may have left the passkeys of a
		// subject (or the index entry of a username) behind: finish it.
		dropped, perr := d.dropPasskeys(ctx, ref)
		if perr != nil {
			return perr
		}
		if had, merr := d.ResetMFA(ctx, ref); merr != nil {
			return merr
		} else if had {
			dropped = true
		}
		err := d.dropDanglingUsername(ctx, ref)
		if dropped && errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	// The record goes first: while it exists the name stays claimed, so a
	// concurrent create cannot end up with two records for one name. It
	// also makes a concurrent AddPasskey undo itself (it checks the user
	// after writing).
	if err := d.store.Delete(ctx, BucketUsers, u.Subject); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
		}
		return fmt.Errorf("directory: delete user: %w", err)
	}
	// Passkeys before the username: should this fail, the name still
	// points to the subject and `users delete NAME` finishes the job.
	if _, err := d.dropPasskeys(ctx, u.Subject); err != nil {
		return err
	}
	if _, err := d.ResetMFA(ctx, u.Subject); err != nil {
		return err
	}
	// Its upstream identities become unknown again: a later sign-in
	// with one of them must not find a link to a deleted subject.
	if err := d.dropLinks(ctx, u.Subject); err != nil {
		return err
	}
	_, key, err := canonicalUsername(u.Username)
	if err != nil {
		return nil // never indexed under the current rules
	}
	if err := d.releaseUsername(ctx, key, u.Subject); err != nil {
		return fmt.Errorf("directory: delete user: release username: %w", err)
	}
	return nil
}

// dropDanglingUsername frees a username whose index entry points to no
// record (left by a create that died half-way), so an operator can reuse
// the name with `users delete NAME`. Without such an entry it returns
// ErrNotFound.
func (d *Directory) dropDanglingUsername(ctx context.Context, ref string) error {
	notFound := fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
	_, key, err := canonicalUsername(ref)
	if err != nil {
		return notFound
	}
	sub, err := d.store.Get(ctx, BucketUsernames, key)
	if errors.Is(err, persistence.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("directory: delete user: %w", err)
	}
	if _, err := d.User(ctx, string(sub)); !errors.Is(err, ErrNotFound) {
		if err == nil {
			// The record appeared meanwhile (a create finished): that
			// user is not what the caller saw as missing.
			return fmt.Errorf("directory: delete user: %w", persistence.ErrConflict)
		}
		return err
	}
	if _, err := d.dropPasskeys(ctx, string(sub)); err != nil {
		return err
	}
	if err := d.releaseUsername(ctx, key, string(sub)); err != nil {
		return fmt.Errorf("directory: delete user: %w", err)
	}
	return nil
}

// SubjectActive reports whether a sign-in of subject made at authTime
// may still be used (User.Active): false when the user was deleted or is
// disabled, or signed in before their sessions were ended. An error means
// the store could not tell; callers fail closed.
func (d *Directory) SubjectActive(ctx context.Context, subject string, authTime time.Time) (bool, error) {
	// Read on every use of a session or grant: no copy of the claims.
	u, err := d.user(ctx, subject, sharedUser)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Active(authTime), nil
}

// SetUserDisabled disables (or enables again) the user whose subject, or
// else whose username, is ref, and returns the record as stored. Disabling
// also ends every sign-in made so far (SessionsNotBefore), so enabling
// the user later does not bring those back; disabling a disabled user
// changes nothing. ErrNotFound when there is no such user.
func (d *Directory) SetUserDisabled(ctx context.Context, ref string, disabled bool) (User, error) {
	u, err := d.FindUser(ctx, ref)
	if err != nil {
		return User{}, err
	}
	if u.Disabled == disabled {
		return u, nil
	}
	var out User
	err = d.store.Update(ctx, BucketUsers, u.Subject, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
		}
		var cur User
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode user %q: %w", u.Subject, err)
		}
		out = cur
		if cur.Disabled == disabled {
			return old, nil
		}
		now := d.now().UTC()
		out.Disabled, out.Updated = disabled, now
		if disabled {
			out.SessionsNotBefore = now
		}
		return json.Marshal(out)
	})
	if errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
	}
	if err != nil {
		return User{}, fmt.Errorf("directory: disable user: %w", err)
	}
	return out, nil
}

// SetUserAdmin grants (admin true) or revokes the admin role of the user
// ref names (subject or username). A revoked admin's next console request
// is refused: the console reads the record each time.
func (d *Directory) SetUserAdmin(ctx context.Context, ref string, admin bool) (User, error) {
	u, err := d.FindUser(ctx, ref)
	if err != nil {
		return User{}, err
	}
	var out User
	err = d.store.Update(ctx, BucketUsers, u.Subject, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
		}
		if err := json.Unmarshal(old, &out); err != nil {
			return nil, fmt.Errorf("directory: decode user %q: %w", u.Subject, err)
		}
		if out.Admin == admin {
			return old, nil
		}
		out.Admin, out.Updated = admin, d.now().UTC()
		return json.Marshal(out)
	})
	if errors.Is(err, persistence.ErrNotFound) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
	}
	if err != nil {
		return User{}, fmt.Errorf("directory: set admin role: %w", err)
	}
	return out, nil
}

// Authenticate checks a username and password. Unknown username and wrong
// password both give ErrInvalidCredentials, after the same argon2id work:
// an unknown user is checked against a dummy hash made at New, so the
// answer time does not reveal which usernames exist. (Users whose hash was
// made with other parameters than the current ones take a different time;
// that only tells that such a user exists if an attacker already knows
// the old parameters were in use.) A store failure is returned as is, not
// as ErrInvalidCredentials.
func (d *Directory) Authenticate(ctx context.Context, username, password string) (User, error) {
	u, err := d.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	if err != nil || len(password) > MaxPasswordLen {
		// Overlong passwords are not hashed (bounded work per request);
		// they cannot match a stored hash made under the policy anyway.
		pw := password
		if len(pw) > MaxPasswordLen {
			pw = ""
		}
		_, _ = verifyPassword(d.dummyHash, pw)
		return User{}, ErrInvalidCredentials
	}
	ok, err := verifyPassword(u.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("directory: user %q: %w", u.Subject, err)
	}
	if !ok {
		return User{}, ErrInvalidCredentials
	}
	if u.Disabled {
		// Told only to whoever knows the password; it still matches
		// ErrInvalidCredentials, so the page says the same.
		return User{}, ErrUserDisabled
	}
	if u.Pending {
		return User{}, ErrUserPending
	}
	return u, nil
}

// reason returns the safe text of an InvalidError.
func reason(err error) string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}
