package node_test

import (
	"authrim/internal/eventually"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/proto"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/node"
	"authrim/persistence/bbolt"
)

const adminToken = "test-admin-token-0123456789"

// clock is a settable clock for the KeyManager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig(t *testing.T, dir string) node.Config {
	t.Helper()
	cfg := node.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Storage.Dir = dir
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Admin.Token = adminToken
	cfg.Keys.CheckInterval = node.Duration(20 * time.Millisecond)
	cfg.RateLimit.Enabled = false // many tests sign in from 127.0.0.1; node/ratelimit_test.go enables it
	return cfg
}

func startNode(t *testing.T, cfg node.Config, clk *clock) *node.Node {
	t.Helper()
	opts := node.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	n, err := node.Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

func fetchJWKS(t *testing.T, n *node.Node) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(n.URL() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("jwks status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	slices.Sort(out)
	return out
}

func admin(t *testing.T, n *node.Node, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sign signs a fresh payload through the Crypto pool and returns the kid.
func sign(t *testing.T, n *node.Node, alg string) (string, string) {
	t.Helper()
	tok, kid, err := n.Crypto().Sign(context.Background(), alg, []byte(`{"sub":"alice"}`), "JWT")
	if err != nil {
		t.Fatal(err)
	}
	return tok, kid
}

func TestServesDiscoveryAndJWKSWithRS256AndES256(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	resp, err := http.Get(n.URL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != "http://localhost:8080" || md["jwks_uri"] != "http://localhost:8080/.well-known/jwks.json" {
		t.Fatalf("metadata %v", md)
	}
	set := fetchJWKS(t, n)
	algs := map[string]int{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS holds a private key: %s", k.KeyID)
		}
		algs[k.Algorithm]++
	}
	// An active and a next key for each.
	if algs["RS256"] != 2 || algs["ES256"] != 2 {
		t.Fatalf("JWKS algs %v, want 2 RS256 and 2 ES256", algs)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.URL() + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
}

func TestJWKSCachingHeaders(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg, nil)
	resp, err := http.Get(n.URL() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=600" {
		t.Fatalf("Cache-Control %q", got)
	}
	req, _ := http.NewRequest("GET", n.URL()+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
}

func TestTokenSignedByCryptoVerifiesAgainstServedJWKS(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	set := fetchJWKS(t, n)
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			tok, kid := sign(t, n, alg)
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if h := jws.Signatures[0].Header; h.KeyID != kid || h.ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("header %+v", h)
			}
			keys := set.Key(kid)
			if len(keys) != 1 {
				t.Fatalf("kid %s not in JWKS", kid)
			}
			payload, err := jws.Verify(keys[0].Key)
			if err != nil || string(payload) != `{"sub":"alice"}` {
				t.Fatalf("verify: %q %v", payload, err)
			}
			// Our own Verify accepts it too, and refuses another alg.
			if _, _, err := n.Crypto().Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			other := "ES256"
			if alg == "ES256" {
				other = "RS256"
			}
			if _, _, err := n.Crypto().Verify(context.Background(), tok, other); !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("verify with only %s allowed: %v", other, err)
			}
		})
	}
}

func TestRotatedKeyIsPublishedBeforeItSigns(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := testConfig(t, t.TempDir())
	cfg.Keys.PublishAhead = node.Duration(time.Hour)
	cfg.Keys.JWKSMaxAge = node.Duration(time.Hour)
	n := startNode(t, cfg, clk)

	_, oldKid := sign(t, n, "ES256")
	code, body := admin(t, n, "POST", "/admin/keys/rotate", adminToken, `{"alg":"ES256"}`)
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	// The next key was published at start, less than publish_ahead ago:
	// after the rotate it is in the JWKS but still does not sign.
	published := kids(fetchJWKS(t, n))
	if _, kid := sign(t, n, "ES256"); kid != oldKid {
		t.Fatalf("a key published less than publish_ahead ago signs")
	}
	clk.Add(time.Hour)
	var newKid string
	eventually.True(t, "the rotated key to sign", func() bool {
		_, newKid = sign(t, n, "ES256")
		return newKid != oldKid
	})
	if !slices.Contains(published, newKid) {
		t.Fatalf("new signing key %s was not in the JWKS published before it signed (%v)", newKid, published)
	}
	// The replaced key stays published (retiring).
	if !slices.Contains(kids(fetchJWKS(t, n)), oldKid) {
		t.Fatal("the retiring key left the JWKS")
	}
}

