package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"authrim/connectors"
	"authrim/directory"
	"authrim/http/auth"
	"authrim/internal/freeport"
	"authrim/internal/testca"
	"authrim/node"
)

const upstreamSecret = "upstream-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// federation is two nodes: up, an Authrim node on https that the test
// uses as an upstream OpenID Provider, and down, the node under test,
// with connector "up" pointing at it. The browser trusts up's CA.
type federation struct {
	up, down *op
	logs     *syncBuffer
	ca       *testca.CA
	// leaf is up's TLS certificate.
	leaf testca.Leaf
}

// startFederation starts both nodes; adjust edits the connector.
func startFederation(t *testing.T, adjust func(*connectors.Config), adjustDown ...func(*node.Config)) *federation {
	t.Helper()
	ca := testca.New(t)
	leaf := ca.Issue(t)
	dir := t.TempDir()
	certFile, keyFile := leaf.Write(t, dir)
	caFile := filepath.Join(dir, "up-ca.pem")
	testca.WriteFile(t, caFile, leaf.CertPEM)
	downAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	downIssuer := "http://localhost:" + downAddr[strings.LastIndex(downAddr, ":")+1:]
	up := startOPWith(t, func(c *node.Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.HTTP.TLS = node.ListenerTLS{CertFile: certFile, KeyFile: keyFile}
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "down", Secret: upstreamSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Downstream", RedirectURIs: []string{downIssuer + "/login/upstream/up/callback"},
				AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, SkipConsent: true,
			},
		})
	})
	logs := &syncBuffer{}
	down := startOPFull(t, func(c *node.Config) {
		c.HTTP.Listen, c.Issuer = downAddr, downIssuer
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Requests.Fetch.CAFile = caFile
		cc := connectors.Config{ID: "up", Type: "oidc", Name: "Upstream", Issuer: up.issuer, ClientID: "down", ClientSecret: upstreamSecret}
		if adjust != nil {
			adjust(&cc)
		}
		c.Connectors = []connectors.Config{cc}
		for _, a := range adjustDown {
			a(c)
		}
	}, func(o *node.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return &federation{up: up, down: down, logs: logs, ca: ca, leaf: leaf}
}

// upstreamUser adds a user at the upstream.
func (f *federation) upstreamUser(t *testing.T, name, email string, verified bool) directory.User {
	t.Helper()
	u, err := f.up.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: name, Password: userPassword,
		Claims: map[string]any{"email": email, "email_verified": verified, "name": strings.ToUpper(name[:1]) + name[1:]}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// toUpstream opens down's sign-in page for client rp and presses the
// connector's button: the answer is the redirect to the upstream.
func (f *federation) toUpstream(t *testing.T, b *http.Client, params map[string]string) page {
	t.Helper()
	p := get(t, b, f.down.authorizeURL(params))
	if !p.isLogin() || !strings.Contains(p.body, `action="/login/upstream/up"`) || !strings.Contains(p.body, "Sign in with Upstream") {
		t.Fatalf("expected the sign-in page with the Upstream button, got %d %s", p.status, p.body)
	}
	p = postForm(t, b, f.down.issuer+"/login/upstream/up", hidden(p.body))
	if p.status != http.StatusSeeOther || p.loc == nil || !strings.HasPrefix(p.loc.String(), f.up.issuer+"/authorize?") {
		t.Fatalf("expected a redirect to the upstream, got %d %v %s", p.status, p.loc, p.body)
	}
	return p
}

// atUpstream signs username in at the upstream and returns the redirect
// back to down's callback.
func (f *federation) atUpstream(t *testing.T, b *http.Client, authorize *url.URL, username string) *url.URL {
	t.Helper()
	p := get(t, b, authorize.String())
	if p.isLogin() {
		form := hidden(p.body)
		form.Set("username", username)
		form.Set("password", userPassword)
		p = postForm(t, b, f.up.issuer+"/login", form)
	}
	if p.loc == nil || !strings.HasPrefix(p.loc.String(), f.down.issuer+"/login/upstream/up/callback?") {
		t.Fatalf("expected a redirect to down's callback, got %d %v %s", p.status, p.loc, p.body)
	}
	return p.loc
}

// finish follows down's callback to the RP (through consent) and
// redeems the code: the ID token's claims.
func (f *federation) finish(t *testing.T, b *http.Client, callback *url.URL) map[string]any {
	t.Helper()
	p := get(t, b, callback.String())
	if p.isConsent() {
		p = f.down.consent(t, b, p, "allow")
	}
	if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) || p.loc.Query().Get("code") == "" {
		t.Fatalf("expected a code for the RP, got %d %v %s", p.status, p.loc, p.body)
	}
	status, tok := f.down.redeem(t, p.loc.Query().Get("code"), "")
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	return idClaims(t, tok["id_token"].(string))
}

// signIn is the whole chain for username: RP → down → upstream → down → RP.
func (f *federation) signIn(t *testing.T, username string) map[string]any {
	t.Helper()
	b := tlsClient(f.ca, nil)
	return f.finish(t, b, f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, username))
}

