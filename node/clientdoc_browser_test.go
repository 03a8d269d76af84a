package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"authrim/internal/headless"
)

// TestClientDocumentConsentInRealBrowser: in headless Chromium, the
// consent page of a client known by its metadata document shows the
// document's host in its own element, apart from the name the document
// chose (which could be anybody's). With SCREENSHOT_DIR set, the page is
// saved there as client-document-consent.png.
func TestClientDocumentConsentInRealBrowser(t *testing.T) {
	headless.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	h := newDocHost(t)
	o := docOP(t, h, nil, nil)
	id := h.putJSON(t, "/mcp/client.json", publicDoc(h.url("/mcp/client.json"), "Example Agent"), "max-age=600")
	params := baseParams()
	params["client_id"] = id

	c := startChromium(t, ctx)
	c.do("open the authorization request", chromedp.Navigate(o.authorizeURL(params)))
	c.passwordSignIn()
	c.do("wait for the consent page", chromedp.WaitVisible(chromedp.CSS(`#client-host`)))
	host := strings.TrimPrefix(h.base, "https://")
	if got := c.text(`#client-host`); got != host {
		c.fail("the host on the consent page", fmt.Errorf("%q, want %q", got, host))
	}
	if got := c.text(`.client-note q`); got != "Example Agent" {
		c.fail("the client's name on the consent page", fmt.Errorf("%q", got))
	}
	// The host is set apart (its own box), not plain text in a sentence.
	if border, _ := eval[string](c, `getComputedStyle(document.querySelector('#client-host')).borderTopStyle`); border != "solid" {
		c.fail("the host's style", fmt.Errorf("border %q: style.css not applied", border))
	}
	c.shot("client-document-consent")
}
