package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// The fixture of the previous release's stored data: see
// testdata/previous-release/README.md for how it was made.
var (
	generatePrevious = flag.Bool("generate-previous-release", false,
		"write testdata/previous-release from the binary given with -previous-bin (see its README)")
	previousBin = flag.String("previous-bin", "", "an authrim binary built from the previous release")
)

const previousDir = "testdata/previous-release"

// previousFixture is what the generator recorded next to the data.
type previousFixture struct {
	Commit       string          `json:"commit"`
	Username     string          `json:"username"`
	Password     string          `json:"password"`
	Subject      string          `json:"subject"`
	ClientID     string          `json:"client_id"`
	ClientSecret string          `json:"client_secret"`
	RefreshToken string          `json:"refresh_token"`
	JWKS         json.RawMessage `json:"jwks"`
}

// previousEnv is the configuration of both the generator's node and the
// test's: long lifetimes, so that the fixture's keys do not rotate and
// its refresh token does not expire for ten years.
func previousEnv(dir string, port int) []string {
	return []string{
		"AUTHRIM_CONFIG=",
		"AUTHRIM_STORAGE_DIR=" + dir,
		"AUTHRIM_KEYS_KEK_FILE=" + filepath.Join(dir, "kek"),
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", port),
		fmt.Sprintf("AUTHRIM_ISSUER=http://localhost:%d", port),
		"AUTHRIM_ADMIN_TOKEN=" + backupToken,
		"AUTHRIM_PASSWORDS_TIME=2", "AUTHRIM_PASSWORDS_MEMORY_KIB=19456", "AUTHRIM_PASSWORDS_THREADS=1",
		"AUTHRIM_RATE_LIMIT_ENABLED=false",
		"AUTHRIM_KEYS_ROTATION_PERIOD=87600h",
		"AUTHRIM_SESSION_TTL=87600h",
		"AUTHRIM_TOKENS_REFRESH_TOKEN_TTL=87600h",
	}
}

// jwksKeys is a JWKS reduced to each key's id and public parameters, in
// kid order: what must not change across an upgrade.
func jwksKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	var out []string
	for _, k := range set.Keys {
		var parts []string
		for _, name := range []string{"kid", "kty", "crv", "n", "e", "x", "y"} {
			parts = append(parts, fmt.Sprint(k[name]))
		}
		out = append(out, strings.Join(parts, " "))
	}
	slices.Sort(out)
	return out
}