func hasAudit(logs *syncBuffer, msg string) bool {
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, "audit=true") {
			return true
		}
	}
	return false
}

func userCount(t *testing.T, o *op) int {
	t.Helper()
	us, err := o.n.Directory().ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(us)
}

// TestUpstreamOIDCSignIn: a first sign-in through an upstream Authrim
// node creates a local user (jit) and continues the RP's request; the ID
// token says fed and idp; the subject stays the same at the next
// sign-in even after the upstream address changed, and the claims follow
// the upstream's; /account lists the link and removes it (CSRF).
func TestUpstreamOIDCSignIn(t *testing.T) {
	f := startFederation(t, nil)
	bob := f.upstreamUser(t, "bob", "bob@up.example", true)
	before := userCount(t, f.down)

	first := f.signIn(t, "bob")
	amr, _ := first["amr"].([]any)
	if first["idp"] != "up" || !slices.Contains(amr, any("fed")) || !slices.Contains(amr, any("pwd")) {
		t.Fatalf("ID token idp %v amr %v, want idp up and amr fed + the upstream's pwd", first["idp"], first["amr"])
	}
	if userCount(t, f.down) != before+1 || !hasAudit(f.logs, "user created from upstream identity") {
		t.Fatalf("no user created (or not audited): %d users", userCount(t, f.down))
	}
	sub := first["sub"].(string)
	u, err := f.down.n.Directory().User(context.Background(), sub)
	if err != nil || u.Claims["email"] != "bob@up.example" || u.Claims["email_verified"] != true || u.Username != "bob" {
		t.Fatalf("created user %+v %v", u, err)
	}

	// The upstream address changes: same local subject, claims follow.
	if _, err := f.up.n.Directory().UpdateUserClaims(context.Background(), bob.Subject, map[string]any{"email": "robert@up.example", "email_verified": true}); err != nil {
		t.Fatal(err)
	}
	second := f.signIn(t, "bob")
	if second["sub"] != sub {
		t.Fatalf("subject changed across sign-ins: %v then %v", sub, second["sub"])
	}
	if u, _ := f.down.n.Directory().User(context.Background(), sub); u.Claims["email"] != "robert@up.example" || !hasAudit(f.logs, "user claims refreshed from upstream") {
		t.Fatalf("claims not refreshed: %v", u.Claims)
	}
	if userCount(t, f.down) != before+1 {
		t.Fatal("a second user was created")
	}

	// /account: the link is listed and removed with the page's CSRF.
	b := tlsClient(f.ca, nil)
	f.finish(t, b, f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob"))
	acct := get(t, b, f.down.issuer+"/account")
	if acct.status != http.StatusOK || !strings.Contains(acct.body, `action="/account/links/remove"`) || !strings.Contains(acct.body, "robert@up.example") && !strings.Contains(acct.body, "bob@up.example") {
		t.Fatalf("account page: %d %s", acct.status, acct.body)
	}
	form := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(acct.body[strings.Index(acct.body, `action="/account/links/remove"`):], 3) {
		form.Set(m[1], m[2])
	}
	bad := url.Values{"csrf": {"forged"}, "iss": form["iss"], "sub": form["sub"]}
	if p := postForm(t, b, f.down.issuer+"/account/links/remove", bad); p.status != http.StatusBadRequest {
		t.Fatalf("remove with a forged CSRF token: %d", p.status)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), sub); len(links) != 1 {
		t.Fatalf("a forged form changed the links: %v", links)
	}
	if p := postForm(t, b, f.down.issuer+"/account/links/remove", form); p.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", p.status, p.body)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), sub); len(links) != 0 || !hasAudit(f.logs, "account: upstream link removed") {
		t.Fatalf("links after remove: %v", links)
	}
}

