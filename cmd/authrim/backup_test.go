package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/oauth2"

	"authrim/node"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

const (
	backupToken    = "backup-test-admin-token-0123456789"
	backupRedirect = "http://127.0.0.1:9/callback"
	backupPassword = "correct horse battery staple"
)

// testNode is an in-process node on a real listener and a real bbolt file.
type testNode struct {
	n      *node.Node
	issuer string
	stop   func()
}

// startTestNode starts a node whose storage.dir is dir and whose KEK file
// is dir/kek (the default layout: the KEK sits next to authrim.db).
func startTestNode(t *testing.T, dir, adminToken string) *testNode {
	t.Helper()
	port := freePort(t)
	cfg := node.Default()
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Issuer = fmt.Sprintf("http://localhost:%d", port)
	cfg.Storage.Dir = dir
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Admin.Token = adminToken
	cfg.Passwords = node.PasswordsConfig{Time: node.MinArgon2Time, MemoryKiB: node.MinArgon2MemoryKiB, Threads: 1}
	cfg.RateLimit.Enabled = false
	n, err := node.Start(context.Background(), cfg, node.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := n.Shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testNode{n: n, issuer: cfg.Issuer, stop: stop}
}

// rpBrowser is a cookie-jar client that does not follow redirects.
func rpBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

var formInputRE = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// signInCode runs a browser through /authorize, the login form and the
// consent page, and returns the code the OP redirects to the RP with.
// backupPKCE is the code_verifier of signInCode's requests: every client
// must use PKCE.
var backupPKCE = oauth2.GenerateVerifier()

func signInCode(t *testing.T, issuer, clientID, username string) string {
	t.Helper()
	return signInCodeScope(t, issuer, clientID, username, "openid profile")
}

// signInCodeScope is signInCode asking for scope.
func signInCodeScope(t *testing.T, issuer, clientID, username, scope string) string {
	t.Helper()
	b := rpBrowser()
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {backupRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(backupPKCE)}, "code_challenge_method": {"S256"},
	}
	req, _ := http.NewRequest(http.MethodGet, issuer+"/authorize?"+q.Encode(), nil)
	for range 8 {
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if loc, err := resp.Location(); err == nil {
			if strings.HasPrefix(loc.String(), backupRedirect) {
				if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
					t.Fatalf("callback %s", loc)
				}
				return loc.Query().Get("code")
			}
			req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
			continue
		}
		form := url.Values{}
		for _, m := range formInputRE.FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		var action string
		switch {
		case strings.Contains(page, `name="password"`):
			form.Set("username", username)
			form.Set("password", backupPassword)
			action = "/login"
		case strings.Contains(page, `name="decision"`):
			form.Set("decision", "allow")
			action = "/consent"
		default:
			t.Fatalf("unexpected page %d: %s", resp.StatusCode, page)
		}
		req, _ = http.NewRequest(http.MethodPost, issuer+action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	t.Fatal("sign-in did not reach the RP")
	return ""
}

// redeemCode exchanges a code at /token with client_secret_basic.
func redeemCode(t *testing.T, issuer, clientID, secret, code string) map[string]any {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {backupRedirect}, "code_verifier": {backupPKCE}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v %v", resp.StatusCode, out, err)
	}
	return out
}

