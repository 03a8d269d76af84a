package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"authrim/internal/eventually"
	"authrim/internal/headless"
)

// syncBuffer is an output the serving goroutine writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demoNode runs `authrim serve --demo` in process on a free loopback
// port and returns the demo URL and the password it printed.
func demoNode(t *testing.T) (issuer, demoURL, password string) {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	issuer = fmt.Sprintf("http://localhost:%d", port)
	for k, v := range map[string]string{
		"AUTHRIM_CONFIG": "", "AUTHRIM_ADMIN_TOKEN": "",
		"AUTHRIM_HTTP_LISTEN":   fmt.Sprintf("127.0.0.1:%d", port),
		"AUTHRIM_ISSUER":        issuer,
		"AUTHRIM_STORAGE_DIR":   dir,
		"AUTHRIM_KEYS_KEK_FILE": filepath.Join(dir, "kek"),
		// The smallest argon2id cost a node accepts: the test signs in.
		"AUTHRIM_PASSWORDS_TIME": "2", "AUTHRIM_PASSWORDS_MEMORY_KIB": "19456", "AUTHRIM_PASSWORDS_THREADS": "1",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- runIO(ctx, []string{"serve", "--demo"}, strings.NewReader(""), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve --demo exited %d:\n%s", code, stderr)
		}
	})
	re := regexp.MustCompile(`(?m)^Demo app: (\S+)\nSign in as: +demo\nPassword: +(\S+)\n`)
	var m []string
	eventually.OK(t, 2*time.Minute, "serve --demo prints the demo account", func() error {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve --demo exited %d:\n%s", code, stderr)
		default:
		}
		if m = re.FindStringSubmatch(stdout.String()); m == nil {
			return errors.New("not printed yet")
		}
		return nil
	})
	if strings.Contains(stderr.String(), m[2]) {
		t.Fatal("the demo password reached the log")
	}
	return issuer, m[1], m[2]
}