func getJWKS(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// refreshWith runs the refresh_token grant as the fixture's client.
func refreshWith(base string, f previousFixture) (int, map[string]any, error) {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.RefreshToken}}
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.ClientID), url.QueryEscape(f.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStartsOnPreviousReleaseData starts today's binary on a copy of a
// data directory written by the previous release (before the store had a
// schema version record): the store is stamped version 1 and migrated to
// this binary's version at start, the JWKS is the same keys, the old
// refresh token refreshes, and the user signs in with the registered
// client. Then the same data marked with a newer schema version (a newer
// major release's) stops the binary with a message that says so.
func TestStartsOnPreviousReleaseData(t *testing.T) {
	if *generatePrevious {
		generatePreviousFixture(t)
		return
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	raw, err := os.ReadFile(filepath.Join(previousDir, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f previousFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyFile(t, filepath.Join(previousDir, bbolt.FileName), filepath.Join(dir, bbolt.FileName))
	copyFile(t, filepath.Join(previousDir, "kek"), filepath.Join(dir, "kek"))

	bin := buildBinary(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	issuer := fmt.Sprintf("http://localhost:%d", port)
	p := startServe(t, bin, base, previousEnv(dir, port))

	if got, want := jwksKeys(t, getJWKS(t, base)), jwksKeys(t, f.JWKS); !slices.Equal(got, want) {
		t.Fatalf("JWKS after the upgrade:\n%v\nwant the previous release's\n%v", got, want)
	}
	status, tok, err := refreshWith(base, f)
	if err != nil || status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("the previous release's refresh token: %d %v %v", status, tok, err)
	}
	if id, _ := tok["id_token"].(string); id != "" && !slices.ContainsFunc(jwksKeys(t, f.JWKS), func(k string) bool {
		return strings.HasPrefix(k, jwsKid(t, id)+" ")
	}) {
		t.Errorf("the refreshed ID token is signed with kid %q, not a previous key", jwsKid(t, id))
	}
	code := signInCodeScope(t, issuer, f.ClientID, f.Username, "openid profile")
	if tok := redeemCode(t, issuer, f.ClientID, f.ClientSecret, code); tok["id_token"] == nil {
		t.Fatalf("sign-in after the upgrade: %v", tok)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait() // and its log is complete
	if !strings.Contains(p.stderr.String(), "store schema version stamped") {
		t.Errorf("the unversioned store was not stamped:\n%s", p.stderr)
	}

	// The store now says which version it is.
	db, err := bolt.Open(filepath.Join(dir, bbolt.FileName), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var stamped string
	newer := strconv.Itoa(persistence.SchemaVersion() + 1)
	err = db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte(persistence.BucketMeta))
		stamped = string(m.Get([]byte(persistence.KeySchemaVersion)))
		// What a newer major release would leave behind.
		return m.Put([]byte(persistence.KeySchemaVersion), []byte(newer))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if stamped != strconv.Itoa(persistence.SchemaVersion()) {
		t.Errorf("schema version after the start %q, want %d", stamped, persistence.SchemaVersion())
	}
	// Bounded: a binary that wrongly starts would serve until killed.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), previousEnv(dir, port)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("the binary started on a store from a newer release")
	}
	want := fmt.Sprintf("the store has schema version %s, this binary knows up to %d", newer, persistence.SchemaVersion())
	if !strings.Contains(string(out), want) {
		t.Errorf("refusal does not say why (want %q):\n%s", want, out)
	}
}

// generatePreviousFixture drives the previous release's binary: a user, a
// registered client, a sign-in that yields a refresh token, the JWKS;
// then it stops the node and copies its store and KEK into testdata.
func generatePreviousFixture(t *testing.T) {
	if *previousBin == "" {
		t.Fatal("-generate-previous-release needs -previous-bin")
	}
	commit := os.Getenv("PREVIOUS_COMMIT")
	if commit == "" {
		t.Fatal("set PREVIOUS_COMMIT to the commit the binary was built from")
	}
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	issuer := fmt.Sprintf("http://localhost:%d", port)
	env := previousEnv(dir, port)
	p := startServe(t, *previousBin, base, env)
	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(*previousBin, append(args, "--server", base, "--admin-token", backupToken)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	f := previousFixture{Commit: commit, Username: "fixture-user", Password: backupPassword,
		ClientID: "fixture-rp", ClientSecret: "fixture-client-secret-0123456789abcdef"}
	out := cli(f.Password, "users", "add", "--username", f.Username, "--password-stdin", "--email", "fixture@example.com", "--name", "Fixture User")
	if i := strings.Index(out, "(sub "); i >= 0 {
		f.Subject = strings.TrimSuffix(strings.Fields(out[i+5:])[0], ")")
	}
	cli("", "clients", "add", "--id", f.ClientID, "--secret", f.ClientSecret, "--auth-method", "client_secret_basic",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uri", backupRedirect, "--skip-consent")
	tok := redeemCode(t, issuer, f.ClientID, f.ClientSecret,
		signInCodeScope(t, issuer, f.ClientID, f.Username, "openid profile offline_access"))
	f.RefreshToken, _ = tok["refresh_token"].(string)
	if f.RefreshToken == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	f.JWKS = getJWKS(t, base)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = p.cmd.Process.Wait()
	if err := os.MkdirAll(previousDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(dir, bbolt.FileName), filepath.Join(previousDir, bbolt.FileName))
	copyFile(t, filepath.Join(dir, "kek"), filepath.Join(previousDir, "kek"))
	raw, _ := json.MarshalIndent(f, "", "  ")
	if err := os.WriteFile(filepath.Join(previousDir, "fixture.json"), append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s from %s (%s)", previousDir, *previousBin, commit)
}
