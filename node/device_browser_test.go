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

	"authrim/actors/device"
	"authrim/internal/headless"
)

// TestDeviceGrantInRealBrowser: a device client (golang.org/x/oauth2's
// DeviceAuth and DeviceAccessToken, endpoints from discovery) polls
// while headless Chromium opens verification_uri_complete, signs in
// through the login page, confirms the code and approves; the tokens the
// client gets work at /userinfo and its ID token verifies (go-oidc). A
// mistyped code on the way is refused as a typo.
// With SCREENSHOT_DIR set to a directory, the pages are saved there.
func TestDeviceGrantInRealBrowser(t *testing.T) {
	headless.Require(t)
	o := startDeviceOP(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rpCtx := oidc.ClientContext(ctx, http.DefaultClient)
	provider, err := oidc.NewProvider(rpCtx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	ep := provider.Endpoint()
	if ep.DeviceAuthURL != o.issuer+"/device_authorization" {
		t.Fatalf("discovery's device_authorization_endpoint: %q", ep.DeviceAuthURL)
	}
	ep.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the form
	conf := oauth2.Config{ClientID: "tv", Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile"}}
	da, err := conf.DeviceAuth(rpCtx)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(rpCtx, da)
		polled <- result{tok, err}
	}()

	c := startChromium(t, ctx)
	c.conditionalMediation(false)
	c.do("open verification_uri_complete", chromedp.Navigate(da.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)))
	c.shot("device-signin")
	c.passwordSignIn()
	c.do("the code, prefilled",
		chromedp.WaitVisible(chromedp.CSS(`input[name=user_code]`)),
	)
	if got, _ := eval[string](c, `document.querySelector('input[name=user_code]').value`); got != da.UserCode {
		c.fail("prefilled code", fmt.Errorf("got %q, want %q", got, da.UserCode))
	}
	c.shot("device-enter")
	// A typo first (one letter changed): told apart from an unknown code.
	norm, err := device.ParseUserCode(da.UserCode)
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(norm)
	typo[5] = device.Alphabet[(strings.IndexByte(device.Alphabet, typo[5])+3)%len(device.Alphabet)]
	c.do("enter a mistyped code",
		clearInput(`input[name=user_code]`),
		chromedp.SendKeys(chromedp.CSS(`input[name=user_code]`), string(typo)),
		chromedp.Click(chromedp.CSS(`#continue`)),
	)
	if err := c.waitJS(`document.body.innerText.includes('That code has a typo')`, 10*time.Second); err != nil {
		c.fail("typo message", err)
	}
	c.shot("device-typo")
	// Then the right code as a person might type it.
	c.do("enter the code in lower case, with a space",
		clearInput(`input[name=user_code]`),
		chromedp.SendKeys(chromedp.CSS(`input[name=user_code]`), strings.ToLower(norm[:4]+" "+norm[4:])),
		chromedp.Click(chromedp.CSS(`#continue`)), chromedp.WaitVisible(chromedp.CSS(`#approve`)))
	if got := c.text(`.user-code`); got != da.UserCode {
		c.fail("confirmation page", fmt.Errorf("code shown %q, want %q", got, da.UserCode))
	}
	if got := c.text(`dl.device-client dd`); got != "Living-room TV" {
		c.fail("confirmation page", fmt.Errorf("client shown %q", got))
	}
	c.shot("device-confirm")
	c.do("approve", chromedp.Click(chromedp.CSS(`#approve`)))
	if err := c.waitJS(`document.body.innerText.includes('You approved Living-room TV')`, 10*time.Second); err != nil {
		c.fail("approved page", err)
	}
	c.shot("device-done")

	var r result
	select {
	case r = <-polled:
	case <-ctx.Done():
		t.Fatal("the device client got no token")
	}
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	raw, _ := r.tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "tv", Now: o.clock.Now}).Verify(rpCtx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Subject != o.user.Subject {
		t.Fatalf("ID token subject %q", idt.Subject)
	}
	ui, err := provider.UserInfo(rpCtx, oauth2.StaticTokenSource(r.tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var claims struct {
		Name string `json:"name"`
	}
	if err := ui.Claims(&claims); err != nil || ui.Subject != o.user.Subject || claims.Name != "Alice Liddell" {
		t.Fatalf("userinfo %v %+v %v", ui.Subject, claims, err)
	}
}
