package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"authrim/internal/headless"
)

// TestPasskeyReauthInRealBrowser: in headless Chromium, "Add a passkey"
// on a session signed in more than 5 minutes ago creates nothing and
// leads to the sign-in page; after signing in again the browser is back
// on the account page, where adding the passkey works.
func TestPasskeyReauthInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, conf := startOPForBrowserRP(t, ctx, rp)
	c := startChromium(t, ctx)
	c.conditionalMediation(false)

	req := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url))
	c.passwordSignIn()
	req.checkCallback(t, o.issuer, c.finishAtRP(rp, 20*time.Second))

	// The browser stays signed in; 6 minutes later someone else uses it.
	o.clock.Advance(6 * time.Minute)
	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#passkey-register`)))
	c.do("click Add a passkey", chromedp.Click(chromedp.CSS(`#passkey-register`)))
	if err := c.waitJS(`location.pathname === '/account/reauth' && document.querySelector('form[action="/login"] input[name=password]') !== null`, 20*time.Second); err != nil {
		c.fail("waiting for the sign-in page (status: "+c.text(`#passkey-status`)+")", err)
	}
	creds, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.authenticator})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 0 || len(o.passkeyIDs(t, o.user.Subject)) != 0 {
		t.Fatalf("a passkey was made on the old session: authenticator %d, stored %v", len(creds.Credentials), o.passkeyIDs(t, o.user.Subject))
	}

	c.passwordSignIn()
	if err := c.waitJS(`location.pathname === '/account' && document.getElementById('passkey-register') !== null`, 20*time.Second); err != nil {
		c.fail("waiting to be back on the account page", err)
	}
	c.do("click Add a passkey again", chromedp.Click(chromedp.CSS(`#passkey-register`)))
	if err := c.waitJS(`document.querySelectorAll('#passkeys tr.passkey').length === 1`, 20*time.Second); err != nil {
		c.fail(fmt.Sprintf("waiting for the new passkey row (status: %q)", c.text(`#passkey-status`)), err)
	}
	if ids := o.passkeyIDs(t, o.user.Subject); len(ids) != 1 {
		t.Fatalf("stored passkeys %v, want one", ids)
	}
}
