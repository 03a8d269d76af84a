package node_test

import (
	"authrim/internal/freeport"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authrim/directory"
	"authrim/node"
)

// offsetClock is real time plus an offset tests can move forward, shared
// by the node and the RP's verifier.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

const (
	rpRedirect   = "http://127.0.0.1:9/callback"
	rpLogout     = "http://127.0.0.1:9/signed-out"
	rpSecret     = "rp-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	userPassword = "correct horse battery staple"
)

// op is a running node with one confidential client, one public client,
// one client_secret_post client and one user.
type op struct {
	n      *node.Node
	issuer string
	clock  *offsetClock
	user   directory.User
	// clientKey signs private_key_jwt assertions of client "pkjwt".
	clientKey *ecdsa.PrivateKey
}

func startOP(t *testing.T) *op { t.Helper(); return startOPWith(t, nil) }

// startOPWith lets a test adjust the config (more clients, ...) before the
// node starts. The issuer is http://localhost:PORT (WebAuthn refuses IP
// RP IDs); the node listens on 127.0.0.1.
func startOPWith(t *testing.T, adjust func(*node.Config)) *op {
	t.Helper()
	return startOPFull(t, adjust, nil)
}

// startOPFull also lets a test set node options (a logger, a tracer).
func startOPFull(t *testing.T, adjust func(*node.Config), adjustOpts func(*node.Options)) *op {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.HTTP.Listen = addr
	cfg.Issuer = "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	cfg.Passwords = node.PasswordsConfig{Time: node.MinArgon2Time, MemoryKiB: node.MinArgon2MemoryKiB, Threads: 1}
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Clients = []node.ClientConfig{
		{
			ID:     "rp",
			Secret: rpSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:                   "Test RP",
				RedirectURIs:           []string{rpRedirect},
				PostLogoutRedirectURIs: []string{rpLogout},
				AuthMethod:             "client_secret_basic",
				GrantTypes:             []string{"authorization_code", "refresh_token"},
			},
		},
		{
			ID:     "rp-post",
			Secret: rpSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:         "Post RP",
				RedirectURIs: []string{rpRedirect},
				AuthMethod:   "client_secret_post",
				GrantTypes:   []string{"authorization_code", "refresh_token", "client_credentials"},
			},
		},
		{
			ID: "spa",
			ClientMetadata: directory.ClientMetadata{
				Name:                     "Public SPA",
				RedirectURIs:             []string{rpRedirect},
				AuthMethod:               "none",
				GrantTypes:               []string{"authorization_code", "refresh_token"},
				IDTokenSignedResponseAlg: "ES256",
			},
		},
	}
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: clientKey.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	cfg.Clients = append(cfg.Clients, node.ClientConfig{
		ID: "pkjwt",
		ClientMetadata: directory.ClientMetadata{
			Name:       "Key client",
			AuthMethod: "private_key_jwt",
			GrantTypes: []string{"client_credentials"},
			JWKS:       directory.JWKS(jwks),
		},
	})
	if adjust != nil {
		adjust(&cfg)
	}
	clk := &offsetClock{}
	opts := node.Options{Now: clk.Now}
	if adjustOpts != nil {
		adjustOpts(&opts)
	}
	n, err := node.Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	u, err := n.Directory().CreateUser(context.Background(), directory.NewUser{
		Username: "alice", Password: userPassword,
		Claims: map[string]any{
			"name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell", "preferred_username": "alice",
			"email": "alice@example.com", "email_verified": true, "phone_number": "+1 555 0100", "locale": "en-GB",
			"address": map[string]any{"street_address": "1 Rabbit Hole", "locality": "Oxford", "country": "UK"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &op{n: n, issuer: cfg.Issuer, clock: clk, user: u, clientKey: clientKey}
}

// browser is a cookie-jar client that stops at redirects so tests can
// see where the OP sends the user.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// page is a fetched response with its body read.
type page struct {
	status int
	loc    *url.URL
	body   string
}

func (p page) isLogin() bool   { return strings.Contains(p.body, `name="password"`) }
func (p page) isConsent() bool { return strings.Contains(p.body, `name="decision"`) }

func fetch(t *testing.T, b *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(body)}
	if l := resp.Header.Get("Location"); l != "" {
		p.loc, _ = url.Parse(l)
	}
	return p
}

func get(t *testing.T, b *http.Client, u string) page {
	req, _ := http.NewRequest("GET", u, nil)
	return fetch(t, b, req)
}

func postForm(t *testing.T, b *http.Client, u string, v url.Values) page {
	req, _ := http.NewRequest("POST", u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fetch(t, b, req)
}

var inputRE = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// hidden collects the form's named inputs that carry a value.
func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func (o *op) authorizeURL(params map[string]string) string {
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	return o.issuer + "/authorize?" + v.Encode()
}

// pkceVerifier is the code_verifier of baseParams' code_challenge: every
// client must use PKCE (RFC 9700 §2.1.1). redeem sends it by default.
const pkceVerifier = "harness-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz"

// noVerifier makes redeem send no code_verifier at all.
const noVerifier = "\x00none"

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// baseParams is a valid code request for client "rp".
func baseParams() map[string]string {
	return map[string]string{
		"client_id": "rp", "redirect_uri": rpRedirect, "response_type": "code",
		"scope": "openid profile email", "state": "st-" + fmt.Sprint(time.Now().UnixNano()), "nonce": "n-1",
		"code_challenge": s256(pkceVerifier), "code_challenge_method": "S256",
	}
}

func (o *op) login(t *testing.T, b *http.Client, p page, password string) page {
	t.Helper()
	if !p.isLogin() {
		t.Fatalf("expected the login form, got %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("username", "alice")
	f.Set("password", password)
	return postForm(t, b, o.issuer+"/login", f)
}

func (o *op) consent(t *testing.T, b *http.Client, p page, decision string) page {
	t.Helper()
	if !p.isConsent() {
		t.Fatalf("expected the consent page, got %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("decision", decision)
	return postForm(t, b, o.issuer+"/consent", f)
}

// signIn runs the browser through login and consent as needed and
// returns the final redirect to the RP.
func (o *op) signIn(t *testing.T, b *http.Client, authorizeURL string) *url.URL {
	t.Helper()
	p := get(t, b, authorizeURL)
	if p.isLogin() {
		p = o.login(t, b, p, userPassword)
	}
	if p.isConsent() {
		p = o.consent(t, b, p, "allow")
	}
	if p.status != http.StatusFound || p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) {
		t.Fatalf("expected a redirect to the RP, got %d %v %s", p.status, p.loc, p.body)
	}
	if e := p.loc.Query().Get("error"); e != "" {
		t.Fatalf("sign-in ended in an error: %v", p.loc)
	}
	return p.loc
}

func pkce() (verifier, challenge string) {
	verifier = "verifier-" + strings.Repeat("x", 40) + fmt.Sprint(time.Now().UnixNano())
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// tokenRequest posts to /token as client "rp" (Basic auth).
func (o *op) tokenRequest(t *testing.T, clientID string, v url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(clientID, rpSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// redeem exchanges code as client "rp" with verifier (pkceVerifier when
// "", none with noVerifier).
func (o *op) redeem(t *testing.T, code, verifier string) (int, map[string]any) {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}}
	switch verifier {
	case "":
		v.Set("code_verifier", pkceVerifier)
	case noVerifier:
	default:
		v.Set("code_verifier", verifier)
	}
	return o.tokenRequest(t, "rp", v)
}

func (o *op) userinfo(t *testing.T, accessToken string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", o.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// idClaims decodes a JWT's payload without verifying (tests that need
// verification use go-oidc).
func idClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func decodeJSON(resp *http.Response, v any) {
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, v)
}

func dirUser(name string) directory.NewUser {
	return directory.NewUser{Username: name, Password: userPassword, Claims: map[string]any{"name": name}}
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}
