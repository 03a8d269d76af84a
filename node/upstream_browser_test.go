package node_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/internal/headless"
	"authrim/internal/testca"
	"authrim/node"
)

// TestBrowserUpstreamSignIn: the whole chain in Chromium. The RP sends
// the browser to the node, the user presses "Sign in with Upstream",
// signs in at the upstream Authrim node (https), comes back, consents,
// and the RP redeems a code whose ID token says fed and idp. Then
// /account lists the linked sign-in and its remove button removes it.
func TestBrowserUpstreamSignIn(t *testing.T) {
	headless.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rp := newRPCallback(t)
	f := startFederation(t, nil, func(c *node.Config) {
		c.Clients = append(c.Clients, rp.client())
	})
	f.upstreamUser(t, "bob", "bob@up.example", true)
	provider, conf := rp.discover(t, ctx, f.down.issuer, "email")

	// The browser trusts the upstream's certificate by its key only.
	c := chromeTrusting(t, ctx, f.leaf)

	req := newAuthRequest(conf)
	c.do("open the sign-in page", chromedp.Navigate(req.url), chromedp.WaitVisible(chromedp.CSS(`button.upstream[data-connector=up]`)))
	if got := c.text(`button.upstream[data-connector=up]`); got != "Sign in with Upstream" {
		t.Fatalf("button says %q", got)
	}
	c.shot("upstream-signin-page")
	c.do("press Sign in with Upstream", chromedp.Click(chromedp.CSS(`button.upstream[data-connector=up]`)))
	if err := c.waitJS(`location.origin === `+jsString(f.up.issuer)+` && document.querySelector('form[action="/login"] input[name=password]') !== null`, 15*time.Second); err != nil {
		c.fail("waiting for the upstream's sign-in page", err)
	}
	c.do("sign in at the upstream",
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "bob"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), userPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
	q := c.finishAtRP(rp, 20*time.Second)
	idt := req.redeemAtRP(t, ctx, provider, conf, f.down.issuer, q)
	req.wantFederated(t, idt, "up")

	c.do("open the account page", chromedp.Navigate(f.down.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#links`)))
	if !strings.Contains(c.text(`#links`), "bob@up.example") {
		t.Fatalf("linked sign-ins: %q", c.text(`#links`))
	}
	c.shot("upstream-account-links")
	c.do("remove the link", chromedp.Click(chromedp.CSS(`#links li.link button[type=submit]`)))
	if err := c.waitJS(`document.querySelector('#links li.link') === null && document.querySelector('#links') !== null`, 10*time.Second); err != nil {
		c.fail("waiting for the link to go", err)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), idt.Subject); len(links) != 0 {
		t.Fatalf("links after removing: %v", links)
	}
}

// jsString quotes s for a script.
// wantFederated checks that idt is of a sign-in through connector (idp,
// amr fed) answering req (its nonce).
func (req authRequest) wantFederated(t *testing.T, idt *oidc.IDToken, connector string) {
	t.Helper()
	var claims struct {
		IDP   string   `json:"idp"`
		AMR   []string `json:"amr"`
		Nonce string   `json:"nonce"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.IDP != connector || !slices.Contains(claims.AMR, "fed") || claims.Nonce != req.nonce {
		t.Fatalf("ID token claims %+v", claims)
	}
}

// chromeTrusting starts Chromium within ctx trusting leaf's certificate
// by its key only (an upstream's test certificate).
func chromeTrusting(t *testing.T, ctx context.Context, leaf testca.Leaf) *chrome {
	t.Helper()
	cert, err := x509.ParseCertificate(leaf.Cert(t).Raw)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return &chrome{t: t, ctx: headless.Start(t, ctx, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))}
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// redeemAtRP checks the callback the RP got for req, redeems its code
// as the RP does (with the PKCE verifier) and returns the ID token,
// verified against issuer's keys.
func (req authRequest) redeemAtRP(t *testing.T, ctx context.Context, provider *oidc.Provider, conf oauth2.Config, issuer string, q url.Values) *oidc.IDToken {
	t.Helper()
	req.checkCallback(t, issuer, q)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(req.pkce))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return idt
}
