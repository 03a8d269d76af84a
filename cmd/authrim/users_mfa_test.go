package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"authrim/actors/keymanager"
	"authrim/directory"
	"authrim/internal/totp"
)

func testKEK(t *testing.T) *keymanager.KEK {
	t.Helper()
	k, err := keymanager.NewKEK(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestUsersMFACmd: `users mfa USER` shows the app and the recovery codes
// left; --reset removes both, after which the user has none.
func TestUsersMFACmd(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := usersRun(ctx, append(args, conn...), strings.NewReader(""), &out)
		return out.String(), err
	}
	alice, err := dir.CreateUser(ctx, directory.NewUser{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("mfa", "alice"); err != nil || out != "user alice has no authenticator app\n" {
		t.Fatalf("before: %q, %v", out, err)
	}
	secret, err := dir.BeginTOTP(ctx, alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := dir.ConfirmTOTP(ctx, alice.Subject, totp.Code(totp.SHA1, secret, totp.Step(time.Now()), totp.Digits))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.UseRecoveryCode(ctx, alice.Subject, codes[0]); err != nil {
		t.Fatal(err)
	}
	out, err := run("mfa", alice.Subject)
	if err != nil || !strings.Contains(out, "user "+alice.Subject+": authenticator app since ") || !strings.Contains(out, "recovery codes: 9 of 10 left") {
		t.Fatalf("show: %q, %v", out, err)
	}
	if out, err := run("mfa", "alice", "--reset"); err != nil || !strings.Contains(out, "reset two-factor sign-in of user alice") {
		t.Fatalf("reset: %q, %v", out, err)
	}
	if st, _ := dir.MFA(ctx, alice.Subject); st.TOTP || st.RecoveryTotal != 0 {
		t.Fatalf("after reset: %+v", st)
	}
	if _, err := run("mfa", "nobody"); err == nil {
		t.Fatal("unknown user: no error")
	}
	if _, err := run("mfa"); err == nil {
		t.Fatal("no USER: no error")
	}
}

// TestClientsMFAPolicyFlag: --mfa-policy sets a client's second-factor
// policy at add and update, refuses an unknown value, and "" removes it.
func TestClientsMFAPolicyFlag(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	if _, err := run("add", "--id", "rp-mfa", "--auth-method", "none", "--grant-types", "authorization_code",
		"--redirect-uri", "https://rp.example/cb", "--mfa-policy", "required"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if c, err := dir.Client(ctx, "rp-mfa"); err != nil || c.MFAPolicy != directory.MFARequired {
		t.Fatalf("stored %q %v", c.MFAPolicy, err)
	}
	if _, err := run("update", "rp-mfa", "--mfa-policy", "always"); err == nil || !strings.Contains(err.Error(), "mfa_policy") {
		t.Fatalf("unknown policy: %v", err)
	}
	if _, err := run("update", "rp-mfa", "--mfa-policy", "optional"); err != nil {
		t.Fatal(err)
	}
	if c, _ := dir.Client(ctx, "rp-mfa"); c.MFAPolicy != directory.MFAOptional {
		t.Fatalf("after update %q", c.MFAPolicy)
	}
	if _, err := run("update", "rp-mfa", "--mfa-policy", ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := dir.Client(ctx, "rp-mfa"); c.MFAPolicy != "" {
		t.Fatalf("after removal %q", c.MFAPolicy)
	}
}
