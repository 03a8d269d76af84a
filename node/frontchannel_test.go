package node_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/node"
)

var (
	iframeSrcRE = regexp.MustCompile(`<iframe class="frontchannel" src="([^"]*)" title="([^"]*)"`)
	continueRE  = regexp.MustCompile(`<a id="continue" class="button" href="([^"]*)"`)
)

// TestFrontchannelLogoutPage: the logout page frames the
// frontchannel_logout_uri of every client that got an ID token of the
// session (OpenID Connect Front-Channel Logout 1.0 §4), with iss and the
// ID token's sid when the client asked for them and its own query kept;
// its Content-Security-Policy allows exactly those origins as frame
// sources and is otherwise the pages' policy; the Continue link is the
// post-logout redirect with state. A client without the URI, and one that
// never redeemed its code, get no frame; with no frame to show, logout
// redirects at once as before.
func TestFrontchannelLogoutPage(t *testing.T) {
	const rp2Redirect = "http://localhost:7/cb"
	o := startOPWith(t, func(c *node.Config) {
		for i := range c.Clients {
			if c.Clients[i].ID == "rp" {
				c.Clients[i].FrontchannelLogoutURI = "http://127.0.0.1:9/fc?app=1&x=%2F"
				c.Clients[i].FrontchannelLogoutSessionRequired = true
			}
		}
		c.Clients = append(c.Clients, node.ClientConfig{ID: "rp2", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
			Name: "Second RP", RedirectURIs: []string{rpRedirect, rp2Redirect}, AuthMethod: "client_secret_basic",
			GrantTypes: []string{"authorization_code"}, FrontchannelLogoutURI: "http://localhost:7/fc",
		}})
	})
	// signInAs signs the browser in for clientID and redeems the code:
	// the ID token makes a relying-party session.
	signInAs := func(b *http.Client, clientID string, redeem bool) map[string]any {
		t.Helper()
		p := baseParams()
		p["client_id"] = clientID
		cb := o.signIn(t, b, o.authorizeURL(p))
		if !redeem {
			return nil
		}
		v := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
		if clientID == "spa" {
			v.Set("client_id", "spa")
			clientID = ""
		}
		st, tok := o.tokenRequest(t, clientID, v)
		if st != http.StatusOK {
			t.Fatalf("redeem for %s: %d %v", clientID, st, tok)
		}
		return tok
	}

	b := browser(t)
	tok := signInAs(b, "rp", true)
	signInAs(b, "rp2", true)
	signInAs(b, "spa", true) // no frontchannel_logout_uri
	rawID := tok["id_token"].(string)
	sid, _ := idClaims(t, rawID)["sid"].(string)
	if sid == "" {
		t.Fatalf("ID token without sid: %v", idClaims(t, rawID))
	}

	r := get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"st-9"}}.Encode())
	if r.status != http.StatusOK {
		t.Fatalf("logout: %d %v %s", r.status, r.loc, r.body)
	}
	var srcs []string
	for _, m := range iframeSrcRE.FindAllStringSubmatch(r.body, -1) {
		srcs = append(srcs, html.UnescapeString(m[1]))
		if !strings.HasPrefix(m[2], "Signing you out of ") {
			t.Errorf("frame title %q", m[2])
		}
	}
	if len(srcs) != 2 {
		t.Fatalf("frames %q, want rp's and rp2's:\n%s", srcs, r.body)
	}
	wantRP := "http://127.0.0.1:9/fc?app=1&x=%2F&" + url.Values{"iss": {o.issuer}, "sid": {sid}}.Encode()
	if !slices.Contains(srcs, wantRP) || !slices.Contains(srcs, "http://localhost:7/fc") {
		t.Errorf("frames %q, want %q and http://localhost:7/fc", srcs, wantRP)
	}
	m := continueRE.FindStringSubmatch(r.body)
	if m == nil || html.UnescapeString(m[1]) != rpLogout+"?state=st-9" {
		t.Errorf("continue link %q, want %s?state=st-9", m, rpLogout)
	}
	if !strings.Contains(r.body, `<script src="/assets/frontchannel.js"></script>`) {
		t.Error("the page lacks its script")
	}

	// The policy: the pages' own, and frame-src naming exactly the two
	// origins.
	resp, err := b.Get(o.issuer + "/logout") // a fresh page: no session now, so the plain policy
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	plain := resp.Header.Get("Content-Security-Policy")
	if plain == "" || strings.Contains(plain, "frame-src") {
		t.Fatalf("plain page policy %q", plain)
	}
	b2 := browser(t)
	tok2 := signInAs(b2, "rp", true)
	signInAs(b2, "rp2", true)
	req, _ := http.NewRequest(http.MethodGet, o.issuer+"/logout?"+url.Values{"id_token_hint": {tok2["id_token"].(string)}}.Encode(), nil)
	resp, err = b2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// No post_logout_redirect_uri: the frames on the signed-out page,
	// nowhere to continue to.
	if n := len(iframeSrcRE.FindAllString(string(body), -1)); resp.StatusCode != http.StatusOK || n != 2 || continueRE.Match(body) {
		t.Errorf("logout without a redirect: %d, %d frames, continue link %v", resp.StatusCode, n, continueRE.Match(body))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	base, frames, ok := strings.Cut(csp, "; frame-src ")
	if !ok || base != plain {
		t.Fatalf("logout page policy %q, want %q plus frame-src", csp, plain)
	}
	origins := strings.Fields(frames)
	slices.Sort(origins)
	if !slices.Equal(origins, []string{"http://127.0.0.1:9", "http://localhost:7"}) {
		t.Errorf("frame-src %q, want exactly http://127.0.0.1:9 http://localhost:7", frames)
	}

	// A session whose clients got no ID token: no frame, the redirect at
	// once, as without front-channel logout.
	b3 := browser(t)
	signInAs(b3, "rp", false)
	r = get(t, b3, o.issuer+"/logout?"+url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {rpLogout}, "state": {"s"}}.Encode())
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="confirm"`) {
		t.Fatalf("logout without hint: %d %s", r.status, r.body)
	}
	f := hidden(r.body)
	f.Set("confirm", "yes")
	r = postForm(t, b3, o.issuer+"/logout", f)
	if r.status != http.StatusFound || r.loc == nil || r.loc.String() != rpLogout+"?state=s" {
		t.Fatalf("logout with no relying-party session: %d %v %s", r.status, r.loc, r.body)
	}
}
