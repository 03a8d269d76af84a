package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"authrim/internal/headless"
)

// TestSignInPageLanguagesInRealBrowser: Chromium shows the sign-in page
// in the browser's language (Accept-Language, set through the browser's
// language emulation) unless the authorization request's ui_locales
// asks for another; <html lang> and the text follow.
// With SCREENSHOT_DIR set, the pages are saved there (docs/img's
// sign-in-en.png and sign-in-ja.png come from this test).
func TestSignInPageLanguagesInRealBrowser(t *testing.T) {
	headless.Require(t)
	o := startOP(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	c := startChromium(t, ctx)
	c.conditionalMediation(false)
	ua, err := eval[string](c, `navigator.userAgent`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, browserLang, uiLocales string
		wantLang, wantButton         string
		wantTitle                    string
	}{
		{"sign-in-en", "en-US,en", "", "en", "Sign in", "Sign in · Authrim"},
		{"sign-in-ja", "en-US,en", "ja", "ja", "サインイン", "サインイン · Authrim"},
		{"sign-in-de", "de-DE,de", "", "de", "Anmelden", "Anmelden · Authrim"},
		{"sign-in-ui-locales-over-browser", "de-DE,de", "fr-CA", "fr", "Se connecter", "Se connecter · Authrim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			if _, err := chromedp.Call(c.ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: tt.browserLang}); err != nil {
				t.Fatalf("Emulation.setUserAgentOverride: %v", err)
			}
			params := baseParams()
			if tt.uiLocales != "" {
				params["ui_locales"] = tt.uiLocales
			}
			c.do("open the sign-in page", chromedp.Navigate(o.authorizeURL(params)),
				chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)))
			lang, _ := eval[string](c, `document.documentElement.lang`)
			title, _ := eval[string](c, `document.title`)
			button := c.text(`form[action="/login"] button[type=submit]`)
			if lang != tt.wantLang || button != tt.wantButton || title != tt.wantTitle {
				c.dump()
				t.Fatalf("lang %q, button %q, title %q; want %q, %q, %q", lang, button, title, tt.wantLang, tt.wantButton, tt.wantTitle)
			}
			c.shot(tt.name)
		})
	}
	// The rest of the Japanese sign-in stays Japanese: the consent page
	// comes from the stored request, the browser says de.
	t.Run("consent-ja", func(t *testing.T) {
		c.t = t
		params := baseParams()
		params["ui_locales"] = "ja"
		c.do("open the sign-in page", chromedp.Navigate(o.authorizeURL(params)))
		c.passwordSignIn()
		c.do("wait for the consent page", chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)))
		lang, _ := eval[string](c, `document.documentElement.lang`)
		if h1 := c.text("h1"); lang != "ja" || h1 != "アクセスを許可しますか？" || c.text(`button[value=allow]`) != "許可する" {
			c.fail("the consent page", fmt.Errorf("lang %q, h1 %q", lang, h1))
		}
		c.shot("consent-ja")
	})
}
