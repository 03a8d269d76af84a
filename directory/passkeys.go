package directory

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"

	"authrim/persistence"
)

// Passkey buckets, declared in persistence/schema.go.
const (
	// BucketPasskeys maps a subject to the JSON list of that user's
	// passkeys.
	BucketPasskeys = persistence.BucketPasskeys
	// BucketPasskeyIDs maps base64url(credential ID) to the subject that
	// registered it: the uniqueness index, claimed with Backend.Create, so
	// one authenticator credential can never belong to two users.
	BucketPasskeyIDs = persistence.BucketPasskeyIDs
)

// Passkey limits.
const (
	// MaxPasskeys bounds how many passkeys one user may register.
	MaxPasskeys = 20
	// MaxPasskeyNameLen bounds a passkey's label, in characters.
	MaxPasskeyNameLen = 64
	// DefaultPasskeyName is the label of a passkey registered without one.
	DefaultPasskeyName = "Passkey"
	// MaxCredentialIDLen is the longest credential ID WebAuthn allows
	// (WebAuthn Level 3 §4, "Credential ID": at most 1023 bytes).
	MaxCredentialIDLen = 1023
	// maxPasskeyBytes bounds one encoded passkey (the attestation object,
	// with its certificate chain, is the bulk of it), so a user's record
	// stays small.
	maxPasskeyBytes = 64 << 10
)

// ErrPasskeyExists: the credential ID is already registered, to this or
// another user. It matches ErrConflict.
var ErrPasskeyExists error = &sentinel{"directory: passkey is already registered", ErrConflict}

// Passkey is a user's registered WebAuthn credential.
type Passkey struct {
	// ID is the credential ID; it equals Credential.ID.
	ID []byte `json:"id"`
	// Name is a user-chosen label, 1..MaxPasskeyNameLen characters
	// (DefaultPasskeyName when none is given).
	Name string `json:"name"`
	// Credential is the credential record: public key, sign count, flags
	// (BE/BS), AAGUID, transports, attestation.
	Credential webauthn.Credential `json:"credential"`
	Created    time.Time           `json:"created"`
	LastUsed   time.Time           `json:"last_used,omitzero"`
	// Flagged is set when a sign-in showed a counter going backwards
	// (a possible cloned authenticator); flagged passkeys are refused.
	Flagged       bool      `json:"flagged,omitempty"`
	FlaggedReason string    `json:"flagged_reason,omitempty"`
	FlaggedAt     time.Time `json:"flagged_at,omitzero"`
}

// MarshalJSON stores the authenticator flags byte next to the passkey:
// webauthn.CredentialFlags keeps it in an unexported field (what
// Flags.ProtocolValue returns), which encoding/json would drop.
func (p Passkey) MarshalJSON() ([]byte, error) {
	type plain Passkey
	return json.Marshal(struct {
		plain
		FlagsRaw byte `json:"flags_raw,omitempty"`
	}{plain(p), byte(p.Credential.Flags.ProtocolValue())})
}