// jwsKid is the kid in a compact JWS's protected header.
func jwsKid(t *testing.T, raw string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

func adminGet(t *testing.T, base, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestBackupAndRestore backs a live node up with the CLI, restores the
// file into a fresh directory next to a copy of the KEK, and shows that a
// node started there serves the same keys and lets the same user sign in
// with the same client.
func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	dir1 := t.TempDir()
	a := startTestNode(t, dir1, backupToken)
	conn := []string{"--server", a.n.URL(), "--admin-token", backupToken}

	// State through the admin API: a user and a registered client.
	var out bytes.Buffer
	if err := usersRun(ctx, append([]string{"add", "--username", "alice", "--password", backupPassword, "--name", "Alice"}, conn...), strings.NewReader(""), &out); err != nil {
		t.Fatalf("users add: %v", err)
	}
	m := regexp.MustCompile(`\(sub ([^)]+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("users add printed %q", out.String())
	}
	sub := m[1]
	out.Reset()
	if err := clientsRun(ctx, append([]string{"add", "--id", "backup-rp", "--auth-method", "client_secret_basic",
		"--redirect-uri", backupRedirect, "--grant-types", "authorization_code"}, conn...), &out); err != nil {
		t.Fatalf("clients add: %v", err)
	}
	m = regexp.MustCompile(`(?m)^client_secret: +(\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("clients add printed %q", out.String())
	}
	secret := m[1]
	// One sign-in on the original node: sessions, consent and a grant.
	if tok := redeemCode(t, a.issuer, "backup-rp", secret, signInCode(t, a.issuer, "backup-rp", "alice")); tok["id_token"] == nil {
		t.Fatalf("token response %v", tok)
	}
	kidsBefore := jwksKids(t, a.n.URL())
	if len(kidsBefore) == 0 {
		t.Fatal("no keys in the JWKS")
	}

	// Online backup through the CLI.
	backupDir := t.TempDir()
	file := filepath.Join(backupDir, "authrim-backup.db")
	out.Reset()
	if err := backupRun(ctx, append([]string{"--out", file}, conn...), &out); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out.String(), "wrote "+file) || !strings.Contains(out.String(), "1 users, 1 registered clients") {
		t.Errorf("backup printed %q", out.String())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left behind: %v", err)
	}
	a.stop()

	// Restore into a fresh directory, with the KEK copied next to it.
	dir2 := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	if err := restoreRun([]string{"--from", file, "--data", dir2}, &out); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out.String(), "same KEK file") {
		t.Errorf("restore printed no KEK reminder: %q", out.String())
	}
	if fi, err := os.Stat(filepath.Join(dir2, bbolt.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", fi, err)
	}
	if fi, err := os.Stat(dir2); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("restored dir: %v %v", fi, err)
	}
	kek, err := os.ReadFile(filepath.Join(dir1, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}

	// A new node (new port, so a new issuer) on the restored directory.
	b := startTestNode(t, dir2, backupToken)
	kidsAfter := jwksKids(t, b.n.URL())
	if !slices.Equal(kidsBefore, kidsAfter) {
		t.Fatalf("kids after restore %v, want %v", kidsAfter, kidsBefore)
	}
	tok := redeemCode(t, b.issuer, "backup-rp", secret, signInCode(t, b.issuer, "backup-rp", "alice"))
	rawID, _ := tok["id_token"].(string)
	provider, err := oidc.NewProvider(ctx, b.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "backup-rp"}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token from the restored node: %v", err)
	}
	if idt.Subject != sub || idt.Nonce != "n-1" {
		t.Errorf("ID token sub %q nonce %q, want sub %q", idt.Subject, idt.Nonce, sub)
	}
	if kid := jwsKid(t, rawID); !slices.Contains(kidsBefore, kid) {
		t.Errorf("ID token kid %q is not one of the restored kids %v", kid, kidsBefore)
	}

	// The restored directory is now a node's: a second restore refuses
	// without --force, and with --force while the node holds the file.
	err = restoreRun([]string{"--from", file, "--data", dir2}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("restore over an existing database: %v", err)
	}
	err = restoreRun([]string{"--from", file, "--data", dir2, "--force"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("restore under a running node: %v", err)
	}
	b.stop()
	out.Reset()
	if err := restoreRun([]string{"--from", file, "--data", dir2, "--force"}, &out); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	kept := regexp.MustCompile(`kept as (\S+)`).FindStringSubmatch(out.String())
	if kept == nil {
		t.Fatalf("forced restore printed %q", out.String())
	}
	if _, err := os.Stat(kept[1]); err != nil {
		t.Errorf("the replaced database was not kept: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir2, bbolt.FileName+".restore-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRestoreRefusesBadInput(t *testing.T) {
	// A real snapshot to damage.
	dir := t.TempDir()
	store, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(t.Context(), persistence.BucketUsers, "u", bytes.Repeat([]byte("x"), 256<<10)); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := store.WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	store.Close()

	src := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 64<<10)
	rand.Read(random)
	for _, tc := range []struct {
		name, from, want string
	}{
		{"text file", write("notes.txt", []byte("not a database\n")), "not a bbolt database"},
		{"random bytes", write("random.bin", random), "not a bbolt database"},
		{"truncated snapshot", write("half.db", snap.Bytes()[:snap.Len()/2]), "truncated"},
		{"missing file", filepath.Join(src, "nope.db"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data")
			err := restoreRun([]string{"--from", tc.from, "--data", target}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Errorf("a refused restore touched the target: %v", err)
			}
		})
	}

	// A bbolt file that is not an authrim database (no keys bucket).
	other := filepath.Join(src, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("things")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := restoreRun([]string{"--from", other, "--data", t.TempDir()}, io.Discard); err == nil || !strings.Contains(err.Error(), `no "keys" bucket`) {
		t.Errorf("foreign bbolt file: %v", err)
	}

	// The untruncated snapshot is fine: the checks above are about the
	// damage, not the file.
	good := write("good.db", snap.Bytes())
	if err := restoreRun([]string{"--from", good, "--data", filepath.Join(t.TempDir(), "data")}, io.Discard); err != nil {
		t.Errorf("good snapshot: %v", err)
	}
}

func TestBackupAdminAPIGuards(t *testing.T) {
	ctx := context.Background()
	a := startTestNode(t, t.TempDir(), backupToken)
	if code := adminGet(t, a.n.URL(), "/admin/backup", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /admin/backup without a token: %d, want 401", code)
	}
	if code := adminGet(t, a.n.URL(), "/admin/backup", "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("GET /admin/backup with a wrong token: %d, want 401", code)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	err := backupRun(ctx, []string{"--out", file, "--server", a.n.URL(), "--admin-token", "wrong-token-0123456789"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("backup with a wrong token: %v, want a 401", err)
	}
	if left, _ := filepath.Glob(file + "*"); len(left) != 0 {
		t.Errorf("a refused backup left files: %v", left)
	}
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	if err := backupRun(ctx, []string{"--out", file, "--server", a.n.URL()}, io.Discard); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("backup without a token: %v", err)
	}
	if err := backupRun(ctx, []string{"--server", a.n.URL(), "--admin-token", backupToken}, io.Discard); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("backup without --out: %v", err)
	}

	// Without an admin token the node mounts no admin API at all. (One
	// node at a time: protoactor's remote start sets grpc's global logger,
	// which races with a node already serving in the same process.)
	a.stop()
	b := startTestNode(t, t.TempDir(), "")
	if code := adminGet(t, b.n.URL(), "/admin/backup", backupToken); code != http.StatusNotFound {
		t.Errorf("GET /admin/backup on a node without admin.token: %d, want 404", code)
	}
}
