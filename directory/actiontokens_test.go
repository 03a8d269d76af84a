package directory_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authrim/directory"
)

func actionDirectory(t *testing.T) (*directory.Directory, *atomic.Int64, func(bucket string) [][]byte) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix())
	opts := fast
	opts.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	d, s := newDirectory(t, opts)
	dump := func(string) [][]byte {
		var out [][]byte
		_ = s.List(context.Background(), directory.BucketActionTokens, "", func(k string, v []byte) error {
			out = append(out, append([]byte(k+"="), v...))
			return nil
		})
		return out
	}
	return d, &clock, dump
}

func TestActionTokens(t *testing.T) {
	ctx := context.Background()
	d, clock, dump := actionDirectory(t)
	tok, exp, err := d.IssueActionToken(ctx, directory.PurposeResetPassword, "sub-1", "a@example.com", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Sub(time.Unix(clock.Load(), 0)) != 30*time.Minute {
		t.Fatalf("exp %v", exp)
	}
	for _, rec := range dump("") {
		if bytes.Contains(rec, []byte(tok)) {
			t.Fatal("the token is stored in clear")
		}
	}
	// Another purpose is refused and does not spend it.
	if _, _, err := d.UseActionToken(ctx, directory.PurposeVerifyEmail, tok); !errors.Is(err, directory.ErrActionToken) {
		t.Fatalf("other purpose: %v", err)
	}
	if _, err := d.PeekActionToken(ctx, directory.PurposeVerifyEmail, tok); !errors.Is(err, directory.ErrActionToken) {
		t.Fatalf("peek for another purpose: %v", err)
	}
	got, err := d.PeekActionToken(ctx, directory.PurposeResetPassword, tok)
	if err != nil || got.Subject != "sub-1" || got.Email != "a@example.com" {
		t.Fatalf("peek: %+v %v", got, err)
	}
	got, restore, err := d.UseActionToken(ctx, directory.PurposeResetPassword, tok)
	if err != nil || got.Subject != "sub-1" {
		t.Fatalf("use: %+v %v", got, err)
	}
	if _, _, err := d.UseActionToken(ctx, directory.PurposeResetPassword, tok); !errors.Is(err, directory.ErrActionToken) {
		t.Fatalf("second use: %v", err)
	}
	restore()
	if _, _, err := d.UseActionToken(ctx, directory.PurposeResetPassword, tok); err != nil {
		t.Fatalf("use after restore: %v", err)
	}

	// Expired: refused (and gone).
	tok2, _, _ := d.IssueActionToken(ctx, directory.PurposeVerifyEmail, "sub-1", "a@example.com", time.Minute)
	clock.Add(61)
	if _, err := d.PeekActionToken(ctx, directory.PurposeVerifyEmail, tok2); !errors.Is(err, directory.ErrActionToken) {
		t.Fatalf("peek expired: %v", err)
	}
	if _, _, err := d.UseActionToken(ctx, directory.PurposeVerifyEmail, tok2); !errors.Is(err, directory.ErrActionToken) {
		t.Fatalf("use expired: %v", err)
	}
	if n := len(dump("")); n != 0 {
		t.Fatalf("%d records left", n)
	}

	for _, bad := range []struct {
		purpose string
		ttl     time.Duration
	}{{"nope", time.Minute}, {directory.PurposeInvite, 0}, {directory.PurposeInvite, directory.MaxActionTokenTTL + time.Second}} {
		if _, _, err := d.IssueActionToken(ctx, bad.purpose, "s", "", bad.ttl); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("issue %+v: %v", bad, err)
		}
	}
	for _, bad := range []string{"", "short", tok + "x", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, _, err := d.UseActionToken(ctx, directory.PurposeResetPassword, bad); !errors.Is(err, directory.ErrActionToken) {
			t.Errorf("use %q: %v", bad, err)
		}
	}
}

// Of many concurrent uses of one token, exactly one wins.
func TestActionTokenUsedOnce(t *testing.T) {
	ctx := context.Background()
	d, _, _ := actionDirectory(t)
	tok, _, err := d.IssueActionToken(ctx, directory.PurposeResetPassword, "sub-1", "a@example.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := d.UseActionToken(ctx, directory.PurposeResetPassword, tok); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d uses won, want 1", wins.Load())
	}
}

func TestDropAndSweepActionTokens(t *testing.T) {
	ctx := context.Background()
	d, clock, dump := actionDirectory(t)
	a, _, _ := d.IssueActionToken(ctx, directory.PurposeResetPassword, "sub-1", "", time.Hour)
	b, _, _ := d.IssueActionToken(ctx, directory.PurposeVerifyEmail, "sub-1", "", time.Hour)
	_, _, _ = d.IssueActionToken(ctx, directory.PurposeResetPassword, "sub-2", "", time.Minute)
	if err := d.DropActionTokens(ctx, "sub-1", directory.PurposeResetPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PeekActionToken(ctx, directory.PurposeResetPassword, a); err == nil {
		t.Fatal("a dropped token still works")
	}
	if _, err := d.PeekActionToken(ctx, directory.PurposeVerifyEmail, b); err != nil {
		t.Fatal("a token of another purpose was dropped")
	}
	clock.Add(120)
	if _, err := d.SweepJTIs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(dump("")); n != 1 {
		t.Fatalf("%d records after the sweep, want 1", n)
	}
}

func TestUserByEmail(t *testing.T) {
	ctx := context.Background()
	d, _, _ := actionDirectory(t)
	u := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse", Claims: map[string]any{"email": "Alice@Example.com"}})
	got, err := d.UserByEmail(ctx, "alice@example.COM")
	if err != nil || got.Subject != u.Subject {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := d.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

// FuzzParseActionToken: anything accepted is exactly 32 bytes of
// canonical base64url, and round-trips.
func FuzzParseActionToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("%41AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := directory.ParseActionToken(s)
		if err != nil {
			if !errors.Is(err, directory.ErrActionToken) {
				t.Fatalf("error %v is not ErrActionToken", err)
			}
			return
		}
		if got != s || len(s) != 43 {
			t.Fatalf("accepted %q", s)
		}
	})
}

// Verifying marks the address verified only while it is still the one
// the link went to; changing the address makes it unverified again.
func TestVerifyEmail(t *testing.T) {
	ctx := context.Background()
	d, _, _ := actionDirectory(t)
	u := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse", Claims: map[string]any{"email": "alice@example.com", "email_verified": false}})
	if _, err := d.VerifyEmail(ctx, u.Subject, "other@example.com"); !errors.Is(err, directory.ErrEmailChanged) {
		t.Fatalf("another address: %v", err)
	}
	got, err := d.VerifyEmail(ctx, u.Subject, "Alice@example.com")
	if err != nil || got.Claims["email_verified"] != true {
		t.Fatalf("verify: %v %v", err, got.Claims)
	}
	got, err = d.UpdateUserClaims(ctx, u.Subject, map[string]any{"email": "alice@example.org"})
	if err != nil || got.Claims["email_verified"] != false {
		t.Fatalf("after an address change: %v %v", err, got.Claims)
	}
	if _, err := d.VerifyEmail(ctx, u.Subject, "alice@example.com"); !errors.Is(err, directory.ErrEmailChanged) {
		t.Fatalf("the old address's link: %v", err)
	}
	got, err = d.UpdateUserClaims(ctx, u.Subject, map[string]any{"email": "alice@example.net", "email_verified": true})
	if err != nil || got.Claims["email_verified"] != true {
		t.Fatalf("an explicit verified change: %v %v", err, got.Claims)
	}
}
