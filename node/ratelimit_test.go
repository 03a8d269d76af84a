package node_test

import (
	"io"
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
	o := rateLimited(t, func(rl *node.RateLimitConfig) {
		rl.Strict = 3
		rl.LockoutThreshold = 100
	})
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

func TestSignInLockout(t *testing.T) {
	const threshold, lock = 3, 10 * time.Minute
	o := rateLimited(t, func(rl *node.RateLimitConfig) {
		rl.Strict, rl.Moderate = 1000, 1000
		rl.LockoutThreshold = threshold
		rl.LockoutWindow = node.Duration(15 * time.Minute)
		rl.LockoutDuration = node.Duration(lock)
	})
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	var wrong response
	for i := range threshold {
		r := o.signInAs(t, b, p, "alice", "wrong")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "The username or password is not correct.") {
			t.Fatalf("wrong password %d: %d %s", i+1, r.status, r.body)
		}
		if i == 0 {
			wrong = r
		}
	}
	same := func(what string, got, want response) {
		t.Helper()
		if got.status != want.status || got.body != want.body {
			t.Fatalf("%s differs from a wrong password:\n%d %s\nvs\n%d %s", what, got.status, got.body, want.status, want.body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "Set-Cookie"} {
			if got.header.Get(h) != want.header.Get(h) {
				t.Fatalf("%s: header %s %q, wrong password: %q", what, h, got.header.Get(h), want.header.Get(h))
			}
		}
	}
	// Locked: the right password gets exactly the wrong-password answer.
	same("locked account, right password", o.signInAs(t, b, p, "alice", userPassword), wrong)
	// The lock is on the username as the directory compares it.
	upper := o.signInAs(t, b, p, "ALICE", userPassword)
	wrong.body = strings.Replace(wrong.body, `value="alice"`, `value="ALICE"`, 1)
	same("locked account in capitals", upper, wrong)

	// An unknown username answers the same, and locks the same way.
	first := o.signInAs(t, b, p, "mallory", "guess")
	wrong.body = strings.Replace(wrong.body, `value="ALICE"`, `value="mallory"`, 1)
	same("unknown username", first, wrong)
	for range threshold - 1 {
		o.signInAs(t, b, p, "mallory", "guess")
	}
	same("locked unknown username", o.signInAs(t, b, p, "mallory", "guess"), first)

	// After the lock duration the right password works.
	o.clock.Advance(lock)
	if r := o.signInAs(t, b, p, "alice", userPassword); r.status == http.StatusUnauthorized || r.isLogin() {
		t.Fatalf("after the lock: %d %s", r.status, r.body)
	}

	// A successful sign-in resets the count: threshold-1 failures, a
	// success, threshold-1 failures again and the password still works.
	for round := range 2 {
		b := browser(t)
		p := get(t, b, o.authorizeURL(baseParams()))
		for range threshold - 1 {
			o.signInAs(t, b, p, "alice", "wrong")
		}
		if r := o.signInAs(t, b, p, "alice", userPassword); r.isLogin() {
			t.Fatalf("round %d: right password refused after %d failures: %d", round+1, threshold-1, r.status)
		}
	}
}