// TestUpstreamIDPHint: idp_hint names the connector: /authorize goes
// straight to the upstream, no sign-in page.
func TestUpstreamIDPHint(t *testing.T) {
	f := startFederation(t, nil)
	f.upstreamUser(t, "bob", "bob@up.example", true)
	b := tlsClient(f.ca, nil)
	params := baseParams()
	params["idp_hint"] = "up"
	p := get(t, b, f.down.authorizeURL(params))
	if p.status != http.StatusSeeOther || p.loc == nil || !strings.HasPrefix(p.loc.String(), f.up.issuer+"/authorize?") {
		t.Fatalf("idp_hint: got %d %v", p.status, p.loc)
	}
	if claims := f.finish(t, b, f.atUpstream(t, b, p.loc, "bob")); claims["idp"] != "up" {
		t.Fatalf("idp %v", claims["idp"])
	}
	// An unknown hint is ignored: the sign-in page.
	params["idp_hint"] = "nope"
	if p := get(t, tlsClient(f.ca, nil), f.down.authorizeURL(params)); !p.isLogin() {
		t.Fatalf("unknown idp_hint: %d %v", p.status, p.loc)
	}
}

// TestUpstreamLoginHint: a login_hint address whose domain is in exactly
// one connector's allowed_domains goes straight to that connector
// (home-realm discovery); idp_hint wins over it; a domain no connector,
// or two connectors, list shows the sign-in page.
func TestUpstreamLoginHint(t *testing.T) {
	f := startFederation(t, func(c *connectors.Config) { c.AllowedDomains = []string{"up.example", "shared.example"} }, func(c *node.Config) {
		other := c.Connectors[0]
		other.ID, other.Name, other.AllowedDomains = "other", "Other", []string{"other.example", "shared.example"}
		c.Connectors = append(c.Connectors, other)
	})
	f.upstreamUser(t, "bob", "bob@up.example", true)
	// to says which connector /authorize sent the browser to ("" for the
	// sign-in page).
	to := func(b *http.Client, params map[string]string) string {
		t.Helper()
		p := get(t, b, f.down.authorizeURL(params))
		if p.isLogin() {
			return ""
		}
		if p.status != http.StatusSeeOther || p.loc == nil || !strings.HasPrefix(p.loc.String(), f.up.issuer+"/authorize?") {
			t.Fatalf("expected the sign-in page or a redirect upstream, got %d %v", p.status, p.loc)
		}
		cb := p.loc.Query().Get("redirect_uri")
		return strings.TrimSuffix(strings.TrimPrefix(cb, f.down.issuer+"/login/upstream/"), "/callback")
	}
	for _, tc := range []struct{ name, loginHint, idpHint, want string }{
		{"domain of one connector", "bob@UP.example", "", "up"},
		{"the other's domain", "carol@other.example", "", "other"},
		{"idp_hint wins", "carol@other.example", "up", "up"},
		{"domain of two connectors", "dan@shared.example", "", ""},
		{"domain of none", "erin@elsewhere.example", "", ""},
		{"not an address", "bob", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := baseParams()
			params["login_hint"] = tc.loginHint
			if tc.idpHint != "" {
				params["idp_hint"] = tc.idpHint
			}
			if got := to(tlsClient(f.ca, nil), params); got != tc.want {
				t.Fatalf("login_hint %q idp_hint %q went to %q, want %q", tc.loginHint, tc.idpHint, got, tc.want)
			}
		})
	}
	// The whole chain through the hinted connector.
	b := tlsClient(f.ca, nil)
	params := baseParams()
	params["login_hint"] = "bob@up.example"
	p := get(t, b, f.down.authorizeURL(params))
	if claims := f.finish(t, b, f.atUpstream(t, b, p.loc, "bob")); claims["idp"] != "up" {
		t.Fatalf("idp %v", claims["idp"])
	}
	// A request that needs a second factor here is not sent upstream.
	params = baseParams()
	params["login_hint"] = "bob@up.example"
	params["acr_values"] = auth.ACRMFA
	if got := to(tlsClient(f.ca, nil), params); got != "" {
		t.Fatalf("acr_values mfa with a login_hint went to %q", got)
	}
}

