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

	"authrim/connectors"
	"authrim/internal/freeport"
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
	downAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	port := func(a string) string { return a[strings.LastIndex(a, ":")+1:] }
	upIssuer, downIssuer := "https://localhost:"+port(upAddr), "http://localhost:"+port(downAddr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "provider.mjs")
	cmd.Dir = oidcProviderDir
	cmd.Env = append(os.Environ(), "ISSUER="+upIssuer, "PORT="+port(upAddr), "CERT="+certFile, "KEY="+keyFile,
		"CLIENT_ID=authrim", "CLIENT_SECRET="+upstreamSecret, "REDIRECT_URI="+downIssuer+"/login/upstream/np/callback")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
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
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start")
	}

	down := startOPWith(t, func(c *node.Config) {
		c.HTTP.Listen, c.Issuer = downAddr, downIssuer
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Requests.Fetch.CAFile = caFile
		c.Connectors = []connectors.Config{{ID: "np", Type: "oidc", Name: "node-oidc-provider", Issuer: upIssuer, ClientID: "authrim", ClientSecret: upstreamSecret}}
	})

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
