package directory_test

import (
	"errors"
	"testing"
	"time"

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

// A sign-up never confirmed is deleted once its link's lifetime has
// passed, and its username is free again; a young one, one whose link
// was mailed again and still works, and a confirmed account are kept.
func TestSweepPendingSignUps(t *testing.T) {
	ctx := t.Context()
	d, clock, _ := actionDirectory(t)
	const ttl = 24 * time.Hour
	pending := func(name string) directory.User {
		return mustCreateUser(t, d, directory.NewUser{Username: name, Password: "a fine long phrase", Pending: true,
			Claims: map[string]any{"email": name + "@example.com", "email_verified": false}})
	}
	old := pending("olga")
	resent := pending("rita")
	confirmed := pending("cora")
	if _, err := d.VerifyEmail(ctx, confirmed.Subject, "cora@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.IssueActionToken(ctx, directory.PurposeVerifyEmail, old.Subject, "olga@example.com", ttl); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64((ttl - time.Hour) / time.Second))
	// Rita's link is mailed again an hour before the first one expires.
	if _, _, err := d.IssueActionToken(ctx, directory.PurposeVerifyEmail, resent.Subject, "rita@example.com", ttl); err != nil {
		t.Fatal(err)
	}
	young := pending("yves")
	if gone, err := d.SweepPendingSignUps(ctx, ttl); err != nil || len(gone) != 0 {
		t.Fatalf("before the lifetime: %v %v", gone, err)
	}
	clock.Add(int64(2 * time.Hour / time.Second))
	gone, err := d.SweepPendingSignUps(ctx, ttl)
	if err != nil || len(gone) != 1 || gone[0].Subject != old.Subject {
		t.Fatalf("swept %+v %v, want olga only", gone, err)
	}
	if _, err := d.User(ctx, old.Subject); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("olga is still there: %v", err)
	}
	for _, u := range []directory.User{resent, confirmed, young} {
		if _, err := d.User(ctx, u.Subject); err != nil {
			t.Fatalf("%s was swept: %v", u.Username, err)
		}
	}
	// The name is free for a new sign-up.
	pending("olga")
}