// TestUpstreamLinkByEmail: an upstream identity whose verified address
// is a local account's verified address is linked only once the user
// signs in to that account; an unverified address is never linked.
func TestUpstreamLinkByEmail(t *testing.T) {
	f := startFederation(t, nil)
	// alice exists on both nodes with alice@example.com, verified.
	// Signing in to another account than the one offered links nothing.
	if _, err := f.down.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "eve", Password: userPassword}); err != nil {
		t.Fatal(err)
	}
	eb := tlsClient(f.ca, nil)
	offer := get(t, eb, f.atUpstream(t, eb, f.toUpstream(t, eb, baseParams()).loc, "alice").String())
	form := hidden(offer.body)
	form.Set("username", "eve")
	form.Set("password", userPassword)
	postForm(t, eb, f.down.issuer+"/login", form)
	if !hasAudit(f.logs, "upstream link not made: signed in to another account") {
		t.Fatal("signing in as eve did not refuse the link")
	}
	for _, who := range []string{"eve", "alice"} {
		u, _ := f.down.n.Directory().UserByUsername(context.Background(), who)
		if links, _ := f.down.n.Directory().Links(context.Background(), u.Subject); len(links) != 0 {
			t.Fatalf("%s got a link: %v", who, links)
		}
	}

	b := tlsClient(f.ca, nil)
	back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "alice")
	p := get(t, b, back.String())
	if !p.isLogin() || !strings.Contains(p.body, "Sign in to it once to link") || !strings.Contains(p.body, `value="alice"`) {
		t.Fatalf("expected the offer to link, got %d %s", p.status, p.body)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), f.down.user.Subject); len(links) != 0 {
		t.Fatalf("linked before the user signed in: %v", links)
	}
	p = f.down.login(t, b, p, userPassword)
	if p.isConsent() {
		p = f.down.consent(t, b, p, "allow")
	}
	if p.loc == nil || p.loc.Query().Get("code") == "" {
		t.Fatalf("sign-in to confirm: %d %v %s", p.status, p.loc, p.body)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), f.down.user.Subject); len(links) != 1 || !hasAudit(f.logs, "upstream identity linked") {
		t.Fatalf("not linked after confirming: %v", links)
	}
	// From now on the upstream sign-in is alice's.
	if claims := f.signIn(t, "alice"); claims["sub"] != f.down.user.Subject {
		t.Fatalf("linked sign-in as %v, want alice %v", claims["sub"], f.down.user.Subject)
	}

	// carol's local address is unverified: an upstream carol with the
	// same (verified) address gets a user of her own, never carol's.
	carol, err := f.down.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "carol", Password: userPassword,
		Claims: map[string]any{"email": "carol@example.com", "email_verified": false}})
	if err != nil {
		t.Fatal(err)
	}
	f.upstreamUser(t, "carol", "carol@example.com", true)
	if claims := f.signIn(t, "carol"); claims["sub"] == carol.Subject {
		t.Fatal("an unverified local address was linked")
	}
	// And an unverified upstream address is not linked to a verified
	// local one.
	f.upstreamUser(t, "dave", "alice@example.com", false)
	if claims := f.signIn(t, "dave"); claims["sub"] == f.down.user.Subject {
		t.Fatal("an unverified upstream address was linked")
	}
}

