package directory

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"authrim/persistence"
)

// Action tokens are the single-use links mailed to users: one mechanism
// for every purpose (a password reset, an email verification, and later
// an invitation). A token is 256 random bits, shown once in the link;
// the store keeps only its SHA-256, with its purpose, the user it is for,
// the address it was mailed to and its expiry. Taking it deletes it in
// the same atomic step that checks it, so on any backend (etcd in a
// cluster included) exactly one of several concurrent uses wins.

// BucketActionTokens maps a token's hash to its record (declared in
// persistence/schema.go).
const BucketActionTokens = persistence.BucketActionTokens

// Purposes of action tokens.
const (
	PurposeResetPassword = "reset_password"
	PurposeVerifyEmail   = "verify_email"
	PurposeInvite        = "invite"
)

// MaxActionTokenTTL bounds an action token's life.
const MaxActionTokenTTL = 7 * 24 * time.Hour

// actionTokenLen is the length of a token as the link carries it: 32
// bytes in unpadded base64url.
const actionTokenLen = 43

// ErrActionToken: the token is malformed, unknown, used, expired, or for
// another purpose. The pages show one message for all of these.
var ErrActionToken = errors.New("directory: invalid or expired link")

// ActionToken is what a token stands for.
type ActionToken struct {
	Purpose string `json:"purpose"`
	// Subject is the user it acts on.
	Subject string `json:"sub"`
	// Email is the address the link was sent to.
	Email string `json:"email,omitempty"`
	// ExpMs is when it stops working (Unix milliseconds).
	ExpMs int64 `json:"exp"`
}

func knownPurpose(p string) bool {
	return p == PurposeResetPassword || p == PurposeVerifyEmail || p == PurposeInvite
}

// ParseActionToken checks the form of a token taken from a link (43
// characters of base64url, 32 bytes) without looking it up.
func ParseActionToken(s string) (string, error) {
	if len(s) != actionTokenLen {
		return "", ErrActionToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", ErrActionToken
	}
	return s, nil
}

func actionTokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// IssueActionToken makes a token for purpose on subject's account, mailed
// to email, working for ttl. Only its hash is stored.
func (d *Directory) IssueActionToken(ctx context.Context, purpose, subject, email string, ttl time.Duration) (string, time.Time, error) {
	if !knownPurpose(purpose) {
		return "", time.Time{}, invalid("unknown action token purpose %q", clip(purpose))
	}
	if ttl <= 0 || ttl > MaxActionTokenTTL {
		return "", time.Time{}, invalid("ttl must be positive and at most %s", MaxActionTokenTTL)
	}
	tok, err := randomToken(32)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := d.now().Add(ttl)
	rec, _ := json.Marshal(ActionToken{Purpose: purpose, Subject: subject, Email: email, ExpMs: exp.UnixMilli()})
	if err := d.store.Create(ctx, BucketActionTokens, actionTokenKey(tok), rec); err != nil {
		return "", time.Time{}, fmt.Errorf("directory: store action token: %w", err)
	}
	return tok, exp, nil
}

// PeekActionToken returns what a live token of purpose stands for,
// without spending it (a page showing the form the token's use will
// post). ErrActionToken when it would not be accepted now.
func (d *Directory) PeekActionToken(ctx context.Context, purpose, tok string) (ActionToken, error) {
	if _, err := ParseActionToken(tok); err != nil {
		return ActionToken{}, err
	}
	b, err := d.store.Get(ctx, BucketActionTokens, actionTokenKey(tok))
	if errors.Is(err, persistence.ErrNotFound) {
		return ActionToken{}, ErrActionToken
	}
	if err != nil {
		return ActionToken{}, fmt.Errorf("directory: read action token: %w", err)
	}
	var t ActionToken
	if json.Unmarshal(b, &t) != nil || !d.actionTokenLive(t, purpose) {
		return ActionToken{}, ErrActionToken
	}
	return t, nil
}

func (d *Directory) actionTokenLive(t ActionToken, purpose string) bool {
	return t.Purpose == purpose && t.Subject != "" && t.ExpMs > d.now().UnixMilli()
}

// UseActionToken spends a token of purpose: it is deleted in the step
// that checks it, so it works once. A token for another purpose is
// refused and left as it is (it still works for its own); an expired one
// is deleted. ErrActionToken for every refusal. restore puts the token
// back, for a use that failed after the token was spent (a refused
// password: the user may try another).
func (d *Directory) UseActionToken(ctx context.Context, purpose, tok string) (t ActionToken, restore func(), err error) {
	if _, err := ParseActionToken(tok); err != nil {
		return ActionToken{}, nil, err
	}
	key := actionTokenKey(tok)
	live := false
	var rec []byte
	err = d.store.Update(ctx, BucketActionTokens, key, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, ErrActionToken
		}
		var cur ActionToken
		if json.Unmarshal(old, &cur) != nil {
			return nil, nil // unreadable: dropped
		}
		if cur.Purpose != purpose {
			return nil, ErrActionToken // changes nothing
		}
		t, live, rec = cur, d.actionTokenLive(cur, purpose), old
		return nil, nil
	})
	switch {
	case errors.Is(err, ErrActionToken):
		return ActionToken{}, nil, ErrActionToken
	case err != nil:
		return ActionToken{}, nil, fmt.Errorf("directory: use action token: %w", err)
	case !live:
		return ActionToken{}, nil, ErrActionToken
	}
	rec = append([]byte(nil), rec...)
	return t, func() {
		rctx, cancel := rollbackCtx(ctx)
		defer cancel()
		_ = d.store.Create(rctx, BucketActionTokens, key, rec)
	}, nil
}

// DropActionTokens deletes subject's tokens of purpose (after a
// successful reset, the other reset links mailed before it stop working).
func (d *Directory) DropActionTokens(ctx context.Context, subject, purpose string) error {
	var keys []string
	err := d.store.List(ctx, BucketActionTokens, "", func(key string, v []byte) error {
		var t ActionToken
		if json.Unmarshal(v, &t) == nil && t.Subject == subject && t.Purpose == purpose {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("directory: list action tokens: %w", err)
	}
	for _, k := range keys {
		if err := d.store.Delete(ctx, BucketActionTokens, k); err != nil && !errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("directory: drop action token: %w", err)
		}
	}
	return nil
}

// sweepActionTokens deletes expired tokens.
func (d *Directory) sweepActionTokens(ctx context.Context) (int, error) {
	now := d.now().UnixMilli()
	var stale []string
	err := d.store.List(ctx, BucketActionTokens, "", func(key string, v []byte) error {
		var t ActionToken
		if json.Unmarshal(v, &t) != nil || t.ExpMs <= now {
			stale = append(stale, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("directory: sweep action tokens: %w", err)
	}
	n := 0
	for _, key := range stale {
		if err := d.store.Delete(ctx, BucketActionTokens, key); err == nil {
			n++
		}
	}
	return n, nil
}

// UserByEmail returns the user whose email claim is addr (compared
// without case), or ErrNotFound. There is no index of addresses: it reads
// every user, which is fine for the directories this serves and the rate
// at which the forgot-password page is allowed to ask. With several
// users of one address, the first by subject wins.
func (d *Directory) UserByEmail(ctx context.Context, addr string) (User, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" || len(addr) > 320 {
		return User{}, ErrNotFound
	}
	users, err := d.ListUsers(ctx)
	if err != nil {
		return User{}, err
	}
	for _, u := range users {
		if e, _ := u.Claims["email"].(string); e != "" && strings.EqualFold(e, addr) {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("%w: no user with that email", ErrNotFound)
}
