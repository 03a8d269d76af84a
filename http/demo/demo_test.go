package demo_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"authrim/http/demo"
	"authrim/internal/freeport"
	"authrim/node"
)

// startDemoNode starts a real node in demo mode on a loopback port.
func startDemoNode(t *testing.T) (*node.Node, string) {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := node.Default()
	cfg.HTTP.Listen = addr
	cfg.Issuer = "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	cfg.Storage.Dir = dir
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Passwords = node.PasswordsConfig{Time: node.MinArgon2Time, MemoryKiB: node.MinArgon2MemoryKiB, Threads: 1}
	n, err := node.Start(context.Background(), cfg, node.Options{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n, cfg.Issuer
}

type page struct {
	status int
	loc    string
	body   string
	header http.Header
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, u string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(raw), header: resp.Header}
}

func (b *browser) get(u string) page { return b.do(http.MethodGet, u, nil) }

var inputRE = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// start begins a sign-in at the demo: it returns the state the demo put
// in the authorization request (and set in this browser's cookie).
func (b *browser) start(issuer string) (state string, authorize string) {
	b.t.Helper()
	p := b.get(issuer + demo.LoginPath)
	u, err := url.Parse(p.loc)
	if p.status != http.StatusFound || err != nil || !strings.HasPrefix(p.loc, issuer+"/authorize?") {
		b.t.Fatalf("login: %d %s", p.status, p.loc)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("login_hint") != node.DemoUsername {
		b.t.Fatalf("the authorization request lacks PKCE, a nonce or the login hint: %v", q)
	}
	return q.Get("state"), p.loc
}

// signIn runs a whole sign-in through the node's pages and returns the
// demo page that shows the result.
func (b *browser) signIn(issuer, password string) page {
	b.t.Helper()
	_, authorize := b.start(issuer)
	p := b.get(authorize)
	if !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("no login page: %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("username", node.DemoUsername)
	f.Set("password", password)
	p = b.do(http.MethodPost, issuer+"/login", f)
	if strings.Contains(p.body, `name="decision"`) {
		f := hidden(p.body)
		f.Set("decision", "allow")
		p = b.do(http.MethodPost, issuer+"/consent", f)
	}
	if p.status != http.StatusFound || !strings.HasPrefix(p.loc, issuer+demo.CallbackPath+"?") {
		b.t.Fatalf("no redirect to the demo's callback: %d %s %s", p.status, p.loc, p.body)
	}
	cb := b.get(p.loc)
	if cb.status != http.StatusSeeOther || cb.loc != demo.Path {
		b.t.Fatalf("callback: %d %s %s", cb.status, cb.loc, cb.body)
	}
	return b.get(issuer + demo.Path)
}

// A whole sign-in shows the verified claims; a sign-out needs the page's
// CSRF token and then goes through the node's end_session_endpoint.
func TestDemoSignInAndOut(t *testing.T) {
	n, issuer := startDemoNode(t)
	acct := n.Demo()
	if acct == nil || acct.Username != node.DemoUsername || len(acct.Password) < 20 || acct.URL != issuer+demo.Path {
		t.Fatalf("demo account %+v", acct)
	}
	b := newBrowser(t)
	start := b.get(issuer + demo.Path)
	if start.status != 200 || !strings.Contains(start.body, `id="sign-in"`) {
		t.Fatalf("start page: %d %s", start.status, start.body)
	}
	for h, want := range map[string]string{
		"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	} {
		if got := start.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	res := b.signIn(issuer, acct.Password)
	u, err := n.Directory().FindUser(context.Background(), node.DemoUsername)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<code>` + u.Subject + `</code>`, `&#34;sub&#34;: &#34;` + u.Subject, `&#34;email&#34;: &#34;demo@example.com&#34;`, `id="sign-out"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("result page lacks %s:\n%s", want, res.body)
		}
	}
	if strings.Contains(res.body, acct.Password) {
		t.Fatal("the page shows the password")
	}

	// A sign-out posted without the page's token (a cross-site form)
	// changes nothing.
	if p := b.do(http.MethodPost, issuer+demo.LogoutPath, url.Values{"csrf": {"forged"}}); p.status != http.StatusForbidden {
		t.Fatalf("forged sign-out: %d", p.status)
	}
	if p := b.get(issuer + demo.Path); !strings.Contains(p.body, `id="sign-out"`) {
		t.Fatal("a forged sign-out signed the demo out")
	}
	out := b.do(http.MethodPost, issuer+demo.LogoutPath, hidden(res.body))
	if out.status != http.StatusSeeOther || !strings.HasPrefix(out.loc, issuer+"/logout?") || !strings.Contains(out.loc, "id_token_hint=") {
		t.Fatalf("sign-out: %d %s", out.status, out.loc)
	}
	if p := b.get(issuer + demo.Path); !strings.Contains(p.body, `id="sign-in"`) {
		t.Fatal("still signed in at the demo after sign-out")
	}
}

// The callback's checks, each refusing before or instead of a code
// exchange: the state is this browser's and used once, the response's
// iss is the node (RFC 9207), an error answer is shown, a bad code is
// reported.
func TestDemoCallbackChecks(t *testing.T) {
	n, issuer := startDemoNode(t)
	iss := url.QueryEscape(issuer)
	cb := issuer + demo.CallbackPath + "?"
	for _, tc := range []struct {
		name   string
		query  func(state string) string
		status int
		want   string
	}{
		{"another issuer", func(s string) string { return "code=x&iss=http%3A%2F%2Fevil.example&state=" + s }, 400, "another issuer"},
		{"no issuer", func(s string) string { return "code=x&state=" + s }, 400, "another issuer"},
		{"error answer", func(s string) string {
			return "error=access_denied&error_description=the+user+said+no&iss=" + iss + "&state=" + s
		}, 200, "access_denied: the user said no"},
		{"bad code", func(s string) string { return "code=made-up&iss=" + iss + "&state=" + s }, 502, "invalid_grant"},
		{"markup in the error", func(s string) string { return "error=%3Cscript%3E&iss=" + iss + "&state=" + s }, 200, "&lt;script&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			state, _ := b.start(issuer)
			p := b.get(cb + tc.query(state))
			if p.status != tc.status || !strings.Contains(p.body, tc.want) {
				t.Fatalf("%d, want %d with %q:\n%s", p.status, tc.status, tc.want, p.body)
			}
			// The state was used up: the same answer again is refused.
			if again := b.get(cb + tc.query(state)); again.status != 400 {
				t.Fatalf("the state worked twice: %d %s", again.status, again.body)
			}
		})
	}
	// A finished sign-in's callback cannot be replayed, even by the same
	// browser: the state (and its cookie) are gone.
	b := newBrowser(t)
	b.signIn(issuer, n.Demo().Password)
	state, _ := b.start(issuer)
	_ = b.get(cb + "code=x&iss=" + iss + "&state=" + state)
	if p := b.get(cb + "code=x&iss=" + iss + "&state=" + state); p.status != 400 {
		t.Fatalf("replayed callback: %d %s", p.status, p.body)
	}
}

// A restart gives the demo user a new password and the demo client a new
// secret: the old password no longer signs in.
func TestDemoRestartRotatesCredentials(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := node.Default()
	cfg.HTTP.Listen = addr
	cfg.Issuer = "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	cfg.Storage.Dir = dir
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Passwords = node.PasswordsConfig{Time: node.MinArgon2Time, MemoryKiB: node.MinArgon2MemoryKiB, Threads: 1}
	ctx := context.Background()
	first, err := node.Start(ctx, cfg, node.Options{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	old := first.Demo().Password
	oldClient, _ := first.Directory().Client(ctx, node.DemoClientID)
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := node.Start(ctx, cfg, node.Options{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Shutdown(ctx) })
	if second.Demo().Password == old {
		t.Fatal("the password did not change")
	}
	if _, err := second.Directory().Authenticate(ctx, node.DemoUsername, old); err == nil {
		t.Fatal("the old password still signs in")
	}
	if _, err := second.Directory().Authenticate(ctx, node.DemoUsername, second.Demo().Password); err != nil {
		t.Fatal(err)
	}
	c, _ := second.Directory().Client(ctx, node.DemoClientID)
	if c.SecretHash == oldClient.SecretHash || c.SecretHash == "" {
		t.Fatal("the client secret did not change")
	}
	newBrowser(t).signIn(cfg.Issuer, second.Demo().Password)
}
