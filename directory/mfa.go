package directory

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"authrim/internal/totp"
	"authrim/persistence"
)

// BucketMFA maps a subject to the user's second factors (mfaRecord, JSON),
// declared in persistence/schema.go.
const BucketMFA = persistence.BucketMFA

// Sealer seals small secrets under the node's key-encryption key
// (keymanager.KEK): AES-GCM with the kid as additional data, so a sealed
// value only opens for the record it was sealed for.
type Sealer interface {
	Wrap(kid string, plaintext []byte) ([]byte, error)
	Unwrap(kid string, sealed []byte) ([]byte, error)
}

// Second-factor errors. Front ends show one message for all of them.
var (
	// ErrMFACode: a wrong TOTP or recovery code (or none in the window).
	ErrMFACode = errors.New("directory: wrong second-factor code")
	// ErrMFAReplay: the TOTP code is right but its time step (or a later
	// one) was already used: each code works once (RFC 6238 §5.2).
	ErrMFAReplay error = &sentinel{"directory: second-factor code already used", ErrMFACode}
	// ErrMFANotEnrolled: the user has no authenticator app (or no
	// enrolment in progress).
	ErrMFANotEnrolled error = &sentinel{"directory: no second factor enrolled", ErrNotFound}
	// ErrNoSealer: the directory was built without Options.Sealer.
	ErrNoSealer = errors.New("directory: no sealer for second-factor secrets")
)

// Second-factor limits.
const (
	// RecoveryCodeCount is how many recovery codes a set has.
	RecoveryCodeCount = 10
	// recoveryCodeLen is a recovery code's length without its dash:
	// 10 of 31 symbols, about 49.5 bits.
	recoveryCodeLen = 10
	// recoveryAlphabet has no symbol people confuse (0/o, 1/l/i).
	recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	// PendingTOTPTTL bounds how long a shown QR code can be confirmed.
	PendingTOTPTTL = 15 * time.Minute
)

// mfaRecord is the stored form of a user's second factors.
type mfaRecord struct {
	// TOTP is the confirmed authenticator app; nil when none.
	TOTP *totpRecord `json:"totp,omitempty"`
	// Pending is an enrolment shown but not yet confirmed by a code.
	Pending *pendingTOTP `json:"pending,omitempty"`
	// RecoveryKey is the per-user MAC key of the recovery codes, sealed
	// under the KEK: a copy of the store without the KEK cannot test
	// guesses against the MACs offline.
	RecoveryKey     []byte         `json:"recovery_key,omitempty"`
	Recovery        []recoveryCode `json:"recovery,omitempty"`
	RecoveryCreated time.Time      `json:"recovery_created,omitzero"`
	// RecoveryLastUsed is the last time a recovery code signed the user
	// in (shown on the account page).
	RecoveryLastUsed time.Time `json:"recovery_last_used,omitzero"`
}

