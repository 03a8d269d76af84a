package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/internal/headless"
	"authrim/node"
)

// frontRP is a relying party on loopback with a redirect endpoint, a
// front-channel logout endpoint and a post-logout landing page.
type frontRP struct {
	rpCallback
	// frames gets the query of each front-channel logout request, bye
	// that of each post-logout landing.
	frames, bye chan url.Values
	mu          sync.Mutex
	// hold, when not nil, keeps each front-channel request open until it
	// is closed.
	hold chan struct{}
}

func (rp *frontRP) setHold(ch chan struct{}) { rp.mu.Lock(); rp.hold = ch; rp.mu.Unlock() }

func (rp *frontRP) held() chan struct{} { rp.mu.Lock(); defer rp.mu.Unlock(); return rp.hold }

func newFrontRP(t *testing.T) *frontRP {
	rp := &frontRP{rpCallback: rpCallback{calls: make(chan url.Values, 16)}, frames: make(chan url.Values, 16), bye: make(chan url.Values, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/callback":
			rp.calls <- r.URL.Query()
			io.WriteString(w, `<!doctype html><title>RP</title><p id="rp-callback">Signed in.</p>`)
		case "/fc":
			rp.frames <- r.URL.Query()
			if hold := rp.held(); hold != nil {
				select {
				case <-hold:
				case <-r.Context().Done():
				}
			}
			io.WriteString(w, `<!doctype html><title>RP logout</title><p>Session ended.</p>`)
		case "/bye":
			rp.bye <- r.URL.Query()
			io.WriteString(w, `<!doctype html><title>RP</title><p id="rp-bye">Signed out of the RP.</p>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	rp.url = srv.URL
	return rp
}

// receive waits for one value on ch.
func receive(t *testing.T, c *chrome, ch chan url.Values, what string) url.Values {
	t.Helper()
	select {
	case q := <-ch:
		return q
	case <-time.After(20 * time.Second):
		c.fail(what, fmt.Errorf("nothing after 20s"))
	case <-c.ctx.Done():
		c.fail(what, c.ctx.Err())
	}
	return nil
}

// TestFrontchannelLogoutInRealBrowser: Chromium signs in at an RP that
// registered a frontchannel_logout_uri with session required; on
// RP-initiated logout the logout page's frame requests that URI with iss
// and the ID token's sid (its own query kept), and the browser then
// reaches the post-logout redirect with state. Without JavaScript the
// frame is requested all the same and the Continue link gets the user
// there.
func TestFrontchannelLogoutInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newFrontRP(t)
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID:     "fc-rp",
			Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:                              "Front-channel RP",
				RedirectURIs:                      []string{rp.url + "/callback"},
				PostLogoutRedirectURIs:            []string{rp.url + "/bye"},
				AuthMethod:                        "client_secret_basic",
				GrantTypes:                        []string{"authorization_code"},
				FrontchannelLogoutURI:             rp.url + "/fc?tenant=t1",
				FrontchannelLogoutSessionRequired: true,
			},
		})
	})

	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rpCtx := oidc.ClientContext(ctx, http.DefaultClient)
	provider, err := oidc.NewProvider(rpCtx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{
		ClientID: "fc-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "fc-rp", Now: o.clock.Now})
	c := startChromium(t, ctx)

	// signIn signs in at the RP and returns the verified ID token (raw)
	// and its sid.
	signIn := func(what string) (string, string) {
		t.Helper()
		r := newAuthRequest(conf)
		c.do(what+": open the authorization request", chromedp.Navigate(r.url))
		c.passwordSignIn()
		cb := c.finishAtRP(&rp.rpCallback, 20*time.Second)
		r.checkCallback(t, o.issuer, cb)
		tok, err := conf.Exchange(rpCtx, cb.Get("code"), oauth2.VerifierOption(r.pkce))
		if err != nil {
			t.Fatalf("%s: code exchange: %v", what, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(rpCtx, raw)
		if err != nil {
			t.Fatalf("%s: ID token: %v", what, err)
		}
		var claims struct {
			SID string `json:"sid"`
		}
		if err := idt.Claims(&claims); err != nil || claims.SID == "" {
			t.Fatalf("%s: ID token without sid: %v", what, err)
		}
		return raw, claims.SID
	}
	logoutURL := func(idToken, state string) string {
		return o.issuer + "/logout?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {rp.url + "/bye"}, "state": {state}}.Encode()
	}
	checkFrame := func(what string, q url.Values, sid string) {
		t.Helper()
		if q.Get("iss") != o.issuer || q.Get("sid") != sid || q.Get("tenant") != "t1" {
			t.Fatalf("%s: front-channel request %v, want iss %s, sid %s (the ID token's) and tenant t1", what, q, o.issuer, sid)
		}
	}

	// 1. With JavaScript: the page waits for the frame (held open here
	// while the page is photographed), then moves on by itself.
	idToken, sid := signIn("first sign-in")
	hold := make(chan struct{})
	rp.setHold(hold)
	// Navigate would wait for the page's load event, which waits for the
	// held frame: start the navigation and watch the RP instead.
	if _, err := eval[bool](c, fmt.Sprintf(`(location.assign(%q), true)`, logoutURL(idToken, "st-js"))); err != nil {
		c.fail("open the logout URL", err)
	}
	checkFrame("with JavaScript", receive(t, c, rp.frames, "waiting for the front-channel request"), sid)
	if err := c.waitJS(`document.querySelector('#frontchannel-status') !== null`, 10*time.Second); err != nil {
		c.fail("the logout page", err)
	}
	c.shot("frontchannel-logout")
	close(hold)
	if q := receive(t, c, rp.bye, "waiting for the post-logout redirect"); q.Get("state") != "st-js" {
		t.Fatalf("post-logout redirect %v, want state st-js", q)
	}
	// The RP saw the request; the browser may still be loading its page,
	// and a navigation started now could be aborted (net::ERR_ABORTED).
	if err := c.waitJS(`location.pathname === '/bye' && document.readyState === 'complete'`, 10*time.Second); err != nil {
		c.fail("the post-logout page", err)
	}
	rp.setHold(nil)

	// 2. Without JavaScript: the frame loads, the user follows Continue.
	idToken, sid = signIn("second sign-in")
	if _, err := chromedp.Call(c.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("Emulation.setScriptExecutionDisabled: %v", err)
	}
	c.do("open the logout URL without JavaScript", chromedp.Navigate(logoutURL(idToken, "st-nojs")), chromedp.WaitVisible(chromedp.CSS(`#continue`)))
	checkFrame("without JavaScript", receive(t, c, rp.frames, "waiting for the front-channel request"), sid)
	c.do("press Continue", chromedp.Click(chromedp.CSS(`#continue`)))
	if q := receive(t, c, rp.bye, "waiting for the post-logout redirect"); q.Get("state") != "st-nojs" {
		t.Fatalf("post-logout redirect %v, want state st-nojs", q)
	}
}
