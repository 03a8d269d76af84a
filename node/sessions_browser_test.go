package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"authrim/internal/headless"
)

// TestAccountSessionsInRealBrowser: in headless Chromium the account page
// lists the user's three sessions with this one marked; "Sign out" on
// another ends that one only, "Sign out everywhere else" the rest, and
// this device's link leads to the /logout confirmation. With
// SCREENSHOT_DIR set, the page is saved there as account-sessions.png.
func TestAccountSessionsInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, conf := startOPForBrowserRP(t, ctx, rp)
	others := o.signInConcurrentlyAs(t, "openid profile email", userAgents[1:3])

	c := startChromium(t, ctx)
	req := newAuthRequest(conf)
	c.do("open the authorization request", chromedp.Navigate(req.url))
	c.passwordSignIn()
	req.checkCallback(t, o.issuer, c.finishAtRP(rp, 20*time.Second))

	c.do("open the account page", chromedp.Navigate(o.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`#sessions`)))
	if n, cur := c.count(`#sessions li.session`), c.count(`#sessions li.current`); n != 3 || cur != 1 {
		c.fail("the session list", fmt.Errorf("%d sessions, %d current; want 3 and 1", n, cur))
	}
	if got := c.text(`#sessions li.current strong`); got != "Headless Chrome on Linux" {
		c.fail("this device's name", fmt.Errorf("%q", got))
	}
	c.shot("account-sessions")

	target := others[0]
	c.do("sign out another session", chromedp.Click(chromedp.CSS(`li[data-sid="`+target.sid+`"] button[type=submit]`)))
	if err := c.waitJS(`document.querySelectorAll('#sessions li.session').length === 2`, 10*time.Second); err != nil {
		c.fail("after signing out one session", err)
	}
	if o.silent(t, target.b) || !o.silent(t, others[1].b) {
		t.Fatal("the sign-out did not end exactly the session it named")
	}
	c.do("sign out everywhere else", chromedp.Click(chromedp.CSS(`form[action="/account/sessions/end-others"] button`)))
	if err := c.waitJS(`document.querySelectorAll('#sessions li.session').length === 1 && document.querySelector('#sessions li.current') !== null`, 10*time.Second); err != nil {
		c.fail("after signing out everywhere else", err)
	}
	if o.silent(t, others[1].b) {
		t.Fatal("a session survived signing out everywhere else")
	}
	c.do("sign out of this device", chromedp.Click(chromedp.CSS(`#sessions li.current a[href="/logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
}

// shot saves a full-page screenshot as $SCREENSHOT_DIR/NAME.png.
func (c *chrome) shot(name string) {
	c.t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}