// TestDemoInRealBrowser walks the first five minutes in headless
// Chromium: `authrim serve --demo` prints a password; the demo page's
// sign-in button leads to the node's login page (username filled in),
// the printed password and consent lead back to the demo page, which
// shows the verified ID token's claims and the userinfo answer for the
// same subject; sign-out ends the node's session too. Screenshots of
// each page go to $SCREENSHOT_DIR when set.
func TestDemoInRealBrowser(t *testing.T) {
	headless.Require(t)
	issuer, demoURL, password := demoNode(t)
	if demoURL != issuer+"/demo" {
		t.Fatalf("demo URL %q, want %s/demo", demoURL, issuer)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newBrowser(t, ctx)
	b.do("open the demo page", chromedp.Navigate(demoURL), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.shot("demo-start")
	// Keyboard users reach the sign-in button first, and see where they are.
	b.do("tab to the first control", chromedp.KeyEvent(kb.Tab))
	if id := b.text(`:focus`); id != "Sign in with Authrim" {
		t.Errorf("the first Tab focuses %q, want the sign-in button", id)
	}
	b.shot("demo-start-focus")
	b.do("click Sign in", chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
	if u := b.value(`input[name=username]`); u != "demo" {
		t.Errorf("the username field holds %q, want demo (login_hint)", u)
	}
	b.shot("login")
	b.do("sign in with the printed password",
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	eventually.True(t, "the consent page or the demo result", func() bool {
		return b.exists(`button[name=decision][value=allow]`) || b.exists(`#id-token-claims`)
	})
	if b.exists(`button[name=decision][value=allow]`) {
		b.shot("consent")
		b.do("allow", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
	}
	b.do("land on the demo result", chromedp.WaitVisible(chromedp.ID("id-token-claims")))
	b.shot("demo-result")
	// Tab order on the result: the two claim blocks (scrollable, so
	// focusable), then Sign out, then Sign in again.
	var order []string
	for range 4 {
		b.do("tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, b.attr(`:focus`, "id"))
	}
	if want := []string{"id-token-claims", "userinfo", "sign-out", "sign-in-again"}; !slices.Equal(order, want) {
		t.Errorf("tab order on the result page: %q, want %q", order, want)
	}
	if loc := b.location(); loc != demoURL {
		t.Errorf("the result is at %s, want %s", loc, demoURL)
	}
	sub := b.text(`#sub`)
	idToken, userinfo := b.text(`#id-token-claims`), b.text(`#userinfo`)
	if len(sub) < 20 {
		t.Fatalf("no subject on the page: %q", sub)
	}
	for _, want := range []string{`"sub": "` + sub + `"`, `"iss": "` + issuer + `"`, `"aud": "authrim-demo"`, `"nonce": "`, `"amr": [`} {
		if !strings.Contains(idToken, want) {
			t.Errorf("ID token claims lack %s:\n%s", want, idToken)
		}
	}
	for _, want := range []string{`"sub": "` + sub + `"`, `"email": "demo@example.com"`, `"name": "Demo User"`} {
		if !strings.Contains(userinfo, want) {
			t.Errorf("userinfo lacks %s:\n%s", want, userinfo)
		}
	}
	if got := b.text(`#signed-in-as`); got != "Demo User" {
		t.Errorf("signed in as %q", got)
	}

	// Sign out: back on the demo's start page, and the node's session is
	// gone too (the next sign-in asks for the password again).
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.do("sign in again", chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
}

// The demo's callback takes only the sign-in this browser started: a
// callback with a state it did not start, or without its cookie, is
// refused before any code is exchanged (the login CSRF an attacker would
// try: making the victim's browser finish the attacker's sign-in).
func TestDemoRefusesForeignCallbacks(t *testing.T) {
	issuer, demoURL, _ := demoNode(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// A real sign-in started by someone else's browser: its state is
	// valid at the demo, but this browser has no cookie for it.
	resp, err := noRedirect.Get(demoURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	if resp.StatusCode != http.StatusFound || state == "" || !strings.HasPrefix(loc.String(), issuer+"/authorize?") {
		t.Fatalf("login: %d %v", resp.StatusCode, loc)
	}
	for _, tc := range []struct{ name, query string }{
		{"someone else's state", "code=x&iss=" + url.QueryEscape(issuer) + "&state=" + state},
		{"made-up state", "code=x&iss=" + url.QueryEscape(issuer) + "&state=made-up"},
		{"no state", "code=x&iss=" + url.QueryEscape(issuer)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(noRedirect, demoURL+"/callback?"+tc.query)
			if status != http.StatusBadRequest || !strings.Contains(body, "not started by this browser") {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	tabCtx := headless.Start(t, ctx, chromedp.WindowSize(1000, 900))
	return &browser{t: t, ctx: tabCtx}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		hctx, hcancel := context.WithTimeout(b.ctx, 3*time.Second)
		defer hcancel()
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("html")))
		b.t.Fatalf("%s: %v\nat %s:\n%s", what, err, b.location(), html)
	}
}

func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (b *browser) exists(sel string) bool {
	ok, err := eval[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
	return err == nil && ok
}

func (b *browser) text(sel string) string {
	s, _ := eval[string](b, fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').trim()`, sel))
	return s
}

func (b *browser) attr(sel, name string) string {
	s, _ := eval[string](b, fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) || ''`, sel, name))
	return s
}

func (b *browser) value(sel string) string {
	s, _ := eval[string](b, fmt.Sprintf(`document.querySelector(%q)?.value || ''`, sel))
	return s
}

func (b *browser) location() string {
	s, _ := eval[string](b, `location.href`)
	return s
}

// shot saves a full-page screenshot as $SCREENSHOT_DIR/NAME.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// serve --demo refuses a node others could reach, before it creates
// anything.
func TestServeDemoRefusedOffLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("AUTHRIM_CONFIG", "")
	t.Setenv("AUTHRIM_STORAGE_DIR", dir)
	t.Setenv("AUTHRIM_KEYS_KEK_FILE", filepath.Join(dir, "kek"))
	t.Setenv("AUTHRIM_HTTP_LISTEN", "0.0.0.0:8080")
	var stdout, stderr bytes.Buffer
	if code := runIO(context.Background(), []string{"serve", "--demo"}, strings.NewReader(""), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--demo refused: http.listen") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused demo created %s: %v", dir, err)
	}
}
