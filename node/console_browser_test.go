package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"authrim/directory"
	"authrim/http/console"
	"authrim/internal/eventually"
	"authrim/internal/headless"
	"authrim/node"
)

// jwksKids are the kids the node's JWKS publishes now.
func jwksKids(t *testing.T, o *op) []string {
	t.Helper()
	resp, err := http.Get(o.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	slices.Sort(out)
	return out
}

// liveSession signs username in at the RP with a cookie-jar client and
// returns the access token of that sign-in.
func liveSession(t *testing.T, o *op, username, password string) string {
	t.Helper()
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	f := hidden(p.body)
	f.Set("username", username)
	f.Set("password", password)
	p = postForm(t, b, o.issuer+"/login", f)
	if p.isConsent() {
		p = o.consent(t, b, p, "allow")
	}
	if p.loc == nil || p.loc.Query().Get("code") == "" {
		t.Fatalf("%s's sign-in: %d %v %s", username, p.status, p.loc, p.body)
	}
	status, tok := o.redeem(t, p.loc.Query().Get("code"), "")
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	return tok["access_token"].(string)
}

// TestConsoleInRealBrowser: in headless Chromium an admin opens /admin/,
// signs in through the node's own login page, creates a client (its
// secret shown once), rotates the ES256 keys and sees the JWKS change,
// revokes the new key with a reason and a confirmation and sees it leave
// the JWKS, disables a user who has a live session and sees that session
// end; the cluster and audit pages show; a user without the admin role
// is refused. With SCREENSHOT_DIR set, each page is saved as console-*.png.
func TestConsoleInRealBrowser(t *testing.T) {
	headless.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	// A short publish_ahead: the next key published at start may sign
	// once the clock has moved past it, so a rotation makes a new next
	// key at once (and the JWKS changes).
	h := startHookServer(t, 1)
	o := hookOP(t, h, func(c *node.Config) {
		c.Keys.PublishAhead, c.Keys.JWKSMaxAge = node.Duration(time.Second), node.Duration(time.Second)
	})
	o.clock.Advance(2 * time.Second)
	const otherPassword = "another long enough password"
	bob, err := o.n.Directory().CreateUser(ctx, directory.NewUser{Username: "bob", Password: otherPassword, Claims: map[string]any{"email": "bob@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.n.Directory().CreateUser(ctx, directory.NewUser{Username: "carol", Password: otherPassword}); err != nil {
		t.Fatal(err)
	}
	// Bob also signs in with his company's provider (the user page
	// lists the link).
	if _, err := o.n.Directory().AddLink(ctx, directory.Link{Issuer: "https://login.example.com", Subject: "248289761001", User: bob.Subject, Connector: "corp", Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	grantAdmin(t, o, "alice", true)
	bobToken := liveSession(t, o, "bob", otherPassword)
	if status, _, _ := o.userinfo(t, bobToken); status != http.StatusOK {
		t.Fatalf("bob's token before the disable: %d", status)
	}

	c := startChromium(t, ctx)
	c.do("open the console", chromedp.Navigate(o.issuer+"/admin/"))
	c.passwordSignIn()
	if err := c.waitJS(`location.pathname === '`+console.Base+`/users' && document.querySelector('h1')?.textContent === 'Users'`, 10*time.Second); err != nil {
		c.fail("the users page after sign-in", err)
	}
	c.shot("console-users")

	// A client.
	c.do("open clients", chromedp.Navigate(o.issuer+console.Base+"/clients"))
	c.do("client name", chromedp.SendKeys(chromedp.CSS(`#client_name`), "Billing"))
	c.do("redirect URI", chromedp.SendKeys(chromedp.CSS(`#redirect_uris`), "https://billing.example/cb"))
	c.shot("console-clients")
	c.do("create the client", chromedp.Click(chromedp.CSS(`form[action$="/clients"] button[type=submit]`)))
	if err := c.waitJS(`document.querySelector('#client-secret') !== null`, 10*time.Second); err != nil {
		c.fail("the new client's secret", err)
	}
	id := c.text(`#client-id`)
	cl, err := o.n.Directory().Client(ctx, id)
	if err != nil || cl.Name != "Billing" || !slices.Equal(cl.RedirectURIs, []string{"https://billing.example/cb"}) {
		t.Fatalf("client %q: %+v %v", id, cl, err)
	}
	c.shot("console-client-secret")

	// Rotate ES256: a next key is published ahead of its turn.
	before := jwksKids(t, o)
	c.do("open keys", chromedp.Navigate(o.issuer+console.Base+"/keys"))
	c.do("rotate ES256", chromedp.Click(chromedp.CSS(`form[action$="/keys/rotate"]:has(input[value=ES256]) button`)))
	if err := c.waitJS(`document.querySelector('.notice') !== null && document.querySelector('.badge.next') !== null`, 10*time.Second); err != nil {
		c.fail("the rotation's notice", err)
	}
	var added string
	eventually.True(t, "the JWKS changes", func() bool {
		for _, k := range jwksKids(t, o) {
			if !slices.Contains(before, k) {
				added = k
			}
		}
		return added != ""
	})
	c.shot("console-keys")

	// Revoke the new key: a reason, then a confirmation.
	c.do("revoke the new key", chromedp.Click(chromedp.CSS(`form[action$="/keys/`+added+`/revoke"] button`)))
	c.do("reason", chromedp.SendKeys(chromedp.CSS(`#reason`), "test of the console"))
	c.do("continue", chromedp.Click(chromedp.CSS(`form[action$="/revoke"] button[type=submit]`)))
	c.do("the confirmation", chromedp.WaitReady(chromedp.CSS(`input[name=confirm][value=yes]`)))
	c.shot("console-revoke-confirm")
	if slices.Contains(jwksKids(t, o), added) == false {
		t.Fatal("the key left the JWKS before the confirmation")
	}
	c.do("confirm", chromedp.Click(chromedp.CSS(`button.danger`)))
	if err := c.waitJS(`document.querySelector('.badge.revoked') !== null`, 10*time.Second); err != nil {
		c.fail("the revoked key", err)
	}
	if slices.Contains(jwksKids(t, o), added) {
		t.Fatalf("the revoked key %s is still published", added)
	}

	// A webhook for user disables: its secret is shown once and the
	// receiver verifies the deliveries with it.
	c.do("open webhooks", chromedp.Navigate(o.issuer+console.Base+"/webhooks"))
	c.do("webhook URL", chromedp.SendKeys(chromedp.CSS(`#url`), h.srv.URL+"/hook"))
	c.do("webhook events", chromedp.SendKeys(chromedp.CSS(`#events`), "admin_user_disabled"))
	c.do("webhook description", chromedp.SendKeys(chromedp.CSS(`#description`), "Security team"))
	c.shot("console-webhooks")
	c.do("create the webhook", chromedp.Click(chromedp.CSS(`form[action$="/webhooks"] button[type=submit]`)))
	if err := c.waitJS(`document.querySelector('#webhook-secret')?.textContent.startsWith('whsec_')`, 10*time.Second); err != nil {
		c.fail("the new webhook's secret", err)
	}
	c.shot("console-webhook-secret")
	hookID := c.text(`#webhook-id`)
	h.rx.SetSecret(c.text(`#webhook-secret`))

	// Disable bob: his session ends.
	c.do("search bob", chromedp.Navigate(o.issuer+console.Base+"/users?q=bob"))
	c.do("open bob", chromedp.Click(chromedp.CSS(`a[href$="/users/`+bob.Subject+`"]`)))
	if err := c.waitJS(`document.querySelectorAll('#sessions tbody tr').length === 1 && document.querySelectorAll('#links tbody tr').length === 1`, 10*time.Second); err != nil {
		c.fail("bob's live session", err)
	}
	c.shot("console-user")
	c.do("disable bob", chromedp.Click(chromedp.CSS(`form[action$="/disable"] button`)))
	if err := c.waitJS(`document.querySelector('.badge.disabled') !== null && document.querySelector('.notice') !== null`, 10*time.Second); err != nil {
		c.fail("bob disabled", err)
	}
	eventually.True(t, "bob's session ended", func() bool {
		status, _, _ := o.userinfo(t, bobToken)
		return status == http.StatusUnauthorized
	})
	status, body := admin(t, o.n, http.MethodGet, "/admin/users/bob/sessions", adminToken, "")
	if status != http.StatusOK || !strings.Contains(string(body), `"sessions":[]`) {
		t.Fatalf("bob's sessions after the disable: %d %s", status, body)
	}
	// The disable reached the receiver (after one refusal, retried),
	// and the webhook's page shows both attempts.
	eventually.True(t, "the webhook delivered the disable", func() bool {
		e, _ := h.received()
		return len(e) == 1 && e[0].Type == "admin_user_disabled" && e[0].Data.Subject == bob.Subject
	})
	// The successful attempt is recorded once the receiver has answered.
	eventually.True(t, "both attempts recorded", func() bool {
		_, body := admin(t, o.n, http.MethodGet, "/admin/webhooks/"+hookID+"/deliveries", adminToken, "")
		return strings.Count(string(body), `"attempt"`) == 2 && strings.Contains(string(body), `"ok":true`)
	})
	c.do("list the webhooks", chromedp.Navigate(o.issuer+console.Base+"/webhooks"), chromedp.WaitVisible(chromedp.CSS(`#webhooks`)))
	c.shot("console-webhooks-list")
	c.do("open the webhook", chromedp.Click(chromedp.CSS(`a[href$="/webhooks/`+hookID+`"]`)))
	if err := c.waitJS(`document.querySelectorAll('table[aria-labelledby=deliveries] tbody tr').length === 2 && document.body.innerText.includes('HTTP 500')`, 10*time.Second); err != nil {
		c.fail("the webhook's delivery history", err)
	}
	c.shot("console-webhook")

	c.do("cluster", chromedp.Navigate(o.issuer+console.Base+"/cluster"), chromedp.WaitVisible(chromedp.CSS(`dl.facts`)))
	c.shot("console-cluster")
	c.do("audit", chromedp.Navigate(o.issuer+console.Base+"/audit"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	if err := c.waitJS(`document.body.innerText.includes('admin_user_disabled')`, 10*time.Second); err != nil {
		c.fail("the audit log shows the disable", err)
	}
	c.shot("console-audit")

	// Carol has no admin role: refused after signing in.
	c.do("sign out of the console", chromedp.Click(chromedp.CSS(`form[action$="/logout"] button`)))
	if err := c.waitJS(`document.querySelector('h1')?.textContent === 'Signed out of the console'`, 10*time.Second); err != nil {
		c.fail("signed out of the console", err)
	}
	c.shot("console-signed-out")
	// The console's sign-out ended the node's session too: the node asks
	// for a password again.
	c.do("open the console again", chromedp.Navigate(o.issuer+"/admin/"))
	c.do("carol's username", chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)),
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "carol"))
	c.do("carol's password", chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), otherPassword))
	c.do("sign in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	if err := c.waitJS(`document.body.innerText.includes('may not use the admin console')`, 10*time.Second); err != nil {
		c.fail("carol refused", err)
	}
	c.shot("console-refused")
	if p := get(t, browser(t), o.issuer+console.Base+"/users"); p.status != http.StatusSeeOther {
		t.Fatalf("a stranger reaches the users page: %d", p.status)
	}
}
