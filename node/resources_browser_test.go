package node_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"authrim/internal/headless"
)

// TestResourceConsentInRealBrowser: in headless Chromium, the consent
// page of an authorization request for two APIs (resource=, RFC 8707)
// names each API with its identifier and, per API, the scopes asked of
// it, apart from the OpenID scopes. With SCREENSHOT_DIR set, the page is
// saved there as resource-consent.png.
func TestResourceConsentInRealBrowser(t *testing.T) {
	headless.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o := startResourceOP(t, nil)
	v := url.Values{}
	for k, s := range baseParams() {
		v.Set(k, s)
	}
	v.Set("scope", "openid profile orders:read orders:write billing:read")
	v["resource"] = []string{ordersAPI, billingAPI}

	c := startChromium(t, ctx)
	c.do("open the authorization request", chromedp.Navigate(o.authorizeWith(v)))
	c.passwordSignIn()
	c.do("wait for the consent page", chromedp.WaitVisible(chromedp.CSS(`form[action="/consent"] button[value=allow]`)))
	items, err := eval[[]string](c, `[...document.querySelectorAll('li')].map(li => li.textContent.trim())`)
	if err != nil {
		c.fail("the consent list", err)
	}
	for _, want := range []string{"Orders API (" + ordersAPI + ")", "Billing (" + billingAPI + ")"} {
		found := false
		for _, it := range items {
			found = found || strings.Contains(it, want)
		}
		if !found {
			c.fail("the consent page names each API", fmt.Errorf("no item with %q in %q", want, items))
		}
	}
	for _, it := range items {
		if strings.Contains(it, "Billing") && strings.Contains(it, "orders:") {
			c.fail("scopes per API", fmt.Errorf("billing's line lists an orders scope: %q", it))
		}
	}
	c.shot("resource-consent")
}
