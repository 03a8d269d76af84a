package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestClientsRequireVerifiedEmailFlag: --require-verified-email sets the
// client's require_verified_email at add and update.
func TestClientsRequireVerifiedEmailFlag(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) error {
		var out bytes.Buffer
		return clientsRun(ctx, append(args, conn...), &out)
	}
	if err := run("add", "--id", "rp-ve", "--auth-method", "none", "--grant-types", "authorization_code",
		"--redirect-uri", "https://rp.example/cb", "--require-verified-email"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if c, err := dir.Client(ctx, "rp-ve"); err != nil || !c.RequireVerifiedEmail {
		t.Fatalf("stored %v %v", c.RequireVerifiedEmail, err)
	}
	if err := run("update", "rp-ve", "--require-verified-email=false"); err != nil {
		t.Fatal(err)
	}
	if c, _ := dir.Client(ctx, "rp-ve"); c.RequireVerifiedEmail {
		t.Fatal("still required after update")
	}
}

// TestUsersVerifyEmailUsage: verify-email takes exactly one USER; on a
// node without mail it is not served.
func TestUsersVerifyEmailUsage(t *testing.T) {
	srv, _ := adminServer(t)
	var out bytes.Buffer
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	if err := usersRun(context.Background(), append([]string{"verify-email"}, conn...), strings.NewReader(""), &out); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Fatalf("no USER: %v", err)
	}
}

// users invite: usage errors are refused before any request, and a node
// without invitations (registration.users closed) says no.
func TestUsersInviteUsage(t *testing.T) {
	srv, _ := adminServer(t)
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"invite"}, "--email"},
		{[]string{"invite", "extra", "--email", "a@example.com"}, "no arguments"},
		{[]string{"invite", "--email", "a@example.com"}, "404"},
	} {
		var out bytes.Buffer
		err := usersRun(context.Background(), append(tc.args, conn...), strings.NewReader(""), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
