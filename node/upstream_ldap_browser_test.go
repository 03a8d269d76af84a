package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"authrim/connectors"
	"authrim/internal/freeport"
	"authrim/internal/headless"
	"authrim/internal/slapdtest"
	"authrim/node"
)

// TestLDAPSignInInRealBrowser: in Chromium, the user signs in on the
// node's ordinary sign-in form with their directory password (slapd over
// StartTLS with the test CA), and the RP redeems a code whose ID token
// says pwd, fed and idp corp.
func TestLDAPSignInInRealBrowser(t *testing.T) {
	headless.Require(t)
	s := slapdtest.Start(t, slapdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rp := newRPCallback(t)
	o := startLDAPOP(t, s, nil, func(c *node.Config) {
		c.Clients = append(c.Clients, rp.client())
	})
	provider, conf := rp.discover(t, ctx, o.issuer, "email")
	c := &chrome{t: t, ctx: headless.Start(t, ctx)}

	req := newAuthRequest(conf)
	alice := slapdtest.Users["alice"]
	c.do("open the sign-in page", chromedp.Navigate(req.url), chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)))
	c.shot("ldap-signin-page")
	c.do("sign in with the directory's password",
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), alice.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
	q := c.finishAtRP(rp, 20*time.Second)
	idt := req.redeemAtRP(t, ctx, provider, conf, o.issuer, q)
	var claims struct {
		IDP   string   `json:"idp"`
		AMR   []string `json:"amr"`
		Nonce string   `json:"nonce"`
		Email string   `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.IDP != "corp" || !slices.Equal(claims.AMR, []string{"pwd", "fed"}) || claims.Nonce != req.nonce || idt.Subject == o.user.Subject {
		t.Fatalf("ID token %s claims %+v", idt.Subject, claims)
	}
	links, err := o.n.Directory().Links(ctx, idt.Subject)
	if err != nil || len(links) != 1 || links[0].Subject != alice.EntryUUID {
		t.Fatalf("links of the signed-in user: %+v %v", links, err)
	}

	// A node whose directory does not answer: the form says so, not
	// "wrong password".
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	down := startLDAPOP(t, s, func(c *connectors.Config) { c.LDAP.URL = "ldap://" + addr })
	c.do("open the other node's sign-in page", chromedp.Navigate(down.authorizeURL(baseParams())), chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)))
	c.do("sign in while the directory is down",
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), alice.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
	if err := c.waitJS(`document.body.innerText.includes('directory is unavailable')`, 15*time.Second); err != nil {
		c.fail("waiting for the directory-unavailable page", err)
	}
	c.shot("ldap-directory-unavailable")
}
