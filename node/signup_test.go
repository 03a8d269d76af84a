package node_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/internal/eventually"
	"authrim/internal/headless"
	"authrim/node"
)

const signUpPassword = "moonlit harbour ferries"

func (o *op) signUp(t *testing.T, b *http.Client, username, addr, pw, confirm string) page {
	t.Helper()
	form := get(t, b, o.issuer+"/signup")
	if form.status != http.StatusOK {
		t.Fatalf("sign-up page: %d", form.status)
	}
	v := hidden(form.body)
	v.Set("username", username)
	v.Set("email", addr)
	v.Set("password", pw)
	v.Set("confirm", confirm)
	return postForm(t, b, o.issuer+"/signup", v)
}

// signInAs posts username and pw to the sign-in page of a new flow.
func (o *op) passwordSignIn(t *testing.T, username, pw string) page {
	t.Helper()
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	f := hidden(p.body)
	f.Set("username", username)
	f.Set("password", pw)
	return postForm(t, b, o.issuer+"/login", f)
}

// Self-service sign-up: the account is created pending, cannot sign in
// until the mailed link confirms its address, and the policy and the
// form's rules refuse what they must, changing nothing.
func TestSignUp(t *testing.T) {
	o, srv := startOPMail(t, func(c *node.Config) { c.Registration.Users = node.UsersOpen })
	b := browser(t)
	if p := get(t, b, o.authorizeURL(baseParams())); !strings.Contains(p.body, `href="/signup"`) {
		t.Fatal("the sign-in page does not offer sign-up")
	}
	for _, tc := range []struct{ name, user, addr, pw, confirm, want string }{
		{"breached password", "pia", "pia@example.com", "sunshine", "sunshine", "too common"},
		{"differ", "pia", "pia@example.com", signUpPassword, signUpPassword + "!", "differ"},
		{"not an address", "pia", "Pia <pia@example.com>", signUpPassword, signUpPassword, "email address"},
		{"taken", "alice", "pia@example.com", signUpPassword, signUpPassword, "taken"},
	} {
		if p := o.signUp(t, b, tc.user, tc.addr, tc.pw, tc.confirm); p.status/100 != 4 || !strings.Contains(p.body, tc.want) {
			t.Errorf("%s: %d %s", tc.name, p.status, mainText(p.body))
		}
	}
	// The attacker's move: posting the form from another site (no form cookie).
	v := url.Values{"username": {"mallory"}, "email": {"m@example.com"}, "password": {signUpPassword}, "confirm": {signUpPassword}, "csrf": {"forged"}}
	if p := postForm(t, browser(t), o.issuer+"/signup", v); p.status == http.StatusOK {
		t.Errorf("a forged sign-up was accepted: %d", p.status)
	}
	if _, err := o.n.Directory().FindUser(context.Background(), "pia"); err == nil {
		t.Fatal("a refused sign-up created the account")
	}
	if _, err := o.n.Directory().FindUser(context.Background(), "mallory"); err == nil {
		t.Fatal("a forged sign-up created the account")
	}

	p := o.signUp(t, b, "pia", "pia@example.com", signUpPassword, signUpPassword)
	if p.status != http.StatusOK || !strings.Contains(p.body, "pia@example.com") {
		t.Fatalf("sign-up: %d %s", p.status, mainText(p.body))
	}
	link := srv.WaitTo(t, "pia@example.com").Link(t, "/email/verify")
	if p := o.passwordSignIn(t, "pia", signUpPassword); p.status != http.StatusForbidden || !strings.Contains(p.body, "Confirm your email address first") {
		t.Fatalf("sign-in before confirming: %d %s", p.status, mainText(p.body))
	}
	// The same address again: the same answer, no second account, a new link.
	if p := o.signUp(t, b, "pia2", "pia@example.com", signUpPassword, signUpPassword); p.status != http.StatusOK || !strings.Contains(p.body, "pia@example.com") {
		t.Fatalf("sign-up with a used address: %d %s", p.status, mainText(p.body))
	}
	if _, err := o.n.Directory().FindUser(context.Background(), "pia2"); err == nil {
		t.Fatal("a second account for the same address")
	}
	srv.Wait(t, 2)
	if p := o.confirm(t, b, link); p.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", p.status, mainText(p.body))
	}
	if p := o.passwordSignIn(t, "pia", signUpPassword); p.isLogin() {
		t.Fatalf("sign-in after confirming: %d %s", p.status, mainText(p.body))
	}
	if !o.verified(t, "pia") {
		t.Error("the address is not verified")
	}
}

