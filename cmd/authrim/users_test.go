package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/management"
	"authrim/http/router"
	"authrim/persistence/bbolt"
)

const cliToken = "cli-admin-token-0123456789"

// adminServer runs the real user and client admin handlers on a directory
// in a temporary bbolt file, with one static client.
func adminServer(t *testing.T) (*httptest.Server, *directory.Directory) {
	t.Helper()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	static, err := directory.NewStaticClient(directory.NewClient{
		ID:     "static-web",
		Secret: "static-secret-static-secret-static-secret",
		ClientMetadata: directory.ClientMetadata{
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://web.example/cb"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.New(store, directory.Options{
		Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1, StaticClients: []directory.Client{static},
		StaticResources: []directory.ResourceMetadata{{Identifier: "https://static-api.example/", Scopes: []string{"read"}}},
		Sealer:          testKEK(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	// The real admin API, bearer check included.
	router.Mount(e, management.NewAdmin(cliToken, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).WithDirectory(dir, dir).WithResources(dir))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, dir
}

func TestUsersCmd(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := usersRun(ctx, append(args, conn...), strings.NewReader(stdin), &out)
		return out.String(), err
	}

	out, err := run("", "add", "--username", "Alice", "--password", "correct horse",
		"--email", "alice@example.com", "--email-verified", "--name", "Alice Liddell",
		"--claims", `{"address":{"country":"UK"}}`)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if !strings.HasPrefix(out, "created user Alice (sub ") {
		t.Errorf("add printed %q", out)
	}
	u, err := dir.Authenticate(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatalf("the added user cannot sign in: %v", err)
	}
	if u.Claims["email_verified"] != true || u.Claims["name"] != "Alice Liddell" || u.Claims["address"].(map[string]any)["country"] != "UK" {
		t.Errorf("claims %v", u.Claims)
	}

	if _, err := run("s3cret-from-stdin\nignored second line\n", "add", "--password-stdin", "--username", "bob"); err != nil {
		t.Fatalf("add --password-stdin: %v", err)
	}
	if _, err := dir.Authenticate(ctx, "bob", "s3cret-from-stdin"); err != nil {
		t.Errorf("password from stdin: %v", err)
	}
	if _, err := run("windows-line-end\r\n", "add", "--password-stdin", "--username", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Authenticate(ctx, "carol", "windows-line-end"); err != nil {
		t.Errorf("CRLF password from stdin: %v", err)
	}

	out, err = run("", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"USERNAME", "Alice", "alice@example.com", "Alice Liddell", "bob", u.Subject} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "correct horse") {
		t.Errorf("list output shows a password or hash:\n%s", out)
	}

	if _, err := run("", "add", "--username", "ALICE", "--password", "another one"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("duplicate add: %v, want a 409", err)
	}
	if _, err := run("", "add", "--username", "dave", "--password", "short"); err == nil || !strings.Contains(err.Error(), "password must be at least") {
		t.Errorf("short password: %v, want the server's reason", err)
	}

	out, err = run("", "disable", "alice")
	if err != nil || out != "disabled user Alice ("+u.Subject+")\n" {
		t.Fatalf("disable: %q, %v", out, err)
	}
	if _, err := dir.Authenticate(ctx, "alice", "correct horse"); !errors.Is(err, directory.ErrUserDisabled) {
		t.Fatalf("a disabled user signs in: %v", err)
	}
	if out, err := run("", "list"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("list does not show the disabled user: %v\n%s", err, out)
	}
	if out, err = run("", "enable", u.Subject); err != nil || out != "enabled user Alice ("+u.Subject+")\n" {
		t.Fatalf("enable: %q, %v", out, err)
	}
	if _, err := dir.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Fatalf("an enabled user cannot sign in: %v", err)
	}
	if _, err := run("", "disable", "nobody"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("disable an unknown user: %v, want a 404", err)
	}

	if out, err = run("", "grant-admin", "alice"); err != nil || out != "granted the admin role to Alice ("+u.Subject+")\n" {
		t.Fatalf("grant-admin: %q, %v", out, err)
	}
	if got, err := dir.User(ctx, u.Subject); err != nil || !got.Admin {
		t.Fatalf("grant-admin stored %+v, %v", got, err)
	}
	if out, err = run("", "revoke-admin", "alice"); err != nil || out != "revoked the admin role of Alice ("+u.Subject+")\n" {
		t.Fatalf("revoke-admin: %q, %v", out, err)
	}
	if got, err := dir.User(ctx, u.Subject); err != nil || got.Admin {
		t.Fatalf("revoke-admin stored %+v, %v", got, err)
	}

	out, err = run("", "delete", "alice")
	if err != nil || out != "deleted user alice\n" {
		t.Fatalf("delete: %q, %v", out, err)
	}
	if _, err := run("", "delete", u.Subject); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("delete again: %v, want a 404", err)
	}
}

// Usage errors are found before any request is sent.
func TestUsersCmdUsage(t *testing.T) {
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	const unused = "http://127.0.0.1:1"
	conn := []string{"--server", unused, "--admin-token", cliToken}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no subcommand", nil, "", "subcommand"},
		{"unknown subcommand", append([]string{"rename"}, conn...), "", "unknown users subcommand"},
		{"add without username", append([]string{"add", "--password", "a long enough password"}, conn...), "", "--username"},
		{"add without password", append([]string{"add", "--username", "x"}, conn...), "", "--password"},
		{"both password flags", append([]string{"add", "--username", "x", "--password", "a long enough password", "--password-stdin"}, conn...), "pw\n", "not both"},
		{"empty stdin", append([]string{"add", "--username", "x", "--password-stdin"}, conn...), "", "no password"},
		{"claim twice", append([]string{"add", "--username", "x", "--password", "a long enough password", "--email", "a@b.c", "--claims", `{"email":"d@e.f"}`}, conn...), "", "email"},
		{"claims not an object", append([]string{"add", "--username", "x", "--password", "a long enough password", "--claims", `[1]`}, conn...), "", "JSON object"},
		{"unknown flag", append([]string{"add", "--username", "x", "--pasword", "a long enough password"}, conn...), "", "pasword"},
		{"list with an argument", append([]string{"list", "x"}, conn...), "", "no arguments"},
		{"delete without user", append([]string{"delete"}, conn...), "", "exactly one"},
		{"disable without user", append([]string{"disable"}, conn...), "", "exactly one"},
		{"enable with two users", append([]string{"enable", "a", "b"}, conn...), "", "exactly one"},
		{"passkeys without user", append([]string{"passkeys"}, conn...), "", "exactly one USER"},
		{"passkeys with two users", append([]string{"passkeys", "a", "b"}, conn...), "", "exactly one USER"},
		{"passkeys --delete without id", append([]string{"passkeys", "alice", "--delete", ""}, conn...), "", "needs a passkey ID"},
		{"no admin token", []string{"list", "--server", unused}, "", "admin token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := usersRun(context.Background(), tc.args, strings.NewReader(tc.stdin), io.Discard)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
}

func cliPasskey(t *testing.T, name string, flags protocol.AuthenticatorFlags) directory.Passkey {
	t.Helper()
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return directory.Passkey{Name: name, Credential: webauthn.Credential{
		ID: id, PublicKey: []byte{1, 2, 3}, Flags: webauthn.NewCredentialFlags(flags),
	}}
}

func TestUsersPasskeysCmd(t *testing.T) {
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
	out, err := run("passkeys", "alice")
	if err != nil || out != "user alice has no passkeys\n" {
		t.Fatalf("no passkeys: %q, %v", out, err)
	}

	synced := cliPasskey(t, "iPhone", protocol.FlagUserPresent|protocol.FlagBackupEligible|protocol.FlagBackupState)
	key := cliPasskey(t, "YubiKey", protocol.FlagUserPresent)
	for _, pk := range []directory.Passkey{synced, key} {
		if err := dir.AddPasskey(ctx, alice.Subject, pk); err != nil {
			t.Fatal(err)
		}
	}
	used := time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	err = dir.UpdatePasskey(ctx, alice.Subject, key.Credential.ID, func(p *directory.Passkey) error {
		p.LastUsed = used
		p.Flagged, p.FlaggedReason, p.FlaggedAt = true, "counter went backwards", used
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	syncedID := base64.RawURLEncoding.EncodeToString(synced.Credential.ID)
	keyID := base64.RawURLEncoding.EncodeToString(key.Credential.ID)

	// Flags may come after the user, and the user may be a subject.
	out, err = run("passkeys", alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", out)
	}
	for _, want := range []string{"ID", "NAME", "CREATED", "LAST USED", "BACKUP", "FLAGGED"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header lacks %q: %s", want, lines[0])
		}
	}
	for _, want := range []string{syncedID, "iPhone", "never", "eligible, backed up"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row 1 lacks %q: %s", want, lines[1])
		}
	}
	for _, want := range []string{keyID, "YubiKey", "2026-04-01T09:30:00Z", " no ", "yes: counter went backwards (2026-04-01T09:30:00Z)"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("row 2 lacks %q: %s", want, lines[2])
		}
	}

	out, err = run("passkeys", "alice", "--delete", keyID)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if want := "deleted passkey " + keyID + " (\"YubiKey\") of user alice\n"; out != want {
		t.Errorf("delete printed %q, want %q", out, want)
	}
	if got, _ := dir.Passkeys(ctx, alice.Subject); len(got) != 1 || got[0].Name != "iPhone" {
		t.Errorf("after delete: %+v", got)
	}
	if _, err := run("passkeys", "--delete", keyID, "alice"); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no such passkey") {
		t.Errorf("delete again: %v, want a 404", err)
	}
	if _, err := run("passkeys", "alice", "--delete", "not*an*id"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("malformed id: %v, want a 400", err)
	}
	if _, err := run("passkeys", "nobody"); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("unknown user: %v, want a 404", err)
	}
	if _, err := run("passkeys", "nobody", "--delete", syncedID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("delete for an unknown user: %v, want a 404", err)
	}
	if got, _ := dir.Passkeys(ctx, alice.Subject); len(got) != 1 {
		t.Errorf("a failed delete removed a passkey: %+v", got)
	}
}