// TestUpstreamFailures: each failure ends on an error page (or an OAuth
// error to the RP), with an audit line, and creates no user.
func TestUpstreamFailures(t *testing.T) {
	f := startFederation(t, nil)
	f.upstreamUser(t, "bob", "bob@up.example", true)
	before := userCount(t, f.down)

	t.Run("upstream error", func(t *testing.T) {
		b := tlsClient(f.ca, nil)
		params := baseParams()
		to := f.toUpstream(t, b, params)
		q := url.Values{"error": {"access_denied"}, "state": {to.loc.Query().Get("state")}}
		p := get(t, b, f.down.issuer+"/login/upstream/up/callback?"+q.Encode())
		if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) || p.loc.Query().Get("error") != "access_denied" || p.loc.Query().Get("state") != params["state"] {
			t.Fatalf("expected access_denied to the RP, got %d %v", p.status, p.loc)
		}
		if !hasAudit(f.logs, "upstream sign-in refused") {
			t.Fatal("no audit line")
		}
	})
	t.Run("state mismatch", func(t *testing.T) {
		b := tlsClient(f.ca, nil)
		back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
		q := back.Query()
		q.Set("state", "forged-state")
		p := get(t, b, f.down.issuer+"/login/upstream/up/callback?"+q.Encode())
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "was not started in this browser") || !strings.Contains(f.logs.String(), `reason="state mismatch"`) {
			t.Fatalf("forged state: %d %s", p.status, p.body)
		}
	})
	t.Run("callback in another browser", func(t *testing.T) {
		b := tlsClient(f.ca, nil)
		back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
		p := get(t, tlsClient(f.ca, nil), back.String())
		if p.status != http.StatusBadRequest || !strings.Contains(f.logs.String(), `reason="no state for this browser"`) {
			t.Fatalf("callback in another browser: %d %s", p.status, p.body)
		}
	})
	t.Run("state cookie moved to another session", func(t *testing.T) {
		// Login CSRF: the attacker's own state cookie (and callback) in
		// the victim's browser, which has a session of its own.
		attacker := tlsClient(f.ca, nil)
		back := f.atUpstream(t, attacker, f.toUpstream(t, attacker, baseParams()).loc, "bob")
		victim := tlsClient(f.ca, nil)
		f.toUpstream(t, victim, baseParams())
		cbURL, _ := url.Parse(f.down.issuer + "/login/upstream/up/callback")
		for _, ck := range attacker.Jar.Cookies(cbURL) {
			if strings.Contains(ck.Name, "upstream") {
				victim.Jar.SetCookies(cbURL, []*http.Cookie{ck})
			}
		}
		n := strings.Count(f.logs.String(), `reason="no state for this browser"`)
		p := get(t, victim, back.String())
		if p.status != http.StatusBadRequest || strings.Count(f.logs.String(), `reason="no state for this browser"`) != n+1 {
			t.Fatalf("moved state cookie: %d %s", p.status, p.body)
		}
	})
	t.Run("replayed upstream code", func(t *testing.T) {
		b := tlsClient(f.ca, nil)
		defer func() { before++ }() // the first, good, sign-in creates bob
		back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
		downURL, _ := url.Parse(f.down.issuer + "/login/upstream/up/callback")
		saved := b.Jar.Cookies(downURL)
		f.finish(t, b, back)
		// Same URL, same browser: the state cookie is gone.
		if p := get(t, b, back.String()); p.status != http.StatusBadRequest {
			t.Fatalf("replay: %d %v", p.status, p.loc)
		}
		// Even with the old cookies put back, the state was used.
		b.Jar.SetCookies(downURL, saved)
		if p := get(t, b, back.String()); p.status != http.StatusBadRequest || !strings.Contains(f.logs.String(), `reason="state replayed"`) {
			t.Fatalf("replay with the cookies restored: %d %v %s", p.status, p.loc, p.body)
		}
	})
	t.Run("upstream refuses the code", func(t *testing.T) {
		b := tlsClient(f.ca, nil)
		back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
		q := back.Query()
		q.Set("code", q.Get("code")+"x")
		p := get(t, b, f.down.issuer+"/login/upstream/up/callback?"+q.Encode())
		if p.status != http.StatusBadRequest || !strings.Contains(f.logs.String(), `reason="upstream answer refused"`) {
			t.Fatalf("bad code: %d %s", p.status, p.body)
		}
	})
	if n := userCount(t, f.down); n != before {
		t.Fatalf("failures created users: %d, want %d", n, before)
	}
}

