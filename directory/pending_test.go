package directory_test

import (
	"errors"
	"testing"

	"authrim/directory"
)

// A sign-up is pending until its address is confirmed: the right
// password is refused with ErrUserPending (still an
// ErrInvalidCredentials), and VerifyEmail of the address ends it.
func TestPendingUntilVerified(t *testing.T) {
	ctx := t.Context()
	d, _ := newDirectory(t, fast)
	u := mustCreateUser(t, d, directory.NewUser{Username: "rhea", Password: "a fine long phrase", Pending: true,
		Claims: map[string]any{"email": "rhea@example.com", "email_verified": false}})
	if _, err := d.Authenticate(ctx, "rhea", "a fine long phrase"); !errors.Is(err, directory.ErrUserPending) || !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("pending sign-in: %v", err)
	}
	if _, err := d.Authenticate(ctx, "rhea", "a wrong long phrase"); errors.Is(err, directory.ErrUserPending) {
		t.Fatal("a wrong password learns that the account is pending")
	}
	if _, err := d.VerifyEmail(ctx, u.Subject, "other@example.com"); err == nil {
		t.Fatal("another address confirmed the sign-up")
	}
	if _, err := d.VerifyEmail(ctx, u.Subject, "rhea@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "rhea", "a fine long phrase"); err != nil {
		t.Fatalf("after confirming: %v", err)
	}
}
