package node_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/internal/headless"
	"authrim/internal/totp"
	"authrim/node"
)

// TestMFAInRealBrowser: in headless Chromium a user sets up an
// authenticator app on the account page (the QR code loads under the
// page's CSP; the key typed by hand gives the confirming code), sees the
// ten recovery codes once, then signs in with password and app code,
// and again with password and a recovery code after a wrong code. The
// RP's ID tokens say how (amr). With SCREENSHOT_DIR set the pages are
// saved there (account-mfa-off, totp-setup, recovery-codes,
// account-mfa-on, mfa-code, mfa-wrong-code).
func TestMFAInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, conf := startOPForBrowserRP(t, ctx, rp)
	c := startChromium(t, ctx)
	o.alignStep()

	amrAt := func(req authRequest, q map[string][]string) []string {
		t.Helper()
		tok, err := conf.Exchange(ctx, q["code"][0], oauth2.VerifierOption(req.pkce))
		if err != nil {
			t.Fatal(err)
		}
		var amr []string
		for _, v := range idClaims(t, tok.Extra("id_token").(string))["amr"].([]any) {
			amr = append(amr, v.(string))
		}
		return amr
	}

	req := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url))
	c.passwordSignIn()
	q := c.finishAtRP(rp, 20*time.Second)
	req.checkCallback(t, o.issuer, q)
	if amr := amrAt(req, q); !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("amr before enrolment: %v", amr)
	}

	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#totp-setup`)))
	c.shot("account-mfa-off")
	c.do("set up an app", chromedp.Click(chromedp.CSS(`#totp-setup`)), chromedp.WaitVisible(chromedp.CSS(`#totp-key`)))
	if err := c.waitJS(`document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 0`, 10*time.Second); err != nil {
		c.fail("the QR code did not load (CSP?)", err)
	}
	if alt, _ := eval[string](c, `document.querySelector('img.qr').alt`); !strings.Contains(alt, "QR code") {
		c.fail("the QR code's alt text", fmt.Errorf("%q", alt))
	}
	if f, _ := eval[string](c, `document.activeElement.id`); f != "code" {
		c.fail("focus on the setup page", fmt.Errorf("focused %q, want the code field", f))
	}
	c.shot("totp-setup")
	secret, err := totpSecret(c.text(`#totp-key`))
	if err != nil {
		c.fail("the manual key", err)
	}
	c.do("confirm with the app's code",
		chromedp.SendKeys(chromedp.CSS(`#code`), o.totpCode(secret, 0)),
		chromedp.Click(chromedp.CSS(`form[action="/account/mfa/totp/confirm"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)))
	if n := c.count(`#recovery-codes li`); n != 10 {
		c.fail("recovery codes", fmt.Errorf("%d shown", n))
	}
	c.shot("recovery-codes")
	recovery := c.text(`#recovery-codes li:nth-child(4) code`)
	c.do("back to the account", chromedp.Click(chromedp.CSS(`a.button[href="/account"]`)), chromedp.WaitVisible(chromedp.CSS(`#recovery-status`)))
	if got := c.text(`#recovery-status`); !strings.Contains(got, "10 of 10 left") {
		c.fail("the account page after enrolment", fmt.Errorf("%q", got))
	}
	c.shot("account-mfa-on")
	c.signOut(o.issuer)
	o.clock.Advance(totp.Period) // the confirmation's step is used

	// Password, then the app's code.
	req = newAuthRequest(conf)
	c.do("sign in again", chromedp.Navigate(req.url))
	c.passwordSignIn()
	c.do("the code page", chromedp.WaitVisible(chromedp.CSS(`form[action="/login/mfa"] #code`)))
	if f, _ := eval[string](c, `document.activeElement.id`); f != "code" {
		c.fail("focus on the code page", fmt.Errorf("focused %q, want the code field", f))
	}
	c.shot("mfa-code")
	c.do("enter the app's code",
		chromedp.SendKeys(chromedp.CSS(`#code`), o.totpCode(secret, 0)),
		chromedp.Click(chromedp.CSS(`form[action="/login/mfa"] button[type=submit]`)))
	q = c.finishAtRP(rp, 20*time.Second)
	req.checkCallback(t, o.issuer, q)
	if amr := amrAt(req, q); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr with the app: %v", amr)
	}
	c.signOut(o.issuer)

	// Password, a wrong code, then a recovery code.
	req = newAuthRequest(conf)
	c.do("sign in with a recovery code", chromedp.Navigate(req.url))
	c.passwordSignIn()
	c.do("a wrong code",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/mfa"] #code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), wrongTOTP(o, secret)),
		chromedp.Click(chromedp.CSS(`form[action="/login/mfa"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-error`)))
	if d, _ := eval[string](c, `document.getElementById('code').getAttribute('aria-describedby')`); d != "mfa-error" {
		c.fail("the error is not tied to the field", fmt.Errorf("aria-describedby %q", d))
	}
	c.shot("mfa-wrong-code")
	c.do("enter a recovery code",
		chromedp.SendKeys(chromedp.CSS(`#code`), recovery),
		chromedp.Click(chromedp.CSS(`form[action="/login/mfa"] button[type=submit]`)))
	q = c.finishAtRP(rp, 20*time.Second)
	req.checkCallback(t, o.issuer, q)
	if amr := amrAt(req, q); !slices.Equal(amr, []string{"pwd", "mfa", "rc"}) {
		t.Fatalf("amr with a recovery code: %v", amr)
	}
	c.do("the account page shows the recovery code's use", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#recovery-status`)))
	if got := c.text(`#recovery-status`); !strings.Contains(got, "9 of 10 left") || !strings.Contains(got, "recovery code was last used") {
		c.fail("the account page after a recovery code", fmt.Errorf("%q", got))
	}
}

// TestMFARequiredByClientInRealBrowser: in headless Chromium, a client
// whose mfa_policy is required makes a user without an app set one up
// right after the password (QR code, code, recovery codes, then on to
// the client); later a passkey alone satisfies the same client, with no
// code asked. Screenshot: mfa-required-setup.
func TestMFARequiredByClientInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "browser-rp", Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Browser RP", RedirectURIs: []string{rp.url + "/callback"}, AuthMethod: "client_secret_basic",
				GrantTypes: []string{"authorization_code"}, MFAPolicy: directory.MFARequired,
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
	// Passkey autofill would sign in on page load, before the button.
	c.conditionalMediation(false)
	o.alignStep()
	claimsAt := func(req authRequest, q map[string][]string) ([]string, string) {
		t.Helper()
		tok, err := conf.Exchange(ctx, q["code"][0], oauth2.VerifierOption(req.pkce))
		if err != nil {
			t.Fatal(err)
		}
		cl := idClaims(t, tok.Extra("id_token").(string))
		var amr []string
		for _, v := range cl["amr"].([]any) {
			amr = append(amr, v.(string))
		}
		acr, _ := cl["acr"].(string)
		return amr, acr
	}

	req := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url))
	c.passwordSignIn()
	c.do("the required setup", chromedp.WaitVisible(chromedp.CSS(`form[action="/login/mfa/enrol"] #code`)))
	if err := c.waitJS(`document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 0`, 10*time.Second); err != nil {
		c.fail("the QR code did not load", err)
	}
	if !strings.Contains(c.text(`main`), "Browser RP requires two-factor sign-in") {
		c.fail("the setup page does not say why", fmt.Errorf("%q", c.text(`main`)))
	}
	c.shot("mfa-required-setup")
	secret, err := totpSecret(c.text(`#totp-key`))
	if err != nil {
		c.fail("the manual key", err)
	}
	c.do("confirm with the app's code",
		chromedp.SendKeys(chromedp.CSS(`#code`), o.totpCode(secret, 0)),
		chromedp.Click(chromedp.CSS(`form[action="/login/mfa/enrol"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)))
	if n := c.count(`#recovery-codes li`); n != 10 {
		c.fail("recovery codes", fmt.Errorf("%d shown", n))
	}
	c.do("continue to the app", chromedp.Click(chromedp.CSS(`#codes-saved`)))
	q := c.finishAtRP(rp, 20*time.Second)
	req.checkCallback(t, o.issuer, q)
	if amr, acr := claimsAt(req, q); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || acr != "urn:authrim:acr:mfa" {
		t.Fatalf("after the required setup: amr %v acr %q", amr, acr)
	}

	// A passkey, registered now, satisfies the client on its own.
	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#passkey-register`)))
	c.do("add a passkey", chromedp.Click(chromedp.CSS(`#passkey-register`)))
	if err := c.waitJS(`document.querySelectorAll('#passkeys tr.passkey').length === 1`, 20*time.Second); err != nil {
		c.fail("waiting for the new passkey (status: "+c.text(`#passkey-status`)+")", err)
	}
	c.signOut(o.issuer)
	req = newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url), chromedp.WaitVisible(chromedp.CSS(`#passkey-login`)))
	c.do("sign in with the passkey", clearInput(`input[name=username]`), chromedp.Click(chromedp.CSS(`#passkey-login`)))
	q = c.finishAtRP(rp, 20*time.Second)
	req.checkCallback(t, o.issuer, q)
	if amr, acr := claimsAt(req, q); slices.Contains(amr, "otp") || acr != "phr" {
		t.Fatalf("passkey sign-in: amr %v acr %q", amr, acr)
	}
}
