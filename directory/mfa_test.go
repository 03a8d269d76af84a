package directory_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authrim/actors/keymanager"
	"authrim/directory"
	"authrim/internal/totp"
)

func newKEK(t *testing.T) *keymanager.KEK {
	t.Helper()
	k, err := keymanager.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mfaDirectory is a directory with a KEK and a clock the test moves.
func mfaDirectory(t *testing.T) (*directory.Directory, *atomic.Int64, directory.User) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix())
	opts := fast
	opts.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	opts.Sealer = newKEK(t)
	d, _ := newDirectory(t, opts)
	u := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	return d, &clock, u
}

func codeAt(secret []byte, unix int64) string {
	return totp.Code(totp.SHA1, secret, totp.Step(time.Unix(unix, 0)), totp.Digits)
}

// enrol enrols the user's app and returns its secret and recovery codes.
func enrol(t *testing.T, d *directory.Directory, clock *atomic.Int64, subject string) ([]byte, []string) {
	t.Helper()
	ctx := context.Background()
	secret, err := d.BeginTOTP(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := d.ConfirmTOTP(ctx, subject, codeAt(secret, clock.Load()))
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return secret, codes
}

func TestTOTPEnrolment(t *testing.T) {
	ctx := context.Background()
	d, clock, u := mfaDirectory(t)
	if st, err := d.MFA(ctx, u.Subject); err != nil || st.TOTP {
		t.Fatalf("before: %+v %v", st, err)
	}
	secret, err := d.BeginTOTP(ctx, u.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConfirmTOTP(ctx, u.Subject, "000000"); !errors.Is(err, directory.ErrMFACode) && codeAt(secret, clock.Load()) != "000000" {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	if st, _ := d.MFA(ctx, u.Subject); st.TOTP {
		t.Fatal("a wrong confirmation enrolled the app")
	}
	// A code of the pending secret after it expired is refused.
	clock.Add(int64(directory.PendingTOTPTTL / time.Second))
	if _, err := d.ConfirmTOTP(ctx, u.Subject, codeAt(secret, clock.Load())); !errors.Is(err, directory.ErrMFANotEnrolled) {
		t.Fatalf("expired enrolment: %v", err)
	}
	secret, codes := enrol(t, d, clock, u.Subject)
	if len(codes) != directory.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || directory.NormalizeRecoveryCode(c) == "" || seen[c] {
			t.Fatalf("recovery code %q", c)
		}
		seen[c] = true
	}
	st, err := d.MFA(ctx, u.Subject)
	if err != nil || !st.TOTP || st.RecoveryLeft != 10 || st.RecoveryTotal != 10 {
		t.Fatalf("after: %+v %v", st, err)
	}
	// A second enrolment needs the first removed.
	if _, err := d.BeginTOTP(ctx, u.Subject); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("second BeginTOTP: %v", err)
	}
	_ = secret
}

// TestTOTPSecretSealed: the stored record never holds the secret or a
// recovery code in clear, and opens only with the KEK it was sealed
// under.
func TestTOTPSecretSealed(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix())
	opts := fast
	opts.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	opts.Sealer = newKEK(t)
	d, store := newDirectory(t, opts)
	u := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	secret, codes := enrol(t, d, &clock, u.Subject)
	raw, err := store.Get(ctx, directory.BucketMFA, u.Subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{string(secret), totp.EncodeSecret(secret), strings.ReplaceAll(codes[0], "-", ""), codes[0]} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Fatalf("the record holds a secret in clear: %s", raw)
		}
	}
	// Another KEK cannot open it: the code check fails closed.
	other, _ := keymanager.NewKEK(bytes.Repeat([]byte{8}, 32))
	opts.Sealer = other
	d2, err := directory.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(60)
	if err := d2.VerifyTOTP(ctx, u.Subject, codeAt(secret, clock.Load())); err == nil || errors.Is(err, directory.ErrMFACode) {
		t.Fatalf("another KEK: %v", err)
	}
}

