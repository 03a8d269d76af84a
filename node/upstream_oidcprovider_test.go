package node_test

import (
	"bufio"
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"authrim/connectors"
	"authrim/internal/freeport"
	"authrim/internal/headless"
	"authrim/internal/testca"
	"authrim/node"
)

// oidcProviderDir holds node-oidc-provider (npm) and the script that
// runs it; .ci/run installs it (npm ci).
const oidcProviderDir = "testdata/oidc-provider"

// needOIDCProvider skips without node or the installed package, except
// under CI, where it fails.
func needOIDCProvider(t *testing.T) string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(oidcProviderDir, "node_modules", "oidc-provider"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("oidc-provider is not installed (run npm ci in node/%s): %v", oidcProviderDir, err)
		}
		t.Skipf("oidc-provider is not installed (npm ci in node/%s): %v", oidcProviderDir, err)
	}
	return nodeBin
}

var formActionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// TestUpstreamNodeOIDCProvider: another implementation as the upstream.
// node-oidc-provider (started by the test on https) signs "nina" in
// through its own login and consent pages; the node creates her user,
// the ID token says fed and idp, and the next sign-in is the same user.
func TestUpstreamNodeOIDCProvider(t *testing.T) {
	downAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	downIssuer := "http://localhost:" + portOf(downAddr)
	np := startNodeOIDCProvider(t, downIssuer+"/login/upstream/np/callback")
	upIssuer := np.issuer
	down := startOPWith(t, func(c *node.Config) {
		c.HTTP.Listen, c.Issuer = downAddr, downIssuer
		np.configure(c)
	})
	ca := np.ca

	signIn := func() map[string]any {
		b := tlsClient(ca, nil)
		p := get(t, b, down.authorizeURL(baseParams()))
		if !strings.Contains(p.body, `action="/login/upstream/np"`) {
			t.Fatalf("no np button: %s", p.body)
		}
		p = postForm(t, b, down.issuer+"/login/upstream/np", hidden(p.body))
		// Through the upstream's own pages: follow redirects, fill in
		// its login form and confirm its consent form, until it sends
		// the browser back.
		for i := 0; i < 12; i++ {
			switch {
			case p.loc != nil && strings.HasPrefix(p.loc.String(), downIssuer+"/login/upstream/np/callback?"):
				return finishAtNode(t, down, b, p.loc)
			case p.loc != nil:
				next := p.loc
				if !next.IsAbs() {
					base, _ := url.Parse(upIssuer)
					next = base.ResolveReference(next)
				}
				p = get(t, b, next.String())
			case p.status == http.StatusOK && formActionRE.MatchString(p.body):
				action := formActionRE.FindStringSubmatch(p.body)[1]
				form := hidden(p.body)
				if strings.Contains(p.body, `name="login"`) {
					form.Set("login", "nina")
					form.Set("password", "anything")
				}
				base, _ := url.Parse(upIssuer)
				ref, err := url.Parse(html.UnescapeString(action))
				if err != nil {
					t.Fatal(err)
				}
				target := base.ResolveReference(ref)
				p = postForm(t, b, target.String(), form)
			default:
				t.Fatalf("stuck at the upstream (step %d): %d %v %s", i, p.status, p.loc, p.body)
			}
		}
		t.Fatal("the upstream never sent the browser back")
		return nil
	}
	first := signIn()
	amr, _ := first["amr"].([]any)
	if first["idp"] != "np" || !slices.Contains(amr, any("fed")) {
		t.Fatalf("ID token idp %v amr %v", first["idp"], first["amr"])
	}
	u, err := down.n.Directory().User(context.Background(), first["sub"].(string))
	if err != nil || u.Username != "nina" || u.Claims["email"] != "nina@np.example" || u.Claims["email_verified"] != true {
		t.Fatalf("user %+v %v", u, err)
	}
	if again := signIn(); again["sub"] != first["sub"] {
		t.Fatalf("second sign-in as %v, first as %v", again["sub"], first["sub"])
	}
}

// finishAtNode follows the node's callback to the RP and redeems the code.
func finishAtNode(t *testing.T, down *op, b *http.Client, callback *url.URL) map[string]any {
	t.Helper()
	f := &federation{down: down}
	return f.finish(t, b, callback)
}

// nodeOIDCProvider is node-oidc-provider (npm) running as an upstream on
// https with a test CA's certificate.
type nodeOIDCProvider struct {
	issuer, caFile string
	ca             *testca.CA
	leaf           testca.Leaf
}

