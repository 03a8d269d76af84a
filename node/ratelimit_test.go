package node_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"authrim/node"
)

// rateLimited starts an OP with rate limiting on (testConfig turns it
// off) and the given limits.
func rateLimited(t *testing.T, adjust func(*node.RateLimitConfig)) *op {
	t.Helper()
	return startOPWith(t, func(c *node.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Window = node.Duration(time.Minute)
		adjust(&c.RateLimit)
	})
}

// response is a page with its headers.
type response struct {
	page
	header http.Header
}

func do(t *testing.T, b *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{page: page{status: resp.StatusCode, body: string(body)}, header: resp.Header}
}

// signInAs posts the login form of p as username/password.
func (o *op) signInAs(t *testing.T, b *http.Client, p page, username, password string, hdr ...string) response {
	t.Helper()
	if !p.isLogin() {
		t.Fatalf("expected the login form, got %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("username", username)
	f.Set("password", password)
	req, _ := http.NewRequest("POST", o.issuer+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, b, req)
}

func retryAfter(t *testing.T, r response, max time.Duration) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > max {
		t.Fatalf("Retry-After %q, want 1..%v", r.header.Get("Retry-After"), max)
	}
	if r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.body, `"error":"rate_limited"`) {
		t.Fatalf("429 answer: %v %s", r.header, r.body)
	}
}

func TestRateLimitSignIn(t *testing.T) {
	o := rateLimited(t, func(rl *node.RateLimitConfig) { rl.Strict = 3 })
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	for i := range 3 {
		r := o.signInAs(t, b, p, "alice", "wrong")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
		p = r.page
	}
	// 3 per minute: the next one waits at most a third of the window.
	retryAfter(t, o.signInAs(t, b, p, "alice", userPassword), 20*time.Second)
	// A made-up X-Forwarded-For does not buy a fresh budget.
	retryAfter(t, o.signInAs(t, b, p, "alice", userPassword, "X-Forwarded-For", "198.51.100.7"), 20*time.Second)

	o.clock.Advance(time.Minute)
	if r := o.signInAs(t, b, p, "alice", userPassword); r.status == http.StatusTooManyRequests || r.isLogin() {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}

func TestRateLimitToken(t *testing.T) {
	o := rateLimited(t, func(rl *node.RateLimitConfig) { rl.Moderate = 5 })
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {rpRedirect}}
	for i := range 5 {
		if st, out := o.tokenRequest(t, "rp", form); st != http.StatusBadRequest {
			t.Fatalf("request %d: %d %v", i+1, st, out)
		}
	}
	req := func() response {
		r, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("rp", rpSecret)
		return do(t, http.DefaultClient, r)
	}
	retryAfter(t, req(), 12*time.Second)
	// Unlimited routes are not affected.
	if p := get(t, http.DefaultClient, o.issuer+"/healthz"); p.status != http.StatusOK {
		t.Fatalf("healthz: %d", p.status)
	}
	o.clock.Advance(time.Minute)
	if r := req(); r.status != http.StatusBadRequest {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}

// TestSignInThrottle: behind a trusted proxy, one address guessing a
// username is slowed after its free failures, while the owner signing in
// from another address gets in (no lock anyone can set off, NIST SP
// 800-63B §5.2.2). Unknown usernames are slowed the same way, failures
// and slowed attempts are audited with the username and the client
// address, and the wait ends by itself.
func TestSignInThrottle(t *testing.T) {
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimit.SignIn.PerAddress = node.BackoffConfig{Free: 3, BaseDelay: node.Duration(time.Minute), MaxDelay: node.Duration(time.Hour), Window: node.Duration(2 * time.Hour)}
	}, func(opts *node.Options) { opts.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	const guesser, owner = "198.51.100.7", "203.0.113.9"
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	for i := range 3 {
		r := o.signInAs(t, b, p, "alice", "wrong", from(guesser)...)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "The username or password is not correct.") {
			t.Fatalf("wrong password %d: %d %s", i+1, r.status, r.body)
		}
	}
	// The guessing address waits, even with the right password (which is
	// then not checked), and in other capitals.
	for _, name := range []string{"alice", "ALICE"} {
		r := o.signInAs(t, b, p, name, userPassword, from(guesser)...)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many sign-in attempts") || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s from the guessing address: %d %s", name, r.status, r.body)
		}
	}
	// The owner, elsewhere, signs in meanwhile.
	ob := browser(t)
	if r := o.signInAs(t, ob, get(t, ob, o.authorizeURL(baseParams())), "alice", userPassword, from(owner)...); r.status == http.StatusTooManyRequests || r.isLogin() {
		t.Fatalf("the owner from another address: %d %s", r.status, r.body)
	}
	// An unknown username is slowed exactly the same way.
	for range 3 {
		if r := o.signInAs(t, b, p, "mallory", "guess", from(guesser)...); r.status != http.StatusUnauthorized {
			t.Fatalf("unknown username: %d", r.status)
		}
	}
	if r := o.signInAs(t, b, p, "mallory", "guess", from(guesser)...); r.status != http.StatusTooManyRequests {
		t.Fatalf("unknown username after its free failures: %d", r.status)
	}
	for _, want := range []map[string]any{
		{"msg": "sign-in failed", "audit": true, "client_id": "rp", "username": "alice", "client_ip": guesser},
		{"msg": "sign-in throttled", "audit": true, "username": "alice", "client_ip": guesser, "scope": "address"},
		{"msg": "sign-in throttled", "audit": true, "username": "mallory", "client_ip": guesser},
	} {
		if !logged(logs.String(), want) {
			t.Fatalf("no log line with %v:\n%s", want, logs)
		}
	}
	if strings.Contains(logs.String(), "wrong") || strings.Contains(logs.String(), userPassword) {
		t.Fatal("a password reached the log")
	}
	// The wait ends by itself.
	o.clock.Advance(time.Minute)
	if r := o.signInAs(t, b, p, "alice", userPassword, from(guesser)...); r.status == http.StatusTooManyRequests || r.isLogin() {
		t.Fatalf("after the delay: %d %s", r.status, r.body)
	}
}

