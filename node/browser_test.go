package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/internal/headless"
	"authrim/node"
)

const browserRPSecret = "browser-rp-secret-0123456789abcdefghijklmnop"

// TestPasskeyInRealBrowser drives headless Chromium with a virtual CTAP2
// platform authenticator (resident keys, user verification) through the
// whole passkey life: a password sign-in, registering a passkey on the
// account page, acr_values=phr refusing the password, signing out, a
// usernameless passkey sign-in that satisfies acr_values=phr (checked by a
// real RP with go-oidc and x/oauth2), a forged assertion the OP refuses,
// and passkey autofill (conditional mediation).
func TestPasskeyInRealBrowser(t *testing.T) {
	headless.Require(t)

	rp := newRPCallback(t)
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID:     "browser-rp",
			Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:         "Browser RP",
				RedirectURIs: []string{rp.url + "/callback"},
				AuthMethod:   "client_secret_basic",
				GrantTypes:   []string{"authorization_code", "refresh_token"},
			},
		})
	})

	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rpCtx := oidc.ClientContext(ctx, http.DefaultClient)
	provider, err := oidc.NewProvider(rpCtx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{
		ClientID: "browser-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "browser-rp", Now: o.clock.Now})

	c := startChromium(t, ctx)
	// Headless Chromium's virtual environment answers a conditional
	// (autofill) passkey request at once with the first credential, so the
	// login page would sign in by itself before the button is clicked. Hide
	// conditional mediation until step 6 tests it.
	c.conditionalMediation(false)

	// redeem exchanges the callback's code as the RP and verifies the ID
	// token of a passkey sign-in.
	redeem := func(what string, r authRequest, cb url.Values) (amr []string, acr string) {
		t.Helper()
		r.checkCallback(t, o.issuer, cb)
		tok, err := conf.Exchange(rpCtx, cb.Get("code"), oauth2.VerifierOption(r.pkce))
		if err != nil {
			t.Fatalf("%s: code exchange: %v", what, err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(rpCtx, rawID)
		if err != nil {
			t.Fatalf("%s: ID token: %v", what, err)
		}
		var claims struct {
			AMR []string `json:"amr"`
			ACR string   `json:"acr"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != o.user.Subject || idt.Nonce != r.nonce {
			t.Fatalf("%s: ID token sub %q nonce %q, want %q %q", what, idt.Subject, idt.Nonce, o.user.Subject, r.nonce)
		}
		t.Logf("%s: amr %q acr %q", what, claims.AMR, claims.ACR)
		return claims.AMR, claims.ACR
	}
	passkeyAMR := func(amr []string) bool {
		return slices.Contains(amr, "user") && (slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")) && !slices.Contains(amr, "pwd")
	}

	// 1. Password sign-in and consent; the browser reaches the RP.
	first := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(first.url), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
	c.do("check the passkey button on the login page", chromedp.WaitVisible(chromedp.CSS(`#passkey-login`)))
	c.passwordSignIn()
	if amr, acr := redeem("password sign-in", first, c.finishAtRP(rp, 20*time.Second)); !slices.Contains(amr, "pwd") || acr == "phr" {
		t.Fatalf("password sign-in: amr %q acr %q, want pwd and not phr", amr, acr)
	}

	// 2. Register a passkey on the account page.
	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#passkey-register`)))
	if rows := c.count(`#passkeys tr.passkey`); rows != 0 {
		c.fail("account page before registration", fmt.Errorf("%d passkey rows, want 0", rows))
	}
	if c.exists(`#passkey-name`) {
		c.do("name the passkey", chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Chromium test key"))
	}
	c.do("click Add a passkey", chromedp.Click(chromedp.CSS(`#passkey-register`)))
	if err := c.waitJS(`document.querySelectorAll('#passkeys tr.passkey').length === 1`, 20*time.Second); err != nil {
		c.fail("waiting for the new passkey row (status: "+c.text(`#passkey-status`)+")", err)
	}
	creds, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.authenticator})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("authenticator holds %+v, want one discoverable credential for RP ID localhost", creds.Credentials)
	}
	t.Logf("registered a passkey; account page row: %q", strings.Join(strings.Fields(c.text(`#passkeys tr.passkey`)), " "))

	// 3. Neither the password session nor a password posted to /login
	// satisfies acr_values=phr.
	weak := newAuthRequest(conf, oauth2.SetAuthURLParam("acr_values", "phr"))
	c.do("open an acr_values=phr request with a password session", chromedp.Navigate(weak.url))
	if q := c.loginOrRP(rp, 10*time.Second); q != nil {
		if q.Get("code") != "" {
			c.fail("acr_values=phr with a password session", fmt.Errorf("the OP issued a code without a passkey: %v", q))
		}
		t.Logf("acr_values=phr with a password session: the OP returned %v", q)
	} else {
		if c.exists(`form[action="/login"] input[name=password]`) {
			t.Log("acr_values=phr: the login page offers a password form; trying it")
			c.passwordSignIn()
		} else {
			// The page offers no password form: post one anyway, with the
			// page's own request id and CSRF token.
			c.do("post a password for an acr_values=phr request", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`{
				const src = document.getElementById('passkey-continue');
				const f = document.createElement('form');
				f.method = 'post'; f.action = '/login';
				for (const [k, v] of [['rid', src.elements.rid.value], ['csrf', src.elements.csrf.value],
					['username', 'alice'], ['password', %q]]) {
					const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
				}
				window.postedPassword = true;
				document.body.appendChild(f); f.submit();
			}`, userPassword)))
			if err := c.waitJS(`window.postedPassword === undefined && document.readyState === 'complete'`, 10*time.Second); err != nil {
				c.fail("waiting for the answer to the password post", err)
			}
		}
		select {
		case q := <-rp.calls:
			if q.Get("code") != "" {
				c.fail("password sign-in for acr_values=phr", fmt.Errorf("the OP issued a code: %v", q))
			}
			t.Logf("password sign-in for acr_values=phr: the OP returned %v", q)
		case <-time.After(time.Second):
			if c.exists(`button[name=decision]`) {
				c.fail("password sign-in for acr_values=phr", errors.New("the OP went on to consent: a password satisfied acr_values=phr"))
			}
			t.Logf("password sign-in for acr_values=phr refused: %q", c.text(`.error`))
		}
	}

	// 4. Sign out, then sign in for acr_values=phr with the passkey alone:
	// no username, the button on the login page.
	c.signOut(o.issuer)
	strong := newAuthRequest(conf, oauth2.SetAuthURLParam("acr_values", "phr"))
	c.do("open the acr_values=phr request", chromedp.Navigate(strong.url), chromedp.WaitVisible(chromedp.CSS(`#passkey-login`)))
	c.do("click Sign in with a passkey",
		clearInput(`input[name=username]`),
		chromedp.Click(chromedp.CSS(`#passkey-login`)))
	if amr, acr := redeem("passkey sign-in", strong, c.finishAtRP(rp, 20*time.Second)); !passkeyAMR(amr) || acr != "phr" {
		t.Fatalf("passkey sign-in: amr %q acr %q, want amr with user and hwk or swk (no pwd), acr phr", amr, acr)
	}

	// 5. A forged assertion (zeroed signature) is refused, and the page
	// says so; with the authenticator fixed, the same page signs in.
	c.signOut(o.issuer)
	c.overrideBits(true)
	forged := newAuthRequest(conf)
	c.do("open an authorization request", chromedp.Navigate(forged.url), chromedp.WaitVisible(chromedp.CSS(`#passkey-login`)))
	c.do("click Sign in with a passkey (bogus signature)", chromedp.Click(chromedp.CSS(`#passkey-login`)))
	if err := c.waitJS(`(document.querySelector('#passkey-error')?.textContent || '').trim() !== ''`, 15*time.Second); err != nil {
		select {
		case q := <-rp.calls:
			c.fail("bogus signature", fmt.Errorf("the OP accepted a zeroed signature: the RP got %v", q))
		default:
		}
		c.fail("waiting for #passkey-error after a bogus signature", err)
	}
	t.Logf("bogus signature refused: #passkey-error %q", c.text(`#passkey-error`))
	select {
	case q := <-rp.calls:
		c.fail("bogus signature", fmt.Errorf("the RP was reached: %v", q))
	case <-time.After(500 * time.Millisecond):
	}
	c.overrideBits(false)
	c.do("click Sign in with a passkey again", chromedp.Click(chromedp.CSS(`#passkey-login`)))
	if amr, acr := redeem("passkey sign-in after a refused one", forged, c.finishAtRP(rp, 20*time.Second)); !passkeyAMR(amr) || acr != "phr" {
		t.Fatalf("passkey sign-in: amr %q acr %q", amr, acr)
	}

	// 6. Autofill: with conditional mediation, the login page signs in
	// with the passkey as soon as the browser offers it, with no click.
	c.signOut(o.issuer)
	c.conditionalMediation(true)
	autofill := newAuthRequest(conf)
	c.do("open an authorization request (autofill)", chromedp.Navigate(autofill.url))
	if amr, acr := redeem("autofill passkey sign-in", autofill, c.finishAtRP(rp, 20*time.Second)); !passkeyAMR(amr) || acr != "phr" {
		t.Fatalf("autofill passkey sign-in: amr %q acr %q", amr, acr)
	}
}

// rpCallback is the RP's redirect endpoint: it records each query.
type rpCallback struct {
	url   string
	calls chan url.Values
}

func newRPCallback(t *testing.T) *rpCallback {
	cb := &rpCallback{calls: make(chan url.Values, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case cb.calls <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>RP</title><p id="rp-callback">Signed in.</p>`)
	}))
	t.Cleanup(srv.Close)
	cb.url = srv.URL
	return cb
}

// client is the confidential client "browser-rp" redirecting to rp's
// callback, for a node's config.
func (rp *rpCallback) client() node.ClientConfig {
	return node.ClientConfig{ID: "browser-rp", Secret: browserRPSecret, ClientMetadata: directory.ClientMetadata{
		Name: "Browser RP", RedirectURIs: []string{rp.url + "/callback"}, AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
	}}
}

// discover finds issuer's endpoints with go-oidc within ctx and returns
// the provider and the RP's OAuth 2.0 config (scope openid and scopes).
func (rp *rpCallback) discover(t *testing.T, ctx context.Context, issuer string, scopes ...string) (*oidc.Provider, oauth2.Config) {
	t.Helper()
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), issuer)
	if err != nil {
		t.Fatal(err)
	}
	return provider, oauth2.Config{ClientID: "browser-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}
}

// startOPForBrowserRP starts a node with the confidential client
// "browser-rp" redirecting to rp's callback, and returns the RP's OAuth 2.0
// config (scope openid) discovered from the node within ctx.
func startOPForBrowserRP(t *testing.T, ctx context.Context, rp *rpCallback) (*op, oauth2.Config) {
	t.Helper()
	o := startOPWith(t, func(c *node.Config) { c.Clients = append(c.Clients, rp.client()) })
	_, conf := rp.discover(t, ctx, o.issuer)
	return o, conf
}

// authRequest is one authorization request of the RP, with PKCE.
type authRequest struct {
	url, state, nonce, pkce string
}

func newAuthRequest(conf oauth2.Config, opts ...oauth2.AuthCodeOption) authRequest {
	stamp := fmt.Sprint(time.Now().UnixNano())
	r := authRequest{state: "state-" + stamp, nonce: "nonce-" + stamp, pkce: oauth2.GenerateVerifier()}
	opts = append(opts, oidc.Nonce(r.nonce), oauth2.S256ChallengeOption(r.pkce))
	r.url = conf.AuthCodeURL(r.state, opts...)
	return r
}

func (r authRequest) checkCallback(t *testing.T, issuer string, q url.Values) {
	t.Helper()
	if q.Get("code") == "" || q.Get("state") != r.state || q.Get("iss") != issuer {
		t.Fatalf("callback %v, want a code, state %q and iss %q", q, r.state, issuer)
	}
}

// chrome is one headless Chromium tab with a virtual authenticator.
type chrome struct {
	t             *testing.T
	ctx           context.Context
	authenticator webauthn.AuthenticatorID
	// hideConditional is the script that hides conditional mediation.
	hideConditional cdppage.ScriptIdentifier

	mu      sync.Mutex
	console []string
}

func startChromium(t *testing.T, ctx context.Context) *chrome {
	t.Helper()
	tabCtx := headless.Start(t, ctx)
	c := &chrome{t: t, ctx: tabCtx}
	go func() {
		for m, err := range chromedp.Console(tabCtx) {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.console = append(c.console, m.String())
			c.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(tabCtx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(tabCtx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:            webauthn.AuthenticatorProtocolCtap2,
			Transport:           webauthn.AuthenticatorTransportInternal,
			HasResidentKey:      true,
			HasUserVerification: true,
			IsUserVerified:      true,
			// Explicit: the zero value leaves every ceremony waiting for a touch.
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	c.authenticator = res.AuthenticatorID
	return c
}

// stepBudget and minWait only stop a browser step that hangs: they are
// not speed requirements. They are generous because a loaded 2-core CI
// machine running Chromium next to the other packages' tests can take
// many seconds for one navigation and a few keystrokes.
const (
	stepBudget = 40 * time.Second
	minWait    = 30 * time.Second
	// browserTestBudget bounds a whole browser test the same way.
	browserTestBudget = 5 * time.Minute
)

// do runs actions with a per-step timeout and fails the test, with the
// page and the console in the log, when one fails.
func (c *chrome) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepBudget)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.fail(what, err)
	}
}

func (c *chrome) fail(what string, err error) {
	c.t.Helper()
	c.dump()
	c.t.Fatalf("%s: %v", what, err)
}

// dump logs where the browser is, the page's HTML and the console.
func (c *chrome) dump() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		html = "(no HTML: " + err.Error() + ")"
	}
	c.mu.Lock()
	console := strings.Join(c.console, "\n")
	c.mu.Unlock()
	c.t.Logf("browser at %s\n--- page ---\n%s\n--- console ---\n%s", loc, html, console)
}

// eval runs a short expression; errors (say, mid-navigation) are reported.
func eval[T any](c *chrome, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (c *chrome) exists(sel string) bool {
	ok, err := eval[bool](c, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
	return err == nil && ok
}

func (c *chrome) count(sel string) int {
	n, _ := eval[int](c, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
	return n
}

func (c *chrome) text(sel string) string {
	s, _ := eval[string](c, fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').trim()`, sel))
	return s
}

// waitJS polls a boolean expression across navigations.
func (c *chrome) waitJS(expr string, timeout time.Duration) error {
	timeout = max(timeout, minWait)
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := eval[bool](c, expr); err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still false after %v", expr, timeout)
		}
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// passwordSignIn fills in the login form on the current page and submits it.
func (c *chrome) passwordSignIn() {
	c.t.Helper()
	c.do("sign in with the password",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)),
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), userPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
}

