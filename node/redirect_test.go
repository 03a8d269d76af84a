package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/node"
)

// TestLoopbackRedirectAnyPort: a redirect URI registered on a loopback IP
// literal over http accepts any port (RFC 8252 §7.3); everything else
// about it, and every other URI, must match exactly. The code is bound to
// the port the request used.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "native",
			ClientMetadata: directory.ClientMetadata{
				Name:         "Native app",
				AuthMethod:   "none",
				RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb"},
				GrantTypes:   []string{"authorization_code"},
			},
		})
	})
	_, challenge := pkce()
	authorize := func(b *http.Client, redirect string) page {
		p := baseParams()
		p["client_id"], p["redirect_uri"] = "native", redirect
		p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
		return get(t, b, o.authorizeURL(p))
	}
	for _, uri := range []string{
		"http://127.0.0.1/cb", "http://127.0.0.1:53123/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb",
		"http://[::1]/cb", "http://[::1]:8080/cb",
	} {
		if p := authorize(browser(t), uri); p.status != http.StatusOK || !p.isLogin() {
			t.Errorf("%s refused: %d %v", uri, p.status, p.loc)
		}
	}
	for _, uri := range []string{
		"http://127.0.0.1:53123/other", "http://127.0.0.1:53123/cb/", "http://127.0.0.1:53123/cb?x=1",
		"http://127.0.0.1:53123/CB", "http://127.0.0.2:53123/cb", "https://127.0.0.1:53123/cb",
		"http://[::1]:53123/other", "http://127.0.0.1:53123", "http://[::2]:53123/cb",
		"http://localhost:53123/cb", // RFC 8252 §8.3: no port leeway for a name
		"http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://127.0.0.1:/cb", "http://127.0.0.1:x/cb",
		"http://127.0.0.1:53123@evil.example/cb", "http://127.0.0.1.evil.example/cb", "http://127.0.0.1:80.evil.example/cb",
		"http://127.0.0.1:53123/cb#frag",
	} {
		p := authorize(browser(t), uri)
		if p.status != http.StatusBadRequest || p.loc != nil || !strings.Contains(p.body, "not registered") {
			t.Errorf("%s: %d %v, want the error page without a redirect", uri, p.status, p.loc)
		}
	}
	// Other clients keep exact matching, loopback or not ("rp" has
	// http://127.0.0.1:9/callback): the port may change, nothing else.
	p := baseParams()
	p["redirect_uri"] = "http://127.0.0.1:9/callback/x"
	if pg := get(t, browser(t), o.authorizeURL(p)); pg.status != http.StatusBadRequest || pg.loc != nil {
		t.Errorf("rp with another path: %d %v", pg.status, pg.loc)
	}

	// A full sign-in on an ephemeral port: the code goes there and is
	// redeemed with that same redirect_uri only.
	verifier, challenge := pkce()
	const port = "http://127.0.0.1:49152/cb"
	b := browser(t)
	q := baseParams()
	q["client_id"], q["redirect_uri"] = "native", port
	q["code_challenge"], q["code_challenge_method"] = challenge, "S256"
	pg := get(t, b, o.authorizeURL(q))
	pg = o.login(t, b, pg, userPassword)
	if pg.isConsent() {
		pg = o.consent(t, b, pg, "allow")
	}
	if pg.status != http.StatusFound || pg.loc == nil || !strings.HasPrefix(pg.loc.String(), port+"?") {
		t.Fatalf("expected a redirect to %s, got %d %v %s", port, pg.status, pg.loc, pg.body)
	}
	code := pg.loc.Query().Get("code")
	redeem := func(redirect string) (int, map[string]any) {
		return o.tokenRequest(t, "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"native"},
			"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	}
	if st, out := redeem("http://127.0.0.1:49153/cb"); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("redeemed with another port: %d %v", st, out)
	}
	if st, out := redeem(port); st != http.StatusOK || out["id_token"] == nil {
		t.Fatalf("redeem: %d %v", st, out)
	}
}
