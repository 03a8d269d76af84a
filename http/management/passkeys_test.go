package management

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/router"
	"authrim/persistence/bbolt"
)

// passkeyServer is the admin API wired as the node wires it:
// router.Mount(e, NewAdmin(...).WithDirectory(dir, dir)), on a real directory in
// a temporary bbolt file.
func passkeyServer(t *testing.T) (*testServer, *directory.Directory) {
	t.Helper()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	dir, err := directory.New(store, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	router.Mount(e, NewAdmin(testToken, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).WithDirectory(dir, dir))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{t: t, srv: srv, dir: dir}, dir
}

func testPasskey(t *testing.T, name string, flags protocol.AuthenticatorFlags) directory.Passkey {
	t.Helper()
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return directory.Passkey{
		Name: name,
		Credential: webauthn.Credential{
			ID:        id,
			PublicKey: []byte("public-key-bytes-not-for-display"),
			Transport: []protocol.AuthenticatorTransport{protocol.Internal},
			Flags:     webauthn.NewCredentialFlags(flags),
			Authenticator: webauthn.Authenticator{
				AAGUID:    []byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd},
				SignCount: 3,
			},
		},
	}
}

func TestPasskeysAPI(t *testing.T) {
	s, dir := passkeyServer(t)
	ctx := context.Background()
	alice, err := dir.CreateUser(ctx, directory.NewUser{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := dir.CreateUser(ctx, directory.NewUser{Username: "bob", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	synced := testPasskey(t, "iPhone", protocol.FlagUserPresent|protocol.FlagUserVerified|protocol.FlagBackupEligible|protocol.FlagBackupState)
	key := testPasskey(t, "YubiKey", protocol.FlagUserPresent)
	for _, pk := range []directory.Passkey{synced, key} {
		if err := dir.AddPasskey(ctx, alice.Subject, pk); err != nil {
			t.Fatal(err)
		}
	}
	used := time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	err = dir.UpdatePasskey(ctx, alice.Subject, key.Credential.ID, func(p *directory.Passkey) error {
		p.LastUsed = used
		p.Flagged, p.FlaggedReason, p.FlaggedAt = true, "sign count went from 3 to 1", used
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	syncedID := base64.RawURLEncoding.EncodeToString(synced.Credential.ID)
	keyID := base64.RawURLEncoding.EncodeToString(key.Credential.ID)

	// List, by username and by subject.
	for _, ref := range []string{"alice", "ALICE", alice.Subject} {
		status, body, _ := s.call(http.MethodGet, "/admin/users/"+ref+"/passkeys", testToken, nil)
		if status != http.StatusOK {
			t.Fatalf("list %s: %d %v", ref, status, body)
		}
		if n := len(body["passkeys"].([]any)); n != 2 {
			t.Fatalf("list %s: %d passkeys, want 2", ref, n)
		}
	}
	// Decode the last answer into the typed view the CLI uses.
	raw := s.bodies[len(s.bodies)-1]
	var v PasskeysView
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	p0, p1 := v.Passkeys[0], v.Passkeys[1]
	if p0.ID != syncedID || p0.Name != "iPhone" || !p0.BackupEligible || !p0.BackupState || !p0.UserVerified ||
		p0.SignCount != 3 || p0.AAGUID != "fbfc3007-154e-4ecc-8c0b-6e020557d7bd" || p0.Flagged || p0.LastUsed != nil ||
		p0.FlaggedAt != nil || len(p0.Transports) != 1 || p0.Transports[0] != "internal" || p0.Created.IsZero() {
		t.Errorf("synced passkey: %+v", p0)
	}
	if p1.ID != keyID || p1.BackupEligible || p1.BackupState || p1.UserVerified || !p1.Flagged ||
		p1.FlaggedReason != "sign count went from 3 to 1" || p1.FlaggedAt == nil || !p1.FlaggedAt.Equal(used) ||
		p1.LastUsed == nil || !p1.LastUsed.Equal(used) {
		t.Errorf("flagged passkey: %+v", p1)
	}
	for _, bad := range []string{"public-key-bytes", base64.StdEncoding.EncodeToString([]byte("public-key-bytes-not-for-display")), "publicKey"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the list shows the public key (%q): %s", bad, raw)
		}
	}

	// A user without passkeys: an empty list, not null.
	status, body, _ := s.call(http.MethodGet, "/admin/users/bob/passkeys", testToken, nil)
	if status != http.StatusOK || body["passkeys"] == nil || len(body["passkeys"].([]any)) != 0 {
		t.Errorf("bob: %d %v, want 200 with an empty list", status, body)
	}

	for _, tc := range []struct {
		name, method, path string
		want               int
		desc               string
	}{
		{"list unknown user", http.MethodGet, "/admin/users/nobody/passkeys", 404, "no such user"},
		{"delete for unknown user", http.MethodDelete, "/admin/users/nobody/passkeys/" + keyID, 404, "no such user"},
		{"delete another user's passkey", http.MethodDelete, "/admin/users/bob/passkeys/" + keyID, 404, "no such passkey"},
		{"delete unknown passkey", http.MethodDelete, "/admin/users/alice/passkeys/AAAAAAAAAAAAAAAAAAAAAA", 404, "no such passkey"},
		{"malformed cid", http.MethodDelete, "/admin/users/alice/passkeys/not*base64", 400, "base64url"},
		{"standard base64 cid", http.MethodDelete, "/admin/users/alice/passkeys/ab+c", 400, "base64url"},
		{"non-canonical cid", http.MethodDelete, "/admin/users/alice/passkeys/AB", 400, "base64url"},
		{"overlong cid", http.MethodDelete, "/admin/users/alice/passkeys/" + strings.Repeat("A", 1400), 400, "base64url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := s.call(tc.method, tc.path, testToken, nil)
			if status != tc.want || !strings.Contains(body["error_description"].(string), tc.desc) {
				t.Errorf("got %d %v, want %d mentioning %q", status, body, tc.want, tc.desc)
			}
		})
	}

	// Delete, by username; padding in the cid is tolerated.
	if status, body, _ := s.call(http.MethodDelete, "/admin/users/alice/passkeys/"+keyID, testToken, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, body)
	}
	if status, _, _ := s.call(http.MethodDelete, "/admin/users/alice/passkeys/"+keyID, testToken, nil); status != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", status)
	}
	padded := base64.URLEncoding.EncodeToString(synced.Credential.ID)
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("test ID %q has no padding", padded)
	}
	if status, body, _ := s.call(http.MethodDelete, "/admin/users/"+alice.Subject+"/passkeys/"+padded, testToken, nil); status != http.StatusNoContent {
		t.Fatalf("delete with padding, by subject: %d %v", status, body)
	}
	if got, err := dir.Passkeys(ctx, alice.Subject); err != nil || len(got) != 0 {
		t.Errorf("after deletes: %v, %v", got, err)
	}
	// The credential can be registered again (to anyone).
	if err := dir.AddPasskey(ctx, bob.Subject, key); err != nil {
		t.Errorf("re-register a deleted passkey: %v", err)
	}
	s.noHashes()
}

func TestPasskeysAPIRequiresToken(t *testing.T) {
	s, dir := passkeyServer(t)
	ctx := context.Background()
	alice, err := dir.CreateUser(ctx, directory.NewUser{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	pk := testPasskey(t, "x", protocol.FlagUserPresent)
	if err := dir.AddPasskey(ctx, alice.Subject, pk); err != nil {
		t.Fatal(err)
	}
	cid := base64.RawURLEncoding.EncodeToString(pk.Credential.ID)
	for _, tc := range []struct{ name, method, path, token string }{
		{"list without token", http.MethodGet, "/admin/users/alice/passkeys", ""},
		{"list with wrong token", http.MethodGet, "/admin/users/alice/passkeys", "wrong-token-0123456789"},
		{"delete without token", http.MethodDelete, "/admin/users/alice/passkeys/" + cid, ""},
		{"delete with wrong token", http.MethodDelete, "/admin/users/alice/passkeys/" + cid, "wrong-token-0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := s.call(tc.method, tc.path, tc.token, nil)
			if status != http.StatusUnauthorized || body["error"] != "unauthorized" {
				t.Errorf("got %d %v, want 401 unauthorized", status, body)
			}
		})
	}
	if got, _ := dir.Passkeys(ctx, alice.Subject); len(got) != 1 {
		t.Errorf("an unauthenticated delete removed the passkey")
	}
}

// A UserAdmin without passkey support mounts no passkey routes.
func TestPasskeyRoutesNeedPasskeyAdmin(t *testing.T) {
	e := echo.New()
	router.Mount(e, NewAdmin(testToken, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).WithDirectory(usersOnly{}, nil))
	for _, r := range e.Routes() {
		if strings.Contains(r.Path, "passkeys") {
			t.Errorf("route %s %s mounted", r.Method, r.Path)
		}
	}
}

type usersOnly struct{ UserAdmin }