// TestForwardedForOnlyFromTrustedProxies: X-Forwarded-For names the
// client only when the connection comes from a configured proxy. Then
// each client has its own bucket and its own address in the access log;
// otherwise the header is ignored (TestRateLimitSignIn checks that a
// forged one buys no fresh budget).
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Lenient = 2
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
	}, func(opts *node.Options) { opts.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	disco := func(xff string) int {
		req, _ := http.NewRequest("GET", o.issuer+"/.well-known/openid-configuration", nil)
		req.Header.Set("X-Forwarded-For", xff)
		return do(t, http.DefaultClient, req).status
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.2"} {
		if st := disco(ip); st != http.StatusOK {
			t.Fatalf("%s: %d", ip, st)
		}
	}
	if st := disco("192.0.2.1"); st != http.StatusTooManyRequests {
		t.Fatalf("third request from 192.0.2.1: %d", st)
	}
	// A client-supplied address left of the proxy's own entry is not
	// believed: the right-most untrusted address is the client.
	if st := disco("192.0.2.99, 192.0.2.1"); st != http.StatusTooManyRequests {
		t.Fatalf("a forged left-most entry bought a fresh budget: %d", st)
	}
	if !strings.Contains(logs.String(), `"remote_ip":"192.0.2.2"`) {
		t.Fatalf("access log does not name the forwarded client:\n%s", logs)
	}
}

// logged reports whether some JSON log line has every field of want.
func logged(logs string, want map[string]any) bool {
	for _, line := range strings.Split(logs, "\n") {
		var got map[string]any
		if json.Unmarshal([]byte(line), &got) != nil {
			continue
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

// TestClaimedClientIDIsNotABucket: one address sending many requests that
// name a real client uses up its own budget, not the client's: another
// user of that client, elsewhere, still reaches the sign-in page. (Clients
// are counted once authenticated, at /token and the like.)
func TestClaimedClientIDIsNotABucket(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Moderate = 5
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
	})
	authorize := func(from string) int {
		req, _ := http.NewRequest("GET", o.authorizeURL(baseParams()), nil)
		req.Header.Set("X-Forwarded-For", from)
		return do(t, browser(t), req).status
	}
	for range 5 {
		authorize("198.51.100.7")
	}
	if st := authorize("198.51.100.7"); st != http.StatusTooManyRequests {
		t.Fatalf("the flooding address: %d", st)
	}
	if st := authorize("203.0.113.9"); st != http.StatusOK {
		t.Fatalf("another user of the same client: %d", st)
	}
}
