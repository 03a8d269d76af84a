package node_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/internal/headless"
	"authrim/node"
)

// TestPasswordResetInRealBrowser: in headless Chromium, the sign-in page
// links to "Forgot password?"; the link mailed through the real SMTP
// server opens the new-password form; after the reset the sessions made
// before it are gone and the new password signs in to the RP. With
// SCREENSHOT_DIR set, each page is saved there.
func TestPasswordResetInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, srv := startOPMail(t, func(c *node.Config) {
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

	// A session elsewhere, made before the reset.
	elsewhere := browser(t)
	o.signIn(t, elsewhere, o.authorizeURL(baseParams()))

	c := startChromium(t, ctx)
	req := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/password/forgot"]`)))
	c.shot("login-forgot-link")
	c.do("follow Forgot password?", chromedp.Click(chromedp.CSS(`a[href="/password/forgot"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#account`)))
	c.shot("password-forgot")
	c.do("ask for a link", chromedp.SendKeys(chromedp.CSS(`#account`), "alice"),
		chromedp.Click(chromedp.CSS(`form[action="/password/forgot"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if got := c.text(`h1`); got != "Check your mail" {
		c.fail("the answer page", fmt.Errorf("title %q", got))
	}
	c.shot("password-forgot-sent")

	link := srv.WaitTo(t, "alice@example.com").Link(t, "/password/reset")
	c.do("open the mailed link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	c.shot("password-reset")
	c.do("set a new password",
		chromedp.SendKeys(chromedp.CSS(`#password`), newPassword),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/password/reset"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if got := c.text(`h1`); got != "Password changed" {
		c.fail("after the reset", fmt.Errorf("title %q", got))
	}
	c.shot("password-reset-done")
	if o.silent(t, elsewhere) {
		t.Fatal("a session made before the reset still signs in")
	}

	req = newAuthRequest(conf)
	c.do("sign in with the new password", chromedp.Navigate(req.url),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)),
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	req.checkCallback(t, o.issuer, c.finishAtRP(rp, 20*time.Second))

	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	c.shot("account-password")
	c.do("open an used link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if !strings.Contains(c.text(`main`), "does not work") {
		c.fail("the used link", fmt.Errorf("%q", c.text(`main`)))
	}
	c.shot("password-reset-invalid")
}

// TestEmailVerificationInRealBrowser: a client with
// require_verified_email shows an unverified user the page that offers
// the mail; the mailed link's button confirms the address; then the
// sign-in reaches the RP. Screenshots as above.
func TestEmailVerificationInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, srv := startOPMail(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "browser-rp", Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Browser RP", RedirectURIs: []string{rp.url + "/callback"},
				AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
				RequireVerifiedEmail: true, SkipConsent: true,
			},
		})
	})
	if _, err := o.n.Directory().UpdateUserClaims(context.Background(), "alice", map[string]any{"email_verified": false}); err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "browser-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}

	c := startChromium(t, ctx)
	c.do("open the authorization request", chromedp.Navigate(newAuthRequest(conf).url))
	c.passwordSignIn()
	c.do("the gate", chromedp.WaitVisible(chromedp.CSS(`form[action="/account/email/verify"] button`)))
	c.shot("verify-email-required")
	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#email-status`)))
	if !strings.Contains(c.text(`#email-status`), "not confirmed") {
		c.fail("the account page's address", fmt.Errorf("%q", c.text(`#email-status`)))
	}
	c.shot("account-email-unconfirmed")
	c.do("send the mail", chromedp.Click(chromedp.CSS(`form[action="/account/email/verify"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	c.shot("verify-email-sent")
	link := srv.WaitTo(t, "alice@example.com").Link(t, "/email/verify")
	c.do("open the mailed link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/email/verify"] button`)))
	c.shot("verify-email")
	c.do("confirm", chromedp.Click(chromedp.CSS(`form[action="/email/verify"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if got := c.text(`h1`); got != "Email address confirmed" {
		c.fail("after confirming", fmt.Errorf("title %q", got))
	}
	c.shot("verify-email-done")
	req := newAuthRequest(conf)
	c.do("sign in to the RP again", chromedp.Navigate(req.url))
	req.checkCallback(t, o.issuer, c.loginOrRP(rp, 20*time.Second))
}