// clearInput empties a text field (SetValue refuses the empty string).
func clearInput(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`{ const e = document.querySelector(%q); if (e) e.value = ''; }`, sel))
}

// finishAtRP allows consent if the OP asks, and returns the query the
// RP's callback received.
func (c *chrome) finishAtRP(rp *rpCallback, timeout time.Duration) url.Values {
	c.t.Helper()
	timeout = max(timeout, minWait)
	deadline := time.After(timeout)
	consented := false
	for {
		select {
		case q := <-rp.calls:
			// The RP's page must have loaded too: a navigation started
			// while it still loads can be aborted (net::ERR_ABORTED).
			if err := c.waitJS(`document.getElementById('rp-callback') !== null`, timeout); err != nil {
				c.fail("waiting for the RP's page", err)
			}
			return q
		case <-deadline:
			c.fail("waiting for the redirect to the RP", fmt.Errorf("no callback after %v", timeout))
		case <-c.ctx.Done():
			c.fail("waiting for the redirect to the RP", c.ctx.Err())
		case <-time.After(150 * time.Millisecond):
		}
		if msg := c.text(`#passkey-error`); msg != "" {
			c.fail("passkey sign-in", fmt.Errorf("#passkey-error: %q", msg))
		}
		if !consented && c.exists(`button[name=decision][value=allow]`) {
			c.do("allow consent", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
			consented = true
		}
	}
}

// loginOrRP waits for the login page (nil) or the RP's callback.
func (c *chrome) loginOrRP(rp *rpCallback, timeout time.Duration) url.Values {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case q := <-rp.calls:
			return q
		case <-deadline:
			c.fail("waiting for the login page or the RP", fmt.Errorf("neither after %v", timeout))
		case <-time.After(100 * time.Millisecond):
		}
		if c.exists(`#passkey-login`) {
			return nil
		}
		if c.exists(`button[name=decision]`) {
			c.fail("acr_values=phr with a password session", errors.New("the OP went on to consent without a passkey"))
		}
	}
}