// A sign-up nobody confirms is removed by the sweeper once its link has
// expired (audited), and its username can be signed up for again: an
// attacker cannot keep names, or fill the store, with sign-ups for
// addresses they do not own.
func TestUnconfirmedSignUpSwept(t *testing.T) {
	o, srv := startOPMail(t, func(c *node.Config) { c.Registration.Users = node.UsersOpen })
	ctx := context.Background()
	b := browser(t)
	if p := o.signUp(t, b, "quinn", "quinn@example.com", signUpPassword, signUpPassword); p.status != http.StatusOK {
		t.Fatalf("sign-up: %d %s", p.status, mainText(p.body))
	}
	srv.WaitTo(t, "quinn@example.com")
	first, err := o.n.Directory().FindUser(ctx, "quinn")
	if err != nil || !first.Pending {
		t.Fatalf("the sign-up: %+v %v", first, err)
	}
	if _, err := o.n.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := o.n.Directory().FindUser(ctx, "quinn"); err != nil {
		t.Fatalf("swept while its link works: %v", err)
	}
	o.clock.Advance(24*time.Hour + time.Minute) // accounts.verify_link_ttl
	if _, err := o.n.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := o.n.Directory().FindUser(ctx, "quinn"); err == nil {
		t.Fatal("the unconfirmed sign-up is still there")
	}
	eventually.True(t, "the removal is audited", func() bool {
		evs := auditPage(t, o.n, url.Values{"type": {"unconfirmed_sign_up_removed"}}).Events
		return len(evs) == 1 && evs[0].Subject == first.Subject
	})
	if p := o.signUp(t, b, "quinn", "quinn@example.com", signUpPassword, signUpPassword); p.status != http.StatusOK {
		t.Fatalf("signing up again: %d %s", p.status, mainText(p.body))
	}
	if again, err := o.n.Directory().FindUser(ctx, "quinn"); err != nil || again.Subject == first.Subject {
		t.Fatalf("the second sign-up: %+v %v", again, err)
	}
}

// registration.users invite or closed: no sign-up page.
func TestSignUpClosed(t *testing.T) {
	o, _ := startOPInvites(t, nil)
	if p := get(t, browser(t), o.issuer+"/signup"); p.status != http.StatusNotFound {
		t.Errorf("/signup with registration.users invite: %d", p.status)
	}
	if p := get(t, browser(t), o.authorizeURL(baseParams())); strings.Contains(p.body, `href="/signup"`) {
		t.Error("the sign-in page offers sign-up")
	}
	checkValidation(t, []validationCase{
		{"open without smtp", func(c *node.Config) { c.Registration.Users = node.UsersOpen }, "registration.users"},
	})
}

// Chromium: from an application's sign-in page to a new account, its
// confirmation link, and a sign-in.
func TestSignUpInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, srv := startOPMail(t, func(c *node.Config) {
		c.Registration.Users = node.UsersOpen
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "browser-rp", Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Browser RP", RedirectURIs: []string{rp.url + "/callback"},
				AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
			},
		})
	})
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "browser-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
	c := startChromium(t, ctx)
	req := newAuthRequest(conf)
	c.do("open the sign-in page", chromedp.Navigate(req.url), chromedp.WaitVisible(chromedp.CSS(`a[href="/signup"]`)))
	c.shot("login-signup-link")
	c.do("follow Create an account", chromedp.Click(chromedp.CSS(`a[href="/signup"]`)), chromedp.WaitVisible(chromedp.CSS(`#email`)))
	c.shot("signup")
	// One field a step: typing is slow on a loaded machine.
	c.do("type the username", chromedp.SendKeys(chromedp.CSS(`#username`), "quinn"))
	c.do("type the address", chromedp.SendKeys(chromedp.CSS(`#email`), "quinn@example.com"))
	c.do("type the password", chromedp.SendKeys(chromedp.CSS(`#password`), signUpPassword))
	c.do("type it again", chromedp.SendKeys(chromedp.CSS(`#confirm`), signUpPassword))
	c.do("sign up", chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if got := c.text(`h1`); got != "Check your mail" {
		c.fail("after signing up", fmt.Errorf("title %q: %s", got, c.text(`main`)))
	}
	c.shot("signup-sent")
	link := srv.WaitTo(t, "quinn@example.com").Link(t, "/email/verify")
	c.do("open the mailed link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/email/verify"] button`)))
	c.do("confirm", chromedp.Click(chromedp.CSS(`form[action="/email/verify"] button`)), chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	req = newAuthRequest(conf)
	c.do("sign in", chromedp.Navigate(req.url),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)),
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "quinn"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), signUpPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	req.checkCallback(t, o.issuer, c.finishAtRP(rp, 20*time.Second))
}