func TestTimerDrivenRotationAndRetirement(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg, clk)
	_, first := sign(t, n, "RS256")

	clk.Add(cfg.Keys.RotationPeriod.D())
	var second string
	eventually.True(t, "timer rotation", func() bool {
		_, second = sign(t, n, "RS256")
		return second != first
	})
	if !slices.Contains(kids(fetchJWKS(t, n)), first) {
		t.Fatal("retiring key left the JWKS before retire_after")
	}
	clk.Add(cfg.Keys.RetireAfter.D())
	eventually.True(t, "retired key removal", func() bool {
		return !slices.Contains(kids(fetchJWKS(t, n)), first)
	})
}

func TestRevokedKeyLeavesJWKSAndItsTokensFail(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	tok, kid := sign(t, n, "RS256")
	code, body := admin(t, n, "POST", "/admin/keys/"+kid+"/revoke", adminToken, `{"reason":"suspected leak"}`)
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if slices.Contains(kids(fetchJWKS(t, n)), kid) {
		t.Fatal("revoked kid still in JWKS")
	}
	if _, _, err := n.Crypto().Verify(context.Background(), tok); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("verify of a token of a revoked key: %v", err)
	}
	if _, k := sign(t, n, "RS256"); k == kid {
		t.Fatal("signed with a revoked key")
	}
	var view struct {
		Keys []struct {
			Kid          string `json:"kid"`
			Status       string `json:"status"`
			RevokeReason string `json:"revoke_reason"`
		} `json:"keys"`
	}
	_, body = admin(t, n, "GET", "/admin/keys", adminToken, "")
	json.Unmarshal(body, &view)
	found := false
	for _, k := range view.Keys {
		if k.Kid == kid {
			found = k.Status == "revoked" && k.RevokeReason == "suspected leak"
		}
	}
	if !found {
		t.Fatalf("admin list does not show the revocation: %s", body)
	}
}

func TestAdminAPIRejects(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/admin/keys", "", "", 401},
		{"wrong token", "GET", "/admin/keys", adminToken + "x", "", 401},
		{"wrong token on rotate", "POST", "/admin/keys/rotate", "nope", "", 401},
		{"revoke without reason", "POST", "/admin/keys/abc/revoke", adminToken, `{}`, 400},
		{"revoke unknown kid", "POST", "/admin/keys/abc/revoke", adminToken, `{"reason":"x"}`, 404},
		{"malformed body", "POST", "/admin/keys/rotate", adminToken, `{"alg":`, 400},
		{"unconfigured alg", "POST", "/admin/keys/rotate", adminToken, `{"alg":"HS256"}`, 400},
	}
	before := kids(fetchJWKS(t, n))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := admin(t, n, tt.method, tt.path, tt.token, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d (%s)", code, tt.want, body)
			}
		})
	}
	if after := kids(fetchJWKS(t, n)); !slices.Equal(before, after) {
		t.Fatal("a rejected admin call changed the keys")
	}
}

func TestAdminAPIDisabledWithoutToken(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Admin.Token = ""
	n := startNode(t, cfg, nil)
	if code, _ := admin(t, n, "GET", "/admin/keys", "", ""); code != 404 {
		t.Fatalf("admin API answered %d with admin.token empty", code)
	}
}

func TestRestartKeepsKeysAndStoreHoldsNoPlaintextPrivateKey(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, err := node.Start(context.Background(), cfg, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := kids(fetchJWKS(t, n))
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Read the key set straight from the file and unwrap it with the KEK,
	// then look for every private encoding in the raw bytes.
	store, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(context.Background(), keymanager.Bucket, keymanager.DefaultIdentity)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	var set messages.KeySet
	if err := proto.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	kek, err := keymanager.LoadOrCreateKEK(cfg.Keys.KEKFile)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "authrim.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"PRIVATE KEY", `"d":`, `"p":`, `"dp":`} {
		if bytes.Contains(file, []byte(needle)) {
			t.Fatalf("store file contains %q", needle)
		}
	}
	checked := 0
	for _, k := range set.Keys {
		der, err := kek.Unwrap(k.Kid, k.WrappedPrivate)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		secrets := [][]byte{der}
		switch p := priv.(type) {
		case *rsa.PrivateKey:
			secrets = append(secrets, p.D.Bytes(), p.Primes[0].Bytes(), p.Primes[1].Bytes())
		case *ecdsa.PrivateKey:
			d, _ := p.Bytes()
			secrets = append(secrets, d)
		}
		for _, s := range secrets {
			if bytes.Contains(file, s) || bytes.Contains(file, []byte(base64.RawURLEncoding.EncodeToString(s))) {
				t.Fatalf("store file contains private material of %s", k.Kid)
			}
		}
		checked++
	}
	if checked != 4 {
		t.Fatalf("checked %d keys, want 4", checked)
	}

	n2 := startNode(t, cfg, nil)
	if after := kids(fetchJWKS(t, n2)); !slices.Equal(before, after) {
		t.Fatalf("kids after restart %v, want %v", after, before)
	}
}