// TestAdminTokenNeverInPlaintextOffTheMachine: the CLI refuses to send
// the admin token over plain http to a host that is not loopback (anyone
// on the path would read it), unless told --insecure.
func TestAdminTokenNeverInPlaintextOffTheMachine(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		refuse bool
	}{
		{"plain http to a LAN address", []string{"keys", "list", "--server", "http://192.0.2.1:8080"}, true},
		{"plain http to a name", []string{"users", "list", "--server", "http://idp.example.invalid"}, true},
		{"backup over plain http", []string{"backup", "--out", filepath.Join(t.TempDir(), "b.db"), "--server", "http://idp.example.invalid"}, true},
		{"--insecure", []string{"users", "list", "--insecure", "--server", "http://idp.example.invalid"}, false},
		{"https", []string{"users", "list", "--server", "https://idp.example.invalid"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, append(tt.args, "--admin-token", "a-token-that-must-not-leak"), &stdout, &stderr)
			refused := strings.Contains(stderr.String(), "refusing to send the admin token in plaintext")
			if refused != tt.refuse || code == 0 {
				t.Fatalf("exit %d, refused %v (want %v): %s", code, refused, tt.refuse, stderr.String())
			}
		})
	}
}

// users show, update and set-password against the real admin handlers.
func TestUsersShowUpdateSetPassword(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := usersRun(ctx, append(args, conn...), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	u, err := dir.CreateUser(ctx, directory.NewUser{Username: "Alice", Password: "correct horse",
		Claims: map[string]any{"name": "Alice Liddell", "nickname": "Al", "address": map[string]any{"country": "UK"}}})
	if err != nil {
		t.Fatal(err)
	}

	out, err := run("", "show", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"username: Alice", "sub: " + u.Subject, "state: enabled", "claims: address: {\"country\":\"UK\"} name: Alice Liddell nickname: Al"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "argon2") {
		t.Errorf("show prints the hash:\n%s", out)
	}
	out, err = run("", "show", u.Subject, "--json")
	var view management.UserView
	if err != nil || json.Unmarshal([]byte(out), &view) != nil || view.Subject != u.Subject || view.Claims["nickname"] != "Al" {
		t.Fatalf("show --json: %v\n%s", err, out)
	}

	out, err = run("", "update", "alice", "--email", "alice@example.org", "--email-verified", "--unset", "nickname",
		"--claims", `{"address":{"locality":"Oxford"}}`)
	if err != nil || out != "updated user Alice ("+u.Subject+")\n" {
		t.Fatalf("update: %q %v", out, err)
	}
	got, _ := dir.User(ctx, u.Subject)
	if got.Claims["email"] != "alice@example.org" || got.Claims["email_verified"] != true || got.Claims["nickname"] != nil ||
		got.Claims["name"] != "Alice Liddell" || got.Claims["address"].(map[string]any)["locality"] != "Oxford" {
		t.Fatalf("claims after update: %v", got.Claims)
	}
	// Refused by the server: nothing changes.
	if _, err := run("", "update", "alice", "--email", "not an address"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("bad email: %v", err)
	}
	if again, _ := dir.User(ctx, u.Subject); again.Claims["email"] != "alice@example.org" {
		t.Fatal("a refused update changed the email")
	}

	out, err = run("the new passphrase\n", "set-password", "alice", "--password-stdin")
	if err != nil || !strings.HasPrefix(out, "set the password of user Alice") {
		t.Fatalf("set-password --password-stdin: %q %v", out, err)
	}
	if _, err := dir.Authenticate(ctx, "alice", "the new passphrase"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := dir.Authenticate(ctx, "alice", "correct horse"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the old password: %v", err)
	}
	if _, err := run("", "set-password", "alice", "--password", "from the command line"); err != nil {
		t.Fatalf("set-password --password: %v", err)
	}
	if _, err := run("short\n", "set-password", "alice", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := dir.Authenticate(ctx, "alice", "from the command line"); err != nil {
		t.Fatalf("a refused password changed the password: %v", err)
	}
	if _, err := run("a password\n", "set-password", "nobody", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown user: %v", err)
	}
}

// The command lines of show, update and set-password that are refused
// before anything is sent.
func TestUsersEditUsage(t *testing.T) {
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	conn := []string{"--server", "http://127.0.0.1:1", "--admin-token", cliToken}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"show without user", []string{"show"}, "", "exactly one USER"},
		{"update without user", []string{"update", "--email", "a@b.c"}, "", "exactly one USER"},
		{"update without a change", []string{"update", "alice"}, "", "needs a claim"},
		{"update set and unset", []string{"update", "alice", "--email", "a@b.c", "--unset", "email"}, "", "both set and --unset"},
		{"update claims not JSON", []string{"update", "alice", "--claims", "{"}, "", "JSON object"},
		{"set-password without user", []string{"set-password", "--password-stdin"}, "pw\n", "exactly one USER"},
		{"set-password both", []string{"set-password", "alice", "--password", "a long enough password", "--password-stdin"}, "pw\n", "not both"},
		// Standard input is not a terminal here: no prompt, no guess.
		{"set-password no source", []string{"set-password", "alice"}, "a password\n", "--password-stdin (or a terminal"},
		{"set-password empty stdin", []string{"set-password", "alice", "--password-stdin"}, "", "no password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := usersRun(context.Background(), append(tc.args, conn...), strings.NewReader(tc.stdin), io.Discard)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
}
