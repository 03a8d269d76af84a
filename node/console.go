package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"authrim/directory"
	"authrim/http/auth"
	"authrim/http/console"
	"authrim/http/discovery"
	"authrim/http/management"
	"authrim/http/token"
)

// consoleClient is the console's built-in client: public, PKCE S256,
// its one redirect URI derived from where the console is reached, no
// consent screen (it is the node's own). It is rebuilt from the config
// at every start, like the static clients of config.yaml.
func (c Config) consoleClient() (directory.Client, error) {
	pkce := true
	cl, err := directory.NewStaticClient(directory.NewClient{ID: console.ClientID, ClientMetadata: directory.ClientMetadata{
		Name: "Authrim admin console", RedirectURIs: []string{console.RedirectURI(c.consoleURL())},
		PostLogoutRedirectURIs: []string{console.PostLogoutRedirectURI(c.consoleURL())},
		AuthMethod:             "none", GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		SkipConsent: true, RequirePKCE: &pkce,
	}}, c.Keys.Algorithms...)
	if err != nil {
		return directory.Client{}, fmt.Errorf("node: the console's client (admin.console_url %q): %w", c.consoleURL(), err)
	}
	return cl, nil
}

// newConsole is the admin console over the admin API's operations.
func (n *Node) newConsole(admin *management.Admin) (*console.Console, error) {
	cfg := n.cfg
	base := strings.TrimSuffix(cfg.Issuer, "/")
	return console.New(console.Config{
		Issuer: cfg.Issuer, URL: cfg.consoleURL(), Algs: cfg.Keys.SigningAlgs(),
		AuthorizeURL: base + auth.AuthorizePath, TokenURL: base + token.Path, JWKSURL: base + discovery.JWKSPath,
		EndSessionURL: base + auth.LogoutPath,
		Transport:     &n.self, Now: n.now,
	}, admin, n.kek, n.logger.With("front", "console"))
}

// selfTransport serves a request with the node's own public router, in
// process: the console's code exchange and JWKS fetch reach the node's
// endpoints without a socket (and so without the SSRF question of a URL
// fetched over the network).
type selfTransport struct {
	h atomic.Pointer[http.Handler]
}

func (t *selfTransport) set(h http.Handler) { t.h.Store(&h) }

// RoundTrip serves req; the node's URLs only.
func (t *selfTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.h.Load()
	if h == nil {
		return nil, fmt.Errorf("node: the router is not serving yet")
	}
	r := req.Clone(req.Context())
	r.RequestURI = r.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	if ip := net.ParseIP(console.ClientIP(req.Context())); ip != nil {
		// The browser the call is made for: the token endpoint's rate
		// limit and audit see its address.
		r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	(*h).ServeHTTP(w, r)
	return &http.Response{
		StatusCode: w.status, Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// recorder is the response of an in-process request.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(s int) {
	if !w.wrote {
		w.status, w.wrote = s, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