func TestVerifyTOTP(t *testing.T) {
	ctx := context.Background()
	d, clock, u := mfaDirectory(t)
	secret, _ := enrol(t, d, clock, u.Subject)
	// The confirmation's step is used.
	if err := d.VerifyTOTP(ctx, u.Subject, codeAt(secret, clock.Load())); !errors.Is(err, directory.ErrMFAReplay) {
		t.Fatalf("confirmation code again: %v", err)
	}
	clock.Add(90)
	now := clock.Load()
	for _, tc := range []struct {
		name string
		code string
		want error
	}{
		{"wrong code", wrongCode(secret, now), directory.ErrMFACode},
		{"code from a far step", codeAt(secret, now-300), directory.ErrMFACode},
		{"code two steps ahead", codeAt(secret, now+60), directory.ErrMFACode},
		{"malformed", "12ab56", directory.ErrMFACode},
		{"previous step", codeAt(secret, now-30), nil},
		{"previous step again (reused)", codeAt(secret, now-30), directory.ErrMFAReplay},
		{"current step", codeAt(secret, now), nil},
		{"current step again (reused)", codeAt(secret, now), directory.ErrMFAReplay},
		{"previous step after the current one", codeAt(secret, now-30), directory.ErrMFAReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := d.VerifyTOTP(ctx, u.Subject, tc.code)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	other := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse"})
	if err := d.VerifyTOTP(ctx, other.Subject, codeAt(secret, now+30)); !errors.Is(err, directory.ErrMFANotEnrolled) {
		t.Fatalf("user without an app: %v", err)
	}
}

// wrongCode is a 6-digit code that matches no step of the window at unix.
func wrongCode(secret []byte, unix int64) string {
	for _, c := range []string{"000000", "111111", "222222"} {
		if c != codeAt(secret, unix-30) && c != codeAt(secret, unix) && c != codeAt(secret, unix+30) {
			return c
		}
	}
	panic("unreachable")
}

// TestVerifyTOTPConcurrent: of many concurrent checks of one code, one
// succeeds (the compare-and-set on the last step).
func TestVerifyTOTPConcurrent(t *testing.T) {
	ctx := context.Background()
	d, clock, u := mfaDirectory(t)
	secret, _ := enrol(t, d, clock, u.Subject)
	clock.Add(60)
	code := codeAt(secret, clock.Load())
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if d.VerifyTOTP(ctx, u.Subject, code) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d successes, want 1", ok.Load())
	}
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	d, clock, u := mfaDirectory(t)
	_, codes := enrol(t, d, clock, u.Subject)
	left, err := d.UseRecoveryCode(ctx, u.Subject, strings.ToUpper(codes[3]))
	if err != nil || left != 9 {
		t.Fatalf("first use: %d %v", left, err)
	}
	if _, err := d.UseRecoveryCode(ctx, u.Subject, codes[3]); !errors.Is(err, directory.ErrMFACode) {
		t.Fatalf("reused recovery code: %v", err)
	}
	for _, bad := range []string{"", "abcde-fghjk", "00000-00000", codes[4] + "x"} {
		if _, err := d.UseRecoveryCode(ctx, u.Subject, bad); !errors.Is(err, directory.ErrMFACode) {
			t.Fatalf("bad code %q: %v", bad, err)
		}
	}
	st, _ := d.MFA(ctx, u.Subject)
	if st.RecoveryLeft != 9 || st.RecoveryLastUsed.IsZero() {
		t.Fatalf("status %+v", st)
	}
	// Another user's code does not work for this one.
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse"})
	_, bobCodes := enrol(t, d, clock, bob.Subject)
	if _, err := d.UseRecoveryCode(ctx, u.Subject, bobCodes[0]); !errors.Is(err, directory.ErrMFACode) {
		t.Fatalf("other user's code: %v", err)
	}
	// Regenerating kills the old set.
	fresh, err := d.RegenerateRecoveryCodes(ctx, u.Subject)
	if err != nil || len(fresh) != 10 {
		t.Fatal(err)
	}
	if _, err := d.UseRecoveryCode(ctx, u.Subject, codes[5]); !errors.Is(err, directory.ErrMFACode) {
		t.Fatalf("old set after regeneration: %v", err)
	}
	if _, err := d.UseRecoveryCode(ctx, u.Subject, fresh[5]); err != nil {
		t.Fatalf("new set: %v", err)
	}
	// Concurrent use of one code: one wins.
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := d.UseRecoveryCode(ctx, u.Subject, fresh[6]); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d successes, want 1", ok.Load())
	}
	// Reset removes everything; deleting the user removes the record.
	if had, err := d.ResetMFA(ctx, u.Subject); err != nil || !had {
		t.Fatal(had, err)
	}
	if st, _ := d.MFA(ctx, u.Subject); st.TOTP || st.RecoveryTotal != 0 {
		t.Fatalf("after reset: %+v", st)
	}
	if _, err := d.RegenerateRecoveryCodes(ctx, u.Subject); !errors.Is(err, directory.ErrMFANotEnrolled) {
		t.Fatalf("regenerate without an app: %v", err)
	}
	if err := d.DeleteUser(ctx, bob.Subject); err != nil {
		t.Fatal(err)
	}
	if had, _ := d.ResetMFA(ctx, bob.Subject); had {
		t.Fatal("DeleteUser left the second factors")
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Add("abcde-fghjk")
	f.Add("ABCDE FGHJK")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, s string) {
		n := directory.NormalizeRecoveryCode(s)
		if n != "" && (len(n) != 10 || directory.NormalizeRecoveryCode(n) != n) {
			t.Fatalf("%q -> %q", s, n)
		}
	})
}