// TestUpstreamRules: a disallowed domain and existing-only provisioning
// refuse with an error page, an audit line, and no user.
func TestUpstreamRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*connectors.Config)
		reason string
	}{
		{"disallowed domain", func(c *connectors.Config) { c.AllowedDomains = []string{"corp.example"} }, `reason="not allowed"`},
		{"required claim", func(c *connectors.Config) {
			c.RequiredClaims = []connectors.RequiredClaim{{Claim: "hd", Values: []string{"corp.example"}}}
		}, `reason="not allowed"`},
		{"existing only", func(c *connectors.Config) { c.Provisioning = connectors.ProvisionExistingOnly }, `reason="no linked account"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFederation(t, tc.adjust)
			f.upstreamUser(t, "bob", "bob@up.example", true)
			before := userCount(t, f.down)
			b := tlsClient(f.ca, nil)
			back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
			p := get(t, b, back.String())
			if p.status != http.StatusForbidden || !strings.Contains(f.logs.String(), tc.reason) || !hasAudit(f.logs, "upstream sign-in refused") {
				t.Fatalf("got %d %s", p.status, p.body)
			}
			if userCount(t, f.down) != before {
				t.Fatal("a user was created")
			}
		})
	}
}

// TestUpstreamNotForStrongerRequests: a request that needs a passkey
// (acr_values=phr) or a second factor (the node's policy) shows no
// connector, idp_hint does not jump to one, and a posted button is
// refused: an upstream cannot stand in for this node's own factors.
func TestUpstreamNotForStrongerRequests(t *testing.T) {
	f := startFederation(t, nil)
	b := tlsClient(f.ca, nil)
	params := baseParams()
	params["acr_values"] = "phr"
	p := get(t, b, f.down.authorizeURL(params))
	if p.status != http.StatusOK || strings.Contains(p.body, `action="/login/upstream/up"`) {
		t.Fatalf("acr_values=phr: %d, button shown: %v", p.status, strings.Contains(p.body, "/login/upstream/up"))
	}
	if r := postForm(t, b, f.down.issuer+"/login/upstream/up", hidden(p.body)); r.status != http.StatusForbidden || r.loc != nil {
		t.Fatalf("posted button for a passkey request: %d %v", r.status, r.loc)
	}
	params["idp_hint"] = "up"
	if r := get(t, tlsClient(f.ca, nil), f.down.authorizeURL(params)); r.loc != nil {
		t.Fatalf("idp_hint with acr_values=phr went to %v", r.loc)
	}

	strict := startFederation(t, nil, func(c *node.Config) { c.MFA.Policy = directory.MFARequired })
	p = get(t, tlsClient(strict.ca, nil), strict.down.authorizeURL(baseParams()))
	if p.status != http.StatusOK || strings.Contains(p.body, `action="/login/upstream/up"`) {
		t.Fatalf("mfa required: %d, button shown", p.status)
	}
}

// TestUpstreamExistingOnlyAdminLink: with existing-only provisioning an
// operator links the upstream identity to a user through the admin API
// (409 for another user, listed, removed), and the upstream sign-in is
// then that user's.
func TestUpstreamExistingOnlyAdminLink(t *testing.T) {
	f := startFederation(t, func(c *connectors.Config) { c.Provisioning = connectors.ProvisionExistingOnly },
		func(c *node.Config) { c.Admin.Token = adminToken })
	bob := f.upstreamUser(t, "bob", "bob@up.example", true)
	local, err := f.down.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "robert", Password: userPassword})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"issuer":"` + f.up.issuer + `","subject":"` + bob.Subject + `","connector":"up"}`
	if st, out := admin(t, f.down.n, "POST", "/admin/users/robert/links", adminToken, body); st != http.StatusCreated {
		t.Fatalf("admin link: %d %s", st, out)
	}
	if st, _ := admin(t, f.down.n, "POST", "/admin/users/alice/links", adminToken, body); st != http.StatusConflict {
		t.Fatalf("linking the same identity to alice: %d", st)
	}
	if claims := f.signIn(t, "bob"); claims["sub"] != local.Subject {
		t.Fatalf("signed in as %v, want robert %v", claims["sub"], local.Subject)
	}
	if st, out := admin(t, f.down.n, "GET", "/admin/users/robert/links", adminToken, ""); st != http.StatusOK || !strings.Contains(string(out), bob.Subject) {
		t.Fatalf("list: %d %s", st, out)
	}
	q := url.Values{"issuer": {f.up.issuer}, "subject": {bob.Subject}}
	if st, out := admin(t, f.down.n, "DELETE", "/admin/users/robert/links?"+q.Encode(), adminToken, ""); st != http.StatusNoContent {
		t.Fatalf("remove: %d %s", st, out)
	}
	if !hasAudit(f.logs, "admin: upstream identity linked") || !hasAudit(f.logs, "admin: upstream link removed") {
		t.Fatal("admin link changes not audited")
	}
	// Unlinked again: robert took bob's verified address from the
	// upstream at the linked sign-in, so the link is offered again (only
	// after signing in as robert); nothing is linked by itself.
	b := tlsClient(f.ca, nil)
	back := f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob")
	if p := get(t, b, back.String()); p.status != http.StatusOK || !strings.Contains(p.body, "Sign in to it once to link") {
		t.Fatalf("after unlinking: %d %s", p.status, p.body)
	}
	if links, _ := f.down.n.Directory().Links(context.Background(), local.Subject); len(links) != 0 {
		t.Fatalf("relinked by itself: %v", links)
	}
}

// TestUpstreamSignInAsksLocalSecondFactor: a user who set up an
// authenticator app here is asked for its code after an upstream
// sign-in too (whoever holds the upstream account is not enough); the
// login is recorded only once the code is right — the attacker's move
// of going back to /authorize from the code page gets the sign-in page,
// not a code — and the ID token adds otp to the upstream's methods
// without claiming this node's MFA class.
func TestUpstreamSignInAsksLocalSecondFactor(t *testing.T) {
	f := startFederation(t, nil)
	f.upstreamUser(t, "bob", "bob@up.example", true)
	sub := f.signIn(t, "bob")["sub"].(string) // no app yet: no code asked

	o := f.down
	secret, _ := o.enrolTOTPFor(t, sub)

	b := tlsClient(f.ca, nil)
	p := get(t, b, f.atUpstream(t, b, f.toUpstream(t, b, baseParams()).loc, "bob").String())
	if !p.isMFA() || !hasAudit(f.logs, "upstream sign-in accepted, second factor asked") {
		t.Fatalf("no code asked after the upstream sign-in: %d %s", p.status, p.body)
	}
	if again := get(t, b, o.authorizeURL(baseParams())); !again.isLogin() {
		t.Fatalf("the upstream sign-in alone signed the user in: %d %v", again.status, again.loc)
	}
	if wrong := o.mfaStep(t, b, p, "000000"); wrong.status != http.StatusUnauthorized || !wrong.isMFA() {
		t.Fatalf("a wrong code: %d %s", wrong.status, wrong.body)
	}
	code := o.toRP(t, b, o.mfaStep(t, b, p, o.totpCode(secret, 0)))
	status, tok := o.redeem(t, code, "")
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	c := idClaims(t, tok["id_token"].(string))
	amr := anyStrings(c["amr"])
	if c["sub"] != sub || c["idp"] != "up" || !slices.Contains(amr, "fed") || !slices.Contains(amr, "otp") || c["acr"] == auth.ACRMFA {
		t.Fatalf("after the code: sub %v idp %v amr %v acr %v", c["sub"], c["idp"], c["amr"], c["acr"])
	}
}