// signOut confirms sign-out on the OP's logout page.
func (c *chrome) signOut(issuer string) {
	c.t.Helper()
	c.do("sign out",
		chromedp.Navigate(issuer+"/logout"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)),
	)
	if err := c.waitJS(`document.body.innerText.includes('You are signed out.')`, 10*time.Second); err != nil {
		c.fail("sign out", err)
	}
}

// conditionalMediation shows or hides conditional mediation (passkey
// autofill) from the pages loaded from now on.
func (c *chrome) conditionalMediation(on bool) {
	c.t.Helper()
	if on {
		if c.hideConditional != "" {
			if _, err := chromedp.Call(c.ctx, cdppage.RemoveScriptToEvaluateOnNewDocument,
				cdppage.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: c.hideConditional}); err != nil {
				c.t.Fatalf("Page.removeScriptToEvaluateOnNewDocument: %v", err)
			}
			c.hideConditional = ""
		}
		return
	}
	if c.hideConditional != "" {
		return
	}
	res, err := chromedp.Call(c.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `if (window.PublicKeyCredential) Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable',
			{ value: () => Promise.resolve(false), configurable: true });`,
	})
	if err != nil {
		c.t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	c.hideConditional = res.Identifier
}

// overrideBits makes the authenticator zero its signatures, or stop.
func (c *chrome) overrideBits(bogusSignature bool) {
	c.t.Helper()
	p := webauthn.SetResponseOverrideBitsParams{AuthenticatorID: c.authenticator}
	if bogusSignature {
		p.IsBogusSignature = new(true)
	}
	if _, err := chromedp.Call(c.ctx, webauthn.SetResponseOverrideBits, p); err != nil {
		c.t.Fatalf("WebAuthn.setResponseOverrideBits: %v", err)
	}
}