// configure points a node's config at the provider: the connector np
// and a fetcher that trusts the test CA on loopback.
func (np *nodeOIDCProvider) configure(c *node.Config) {
	c.Requests.Fetch.AllowPrivateAddresses = true
	c.Requests.Fetch.CAFile = np.caFile
	c.Connectors = []connectors.Config{{ID: "np", Type: "oidc", Name: "node-oidc-provider", Issuer: np.issuer, ClientID: "authrim", ClientSecret: upstreamSecret}}
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// startNodeOIDCProvider starts node-oidc-provider with one client, the
// node whose callback is redirectURI; it stops with the test.
func startNodeOIDCProvider(t *testing.T, redirectURI string) *nodeOIDCProvider {
	t.Helper()
	nodeBin := needOIDCProvider(t)
	ca := testca.New(t)
	leaf := ca.Issue(t)
	dir := t.TempDir()
	certFile, keyFile := leaf.Write(t, dir)
	caFile := filepath.Join(dir, "np-ca.pem")
	testca.WriteFile(t, caFile, leaf.CertPEM)
	upAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	upIssuer := "https://localhost:" + portOf(upAddr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nodeBin, "provider.mjs")
	cmd.Dir = oidcProviderDir
	cmd.Env = append(os.Environ(), "ISSUER="+upIssuer, "PORT="+portOf(upAddr), "CERT="+certFile, "KEY="+keyFile,
		"CLIENT_ID=authrim", "CLIENT_SECRET="+upstreamSecret, "REDIRECT_URI="+redirectURI)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "listening" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("oidc-provider exited before listening")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("oidc-provider did not start")
	}
	return &nodeOIDCProvider{issuer: upIssuer, caFile: caFile, ca: ca, leaf: leaf}
}

// TestBrowserUpstreamNodeOIDCProvider: the whole chain in Chromium with
// another implementation upstream. The RP sends the browser to the node,
// the user presses "Sign in with node-oidc-provider", signs in and
// consents on node-oidc-provider's own pages (https), comes back, and
// the RP redeems a code whose ID token says fed and idp np.
func TestBrowserUpstreamNodeOIDCProvider(t *testing.T) {
	headless.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	rp := newRPCallback(t)
	downAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	downIssuer := "http://localhost:" + portOf(downAddr)
	np := startNodeOIDCProvider(t, downIssuer+"/login/upstream/np/callback")
	down := startOPWith(t, func(c *node.Config) {
		c.HTTP.Listen, c.Issuer = downAddr, downIssuer
		np.configure(c)
		c.Clients = append(c.Clients, rp.client())
	})
	provider, conf := rp.discover(t, ctx, down.issuer, "email")

	// The browser trusts node-oidc-provider's certificate by its key only.
	c := chromeTrusting(t, ctx, np.leaf)

	req := newAuthRequest(conf)
	c.do("open the sign-in page", chromedp.Navigate(req.url), chromedp.WaitVisible(chromedp.CSS(`button.upstream[data-connector=np]`)))
	c.do("press Sign in with node-oidc-provider", chromedp.Click(chromedp.CSS(`button.upstream[data-connector=np]`)))
	if err := c.waitJS(`location.origin === `+jsString(np.issuer)+` && document.querySelector('input[name=login]') !== null`, minWait); err != nil {
		c.fail("waiting for node-oidc-provider's sign-in page", err)
	}
	c.shot("upstream-node-oidc-provider-login")
	c.do("type the login", chromedp.SendKeys(chromedp.CSS(`input[name=login]`), "nina"))
	c.do("type the password", chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "anything"))
	// Its development pages: one form per step, named by a hidden
	// prompt field (login, then consent).
	c.do("sign in at node-oidc-provider", chromedp.Click(chromedp.CSS(`form:has(input[name=prompt][value=login]) button[type=submit]`)))
	if err := c.waitJS(`location.origin === `+jsString(np.issuer)+` && document.querySelector('form:has(input[name=prompt][value=consent]) button[type=submit]') !== null`, minWait); err != nil {
		c.fail("waiting for node-oidc-provider's consent page", err)
	}
	c.shot("upstream-node-oidc-provider-consent")
	c.do("consent at node-oidc-provider", chromedp.Click(chromedp.CSS(`form:has(input[name=prompt][value=consent]) button[type=submit]`)))
	q := c.finishAtRP(rp, minWait)
	idt := req.redeemAtRP(t, ctx, provider, conf, down.issuer, q)
	req.wantFederated(t, idt, "np")
	links, err := down.n.Directory().Links(context.Background(), idt.Subject)
	if err != nil || len(links) != 1 || links[0].Issuer != np.issuer || links[0].Subject != "nina" {
		t.Fatalf("links %+v %v", links, err)
	}
	if u, err := down.n.Directory().User(context.Background(), idt.Subject); err != nil || u.Claims["email"] != "nina@np.example" || u.Claims["email_verified"] != true {
		t.Fatalf("user %+v %v", u, err)
	}
}