// UnmarshalJSON reverses MarshalJSON. The stored flags byte is only used
// when it agrees with the stored booleans (flags built by hand, not with
// webauthn.NewCredentialFlags, have no byte).
func (p *Passkey) UnmarshalJSON(b []byte) error {
	type plain Passkey
	var v struct {
		plain
		FlagsRaw *byte `json:"flags_raw"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Passkey(v.plain)
	if v.FlagsRaw != nil {
		f, g := webauthn.CredentialFlagsFromMsgpByte(*v.FlagsRaw), p.Credential.Flags
		if f.UserPresent == g.UserPresent && f.UserVerified == g.UserVerified &&
			f.BackupEligible == g.BackupEligible && f.BackupState == g.BackupState {
			p.Credential.Flags = f
		}
	}
	return nil
}

// PasskeyKey is the key of a credential ID in BucketPasskeyIDs, and the
// form front ends show it in: base64url without padding.
func PasskeyKey(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

func checkCredentialID(id []byte) error {
	if len(id) == 0 || len(id) > MaxCredentialIDLen {
		return invalid("credential ID must be 1..%d bytes", MaxCredentialIDLen)
	}
	return nil
}

// checkPasskeyName returns the label to store: trimmed, DefaultPasskeyName
// when empty.
func checkPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return DefaultPasskeyName, nil
	}
	if len(name) > 4*MaxPasskeyNameLen || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyNameLen {
		return "", invalid("passkey name must be 1..%d characters of UTF-8", MaxPasskeyNameLen)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", invalid("passkey name contains a control character")
	}
	return name, nil
}

// checkPasskey validates pk and normalizes its name in place.
func checkPasskey(pk *Passkey) error {
	var p []string
	if err := checkCredentialID(pk.ID); err != nil {
		p = append(p, reason(err))
	} else if !bytes.Equal(pk.ID, pk.Credential.ID) {
		p = append(p, "passkey ID and credential ID differ")
	}
	if len(pk.Credential.PublicKey) == 0 {
		p = append(p, "the credential has no public key")
	}
	if name, err := checkPasskeyName(pk.Name); err != nil {
		p = append(p, reason(err))
	} else {
		pk.Name = name
	}
	if len(p) == 0 {
		b, err := json.Marshal(pk)
		if err != nil {
			return fmt.Errorf("directory: encode passkey: %w", err)
		}
		if len(b) > maxPasskeyBytes {
			p = append(p, fmt.Sprintf("passkey record is larger than %d bytes", maxPasskeyBytes))
		}
	}
	return invalidAll(p)
}

func decodePasskeys(subject string, b []byte) ([]Passkey, error) {
	var list []Passkey
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("directory: decode passkeys of %q: %w", clip(subject), err)
	}
	return list, nil
}

// encodePasskeys returns the record for list; nil (which deletes the
// record in Backend.Update) when list is empty.
func encodePasskeys(list []Passkey) ([]byte, error) {
	if len(list) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("directory: encode passkeys: %w", err)
	}
	return b, nil
}

func passkeyIndex(list []Passkey, id []byte) int {
	return slices.IndexFunc(list, func(p Passkey) bool { return bytes.Equal(p.ID, id) })
}

func validSubject(subject string) bool {
	return subject != "" && len(subject) <= maxSubjectLen
}

// storedPasskeys reads the passkey record of subject without checking
// that the user exists; nil when there is none.
func (d *Directory) storedPasskeys(ctx context.Context, subject string) ([]Passkey, error) {
	if !validSubject(subject) {
		return nil, nil
	}
	b, err := d.store.Get(ctx, BucketPasskeys, subject)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("directory: get passkeys: %w", err)
	}
	return decodePasskeys(subject, b)
}

// Passkeys returns the passkeys of the user with this subject, in the
// order they were added; empty when there are none. ErrNotFound when there
// is no such user.
func (d *Directory) Passkeys(ctx context.Context, subject string) ([]Passkey, error) {
	if _, err := d.User(ctx, subject); err != nil {
		return nil, err
	}
	return d.storedPasskeys(ctx, subject)
}

// AddPasskey registers pk for the user with this subject. pk.ID may be
// left empty (Credential.ID is used), an empty Name becomes
// DefaultPasskeyName and a zero Created the current time. Errors:
// ErrNotFound (no such user), ErrInvalid (bad input, or the user already
// has MaxPasskeys passkeys), ErrPasskeyExists (the credential ID is
// registered to this or any other user; it matches ErrConflict).
//
// The credential ID index is claimed first with Backend.Create, so of
// concurrent registrations of one credential exactly one succeeds; it is
// released again if the user's record cannot be written.
func (d *Directory) AddPasskey(ctx context.Context, subject string, pk Passkey) error {
	switch {
	case len(pk.ID) == 0:
		pk.ID = pk.Credential.ID
	case len(pk.Credential.ID) == 0:
		pk.Credential.ID = pk.ID
	}
	if err := checkPasskey(&pk); err != nil {
		return err
	}
	if pk.Created.IsZero() {
		pk.Created = d.now().UTC()
	}
	if _, err := d.User(ctx, subject); err != nil {
		return err
	}
	tooMany := invalid("a user may have at most %d passkeys: delete one first", MaxPasskeys)
	// A cheap early refusal; the check inside Update below is the one that
	// holds under concurrency.
	if list, err := d.storedPasskeys(ctx, subject); err != nil {
		return err
	} else if len(list) >= MaxPasskeys {
		return tooMany
	}

	key := PasskeyKey(pk.ID)
	if err := d.store.Create(ctx, BucketPasskeyIDs, key, []byte(subject)); err != nil {
		if errors.Is(err, persistence.ErrConflict) {
			return ErrPasskeyExists
		}
		return fmt.Errorf("directory: add passkey: %w", err)
	}
	var refused error
	err := d.store.Update(ctx, BucketPasskeys, subject, func(old []byte, exists bool) ([]byte, error) {
		refused = nil
		var list []Passkey
		if exists {
			var err error
			if list, err = decodePasskeys(subject, old); err != nil {
				return nil, err
			}
		}
		switch {
		case len(list) >= MaxPasskeys:
			refused = tooMany
		case passkeyIndex(list, pk.ID) >= 0:
			// Only a record the index lost track of can hold it.
			refused = ErrPasskeyExists
		}
		if refused != nil {
			return nil, refused
		}
		return encodePasskeys(append(list, pk))
	})
	written := err == nil
	if written {
		// A DeleteUser that ran meanwhile deletes the user record before
		// the passkeys: if the user is gone now, this passkey may have
		// been written after its sweep. Undo it rather than leave it.
		if _, uerr := d.User(ctx, subject); errors.Is(uerr, ErrNotFound) {
			err = uerr
		} else {
			return nil
		}
	}
	rctx, cancel := rollbackCtx(ctx)
	defer cancel()
	var rerr error
	if written {
		rerr = d.removePasskey(rctx, subject, pk.ID)
	}
	rerr = errors.Join(rerr, d.releasePasskeyID(rctx, key, subject))
	switch {
	case refused != nil && errors.Is(err, refused):
		err = refused
	case !errors.Is(err, ErrNotFound):
		err = fmt.Errorf("directory: add passkey: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("%w (and undoing the registration failed: %v)", err, rerr)
	}
	return err
}

// removePasskey drops id from subject's record, if it is there.
func (d *Directory) removePasskey(ctx context.Context, subject string, id []byte) error {
	return d.store.Update(ctx, BucketPasskeys, subject, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, nil
		}
		list, err := decodePasskeys(subject, old)
		if err != nil {
			return nil, err
		}
		i := passkeyIndex(list, id)
		if i < 0 {
			return old, nil
		}
		return encodePasskeys(slices.Delete(list, i, i+1))
	})
}

// releasePasskeyID deletes the index entry key if it still points to
// subject, so a rollback or delete never frees another user's credential.
func (d *Directory) releasePasskeyID(ctx context.Context, key, subject string) error {
	return d.store.Update(ctx, BucketPasskeyIDs, key, func(old []byte, exists bool) ([]byte, error) {
		if !exists || string(old) == subject {
			return nil, nil
		}
		return old, nil
	})
}

// UpdatePasskey changes one passkey of the user with this subject in an
// atomic read-modify-write: fn gets a copy of the stored passkey and its
// changes are kept when it returns nil. An error from fn aborts and is
// returned as is. fn may run more than once (retries under contention),
// so it must not have side effects; it may not change the credential ID.
// ErrNotFound when the user has no passkey with this ID.
func (d *Directory) UpdatePasskey(ctx context.Context, subject string, id []byte, fn func(*Passkey) error) error {
	if fn == nil {
		return invalid("no update function")
	}
	notFound := fmt.Errorf("%w: passkey", ErrNotFound)
	if !validSubject(subject) || checkCredentialID(id) != nil {
		return notFound
	}
	var failed error
	err := d.store.Update(ctx, BucketPasskeys, subject, func(old []byte, exists bool) ([]byte, error) {
		failed = nil
		if !exists {
			failed = notFound
			return nil, failed
		}
		list, err := decodePasskeys(subject, old)
		if err != nil {
			return nil, err
		}
		i := passkeyIndex(list, id)
		if i < 0 {
			failed = notFound
			return nil, failed
		}
		p := list[i] // decoded afresh on every call: fn cannot reach the stored value
		if err := fn(&p); err != nil {
			failed = err
			return nil, err
		}
		if !bytes.Equal(p.ID, id) || !bytes.Equal(p.Credential.ID, id) {
			failed = invalid("a passkey's credential ID cannot change")
			return nil, failed
		}
		if err := checkPasskey(&p); err != nil {
			failed = err
			return nil, err
		}
		list[i] = p
		return encodePasskeys(list)
	})
	if err == nil {
		return nil
	}
	if failed != nil && errors.Is(err, failed) {
		return failed
	}
	return fmt.Errorf("directory: update passkey: %w", err)
}

// DeletePasskey removes one passkey of the user with this subject and
// frees its credential ID. ErrNotFound when the user has no passkey with
// this ID.
func (d *Directory) DeletePasskey(ctx context.Context, subject string, id []byte) error {
	notFound := fmt.Errorf("%w: passkey", ErrNotFound)
	if !validSubject(subject) || checkCredentialID(id) != nil {
		return notFound
	}
	err := d.store.Update(ctx, BucketPasskeys, subject, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, notFound
		}
		list, err := decodePasskeys(subject, old)
		if err != nil {
			return nil, err
		}
		i := passkeyIndex(list, id)
		if i < 0 {
			return nil, notFound
		}
		return encodePasskeys(slices.Delete(list, i, i+1))
	})
	if errors.Is(err, notFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("directory: delete passkey: %w", err)
	}
	// The record goes first: while it holds the passkey, its ID stays
	// claimed.
	if err := d.releasePasskeyID(ctx, PasskeyKey(id), subject); err != nil {
		return fmt.Errorf("directory: delete passkey: release credential ID: %w", err)
	}
	return nil
}

// PasskeyOwner returns the subject of the user who registered the
// credential with this ID, or ErrNotFound. It only answers for passkeys
// that are stored (an index entry left by an interrupted write does not
// count); callers still load the user, which may have been deleted.
func (d *Directory) PasskeyOwner(ctx context.Context, id []byte) (string, error) {
	notFound := fmt.Errorf("%w: passkey", ErrNotFound)
	if checkCredentialID(id) != nil {
		return "", notFound
	}
	b, err := d.store.Get(ctx, BucketPasskeyIDs, PasskeyKey(id))
	if errors.Is(err, persistence.ErrNotFound) {
		return "", notFound
	}
	if err != nil {
		return "", fmt.Errorf("directory: get passkey owner: %w", err)
	}
	subject := string(b)
	list, err := d.storedPasskeys(ctx, subject)
	if err != nil {
		return "", err
	}
	if passkeyIndex(list, id) < 0 {
		return "", notFound
	}
	return subject, nil
}

// dropPasskeys deletes every passkey of subject and frees their IDs. It
// reports whether there was a record. Used by DeleteUser after the user
// record is gone.
func (d *Directory) dropPasskeys(ctx context.Context, subject string) (bool, error) {
	if !validSubject(subject) {
		return false, nil
	}
	// Most users have no passkeys: spare them a write transaction.
	if _, err := d.store.Get(ctx, BucketPasskeys, subject); errors.Is(err, persistence.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("directory: delete passkeys: %w", err)
	}
	var (
		list    []Passkey
		existed bool
	)
	err := d.store.Update(ctx, BucketPasskeys, subject, func(old []byte, exists bool) ([]byte, error) {
		list, existed = nil, exists
		if exists {
			// An undecodable record is deleted all the same; its index
			// entries then point to no stored passkey, which PasskeyOwner
			// treats as absent.
			list, _ = decodePasskeys(subject, old)
		}
		return nil, nil
	})
	if err != nil {
		return false, fmt.Errorf("directory: delete passkeys: %w", err)
	}
	var errs []error
	for _, p := range list {
		if err := d.releasePasskeyID(ctx, PasskeyKey(p.ID), subject); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return existed, fmt.Errorf("directory: delete passkeys: release credential IDs: %w", err)
	}
	return existed, nil
}