type totpRecord struct {
	// Sealed is the secret sealed under the KEK with kid totpKid(subject).
	Sealed  []byte    `json:"sealed"`
	Created time.Time `json:"created"`
	// LastStep is the last time step accepted: codes of it and of every
	// earlier step are refused (RFC 6238 §5.2). The compare-and-set in
	// the store's Update makes that hold across nodes.
	LastStep int64     `json:"last_step"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

type pendingTOTP struct {
	Sealed  []byte    `json:"sealed"`
	Expires time.Time `json:"expires"`
}

type recoveryCode struct {
	MAC  []byte    `json:"mac"`
	Used time.Time `json:"used,omitzero"`
}

// MFAStatus is what the account page and the admin API show of a user's
// second factors. It holds no secret.
type MFAStatus struct {
	TOTP         bool      `json:"totp"`
	TOTPCreated  time.Time `json:"totp_created,omitzero"`
	TOTPLastUsed time.Time `json:"totp_last_used,omitzero"`
	// RecoveryLeft of RecoveryTotal codes are unused.
	RecoveryLeft     int       `json:"recovery_left"`
	RecoveryTotal    int       `json:"recovery_total"`
	RecoveryCreated  time.Time `json:"recovery_created,omitzero"`
	RecoveryLastUsed time.Time `json:"recovery_last_used,omitzero"`
}

func totpKid(subject string) string     { return "totp:" + subject }
func recoveryKid(subject string) string { return "recovery:" + subject }

func (r *mfaRecord) status() MFAStatus {
	var s MFAStatus
	if r == nil {
		return s
	}
	if r.TOTP != nil {
		s.TOTP, s.TOTPCreated, s.TOTPLastUsed = true, r.TOTP.Created, r.TOTP.LastUsed
	}
	s.RecoveryTotal, s.RecoveryCreated, s.RecoveryLastUsed = len(r.Recovery), r.RecoveryCreated, r.RecoveryLastUsed
	for _, c := range r.Recovery {
		if c.Used.IsZero() {
			s.RecoveryLeft++
		}
	}
	return s
}

func decodeMFA(subject string, b []byte) (*mfaRecord, error) {
	var r mfaRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("directory: decode second factors of %q: %w", clip(subject), err)
	}
	return &r, nil
}

func encodeMFA(r *mfaRecord) ([]byte, error) {
	if r.TOTP == nil && r.Pending == nil && len(r.Recovery) == 0 {
		return nil, nil // deletes the record
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("directory: encode second factors: %w", err)
	}
	return b, nil
}

// MFA returns the user's second factors. A user without any has the zero
// MFAStatus. ErrNotFound when there is no such user.
func (d *Directory) MFA(ctx context.Context, subject string) (MFAStatus, error) {
	if _, err := d.User(ctx, subject); err != nil {
		return MFAStatus{}, err
	}
	r, err := d.storedMFA(ctx, subject)
	if err != nil {
		return MFAStatus{}, err
	}
	return r.status(), nil
}

func (d *Directory) storedMFA(ctx context.Context, subject string) (*mfaRecord, error) {
	if !validSubject(subject) {
		return nil, nil
	}
	b, err := d.store.Get(ctx, BucketMFA, subject)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("directory: get second factors: %w", err)
	}
	return decodeMFA(subject, b)
}

// updateMFA runs fn on the decoded record (a fresh one when none is
// stored) inside the store's atomic update: what fn decides holds against
// concurrent updates on any node. fn may run more than once. An error
// from fn aborts and is returned as is.
func (d *Directory) updateMFA(ctx context.Context, subject string, fn func(r *mfaRecord) error) error {
	if d.sealer == nil {
		return ErrNoSealer
	}
	if !validSubject(subject) {
		return fmt.Errorf("%w: user", ErrNotFound)
	}
	var failed error
	err := d.store.Update(ctx, BucketMFA, subject, func(old []byte, exists bool) ([]byte, error) {
		failed = nil
		r := &mfaRecord{}
		if exists {
			var err error
			if r, err = decodeMFA(subject, old); err != nil {
				return nil, err
			}
		}
		if err := fn(r); err != nil {
			failed = err
			return nil, err
		}
		return encodeMFA(r)
	})
	if err == nil {
		return nil
	}
	if failed != nil && errors.Is(err, failed) {
		return failed
	}
	return fmt.Errorf("directory: update second factors: %w", err)
}

// BeginTOTP starts enrolling an authenticator app: a new secret, kept
// sealed as the pending enrolment for PendingTOTPTTL, replacing any
// earlier pending one. The caller shows it (QR code, manual key) and
// hands the user's first code to ConfirmTOTP. ErrInvalid when the user
// already has an app (remove it first).
func (d *Directory) BeginTOTP(ctx context.Context, subject string) ([]byte, error) {
	if _, err := d.User(ctx, subject); err != nil {
		return nil, err
	}
	if d.sealer == nil {
		return nil, ErrNoSealer
	}
	secret := totp.NewSecret()
	sealed, err := d.sealer.Wrap(totpKid(subject), secret)
	if err != nil {
		return nil, fmt.Errorf("directory: seal TOTP secret: %w", err)
	}
	err = d.updateMFA(ctx, subject, func(r *mfaRecord) error {
		if r.TOTP != nil {
			return invalid("an authenticator app is already set up: remove it first")
		}
		r.Pending = &pendingTOTP{Sealed: sealed, Expires: d.now().Add(PendingTOTPTTL).UTC()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return secret, nil
}

// PendingTOTP returns the secret of the enrolment in progress, to show
// it again after a wrong confirmation code. ErrMFANotEnrolled when none
// is pending (or it expired).
func (d *Directory) PendingTOTP(ctx context.Context, subject string) ([]byte, error) {
	if d.sealer == nil {
		return nil, ErrNoSealer
	}
	r, err := d.storedMFA(ctx, subject)
	if err != nil {
		return nil, err
	}
	if r == nil || r.Pending == nil || !d.now().Before(r.Pending.Expires) {
		return nil, ErrMFANotEnrolled
	}
	return d.sealer.Unwrap(totpKid(subject), r.Pending.Sealed)
}

// ConfirmTOTP completes an enrolment with one valid code of the pending
// secret: the app becomes the user's second factor (its step counts as
// used) and a new set of recovery codes replaces any old one. It returns
// those codes, in the form to show them: they are never shown again.
// ErrMFANotEnrolled when no enrolment is pending (or it expired),
// ErrMFACode for a wrong code.
func (d *Directory) ConfirmTOTP(ctx context.Context, subject, code string) ([]string, error) {
	if _, err := d.User(ctx, subject); err != nil {
		return nil, err
	}
	var codes []string
	err := d.updateMFA(ctx, subject, func(r *mfaRecord) error {
		now := d.now()
		if r.TOTP != nil || r.Pending == nil || !now.Before(r.Pending.Expires) {
			// An app is confirmed once: replacing it takes a removal,
			// which needs a code or the password.
			return ErrMFANotEnrolled
		}
		secret, err := d.sealer.Unwrap(totpKid(subject), r.Pending.Sealed)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, code, now, math.MinInt64)
		if err != nil {
			return ErrMFACode
		}
		r.TOTP = &totpRecord{Sealed: r.Pending.Sealed, Created: now.UTC(), LastStep: step, LastUsed: now.UTC()}
		r.Pending = nil
		codes, err = d.newRecoveryCodes(subject, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// VerifyTOTP checks a code of the user's authenticator app and, in the
// same atomic update, records its step as used: of two requests with one
// code, on any nodes, one succeeds. ErrMFANotEnrolled (no app),
// ErrMFAReplay (right code, step already used), ErrMFACode (wrong).
func (d *Directory) VerifyTOTP(ctx context.Context, subject, code string) error {
	return d.updateMFA(ctx, subject, func(r *mfaRecord) error {
		if r.TOTP == nil {
			return ErrMFANotEnrolled
		}
		secret, err := d.sealer.Unwrap(totpKid(subject), r.TOTP.Sealed)
		if err != nil {
			return err
		}
		now := d.now()
		step, err := totp.Verify(secret, code, now, r.TOTP.LastStep)
		if err != nil {
			// Tell a replay from a wrong code, for the audit line only.
			if _, rerr := totp.Verify(secret, code, now, math.MinInt64); rerr == nil {
				return ErrMFAReplay
			}
			return ErrMFACode
		}
		r.TOTP.LastStep, r.TOTP.LastUsed = step, now.UTC()
		return nil
	})
}

// UseRecoveryCode spends one of the user's recovery codes: it must be
// in the current set and not used before; it is marked used in the same
// atomic update, so it works once on any node. It returns how many are
// left. ErrMFACode for a wrong or used code.
func (d *Directory) UseRecoveryCode(ctx context.Context, subject, code string) (left int, err error) {
	norm := NormalizeRecoveryCode(code)
	err = d.updateMFA(ctx, subject, func(r *mfaRecord) error {
		left = 0
		if len(r.Recovery) == 0 || norm == "" {
			return ErrMFACode
		}
		key, err := d.sealer.Unwrap(recoveryKid(subject), r.RecoveryKey)
		if err != nil {
			return err
		}
		mac := recoveryMAC(key, norm)
		hit := -1
		for i, c := range r.Recovery {
			// Every stored MAC is compared, used or not, in constant time.
			if hmac.Equal(c.MAC, mac) && c.Used.IsZero() && hit < 0 {
				hit = i
			}
		}
		if hit < 0 {
			return ErrMFACode
		}
		now := d.now().UTC()
		r.Recovery[hit].Used, r.RecoveryLastUsed = now, now
		left = r.status().RecoveryLeft
		return nil
	})
	return left, err
}

// RegenerateRecoveryCodes replaces the user's recovery codes with a new
// set (the old codes stop working) and returns it, to be shown once.
// ErrMFANotEnrolled when the user has no authenticator app.
func (d *Directory) RegenerateRecoveryCodes(ctx context.Context, subject string) ([]string, error) {
	if _, err := d.User(ctx, subject); err != nil {
		return nil, err
	}
	var codes []string
	err := d.updateMFA(ctx, subject, func(r *mfaRecord) error {
		if r.TOTP == nil {
			return ErrMFANotEnrolled
		}
		var err error
		codes, err = d.newRecoveryCodes(subject, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetMFA removes every second factor of the user: the app, a pending
// enrolment and the recovery codes. It reports whether there was any.
func (d *Directory) ResetMFA(ctx context.Context, subject string) (bool, error) {
	if !validSubject(subject) {
		return false, nil
	}
	existed := false
	err := d.store.Update(ctx, BucketMFA, subject, func(_ []byte, exists bool) ([]byte, error) {
		existed = exists
		return nil, nil
	})
	if err != nil {
		return false, fmt.Errorf("directory: reset second factors: %w", err)
	}
	return existed, nil
}

// newRecoveryCodes puts a new set of codes (and a new MAC key) into r
// and returns the codes as shown: "xxxxx-xxxxx".
func (d *Directory) newRecoveryCodes(subject string, r *mfaRecord) ([]string, error) {
	key := make([]byte, 32)
	rand.Read(key)
	sealed, err := d.sealer.Wrap(recoveryKid(subject), key)
	if err != nil {
		return nil, fmt.Errorf("directory: seal recovery key: %w", err)
	}
	codes := make([]string, RecoveryCodeCount)
	set := make([]recoveryCode, RecoveryCodeCount)
	for i := range codes {
		c := randomRecoveryCode()
		set[i] = recoveryCode{MAC: recoveryMAC(key, c)}
		codes[i] = c[:recoveryCodeLen/2] + "-" + c[recoveryCodeLen/2:]
	}
	r.RecoveryKey, r.Recovery, r.RecoveryCreated = sealed, set, d.now().UTC()
	return codes, nil
}

func randomRecoveryCode() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < recoveryCodeLen {
		rand.Read(buf)
		// Rejection sampling: 248 = 8*31, so every symbol is equally likely.
		if buf[0] < 248 {
			b.WriteByte(recoveryAlphabet[int(buf[0])%len(recoveryAlphabet)])
		}
	}
	return b.String()
}

// recoveryMAC is the stored form of a code: HMAC-SHA256 under the user's
// sealed recovery key. A keyed fast MAC is enough: the codes are random
// (about 49.5 bits each, not chosen by people), online guesses are
// throttled, and offline guessing needs the KEK to open the key.
func recoveryMAC(key []byte, norm string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(norm))
	return m.Sum(nil)
}

// NormalizeRecoveryCode returns the code as stored (lower case, no dash
// or spaces), or "" when it cannot be a recovery code.
func NormalizeRecoveryCode(code string) string {
	code = strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
	if len(code) != recoveryCodeLen {
		return ""
	}
	for i := 0; i < len(code); i++ {
		if !strings.ContainsRune(recoveryAlphabet, rune(code[i])) {
			return ""
		}
	}
	return code
}
