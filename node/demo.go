package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"authrim/directory"
	"authrim/http/demo"
)

// The demo's user and client (authrim serve --demo).
const (
	DemoUsername = "demo"
	DemoClientID = "authrim-demo"
)

// DemoAccount is what demo mode tells the person who started it: where
// the demo app is, and how to sign in there.
type DemoAccount struct {
	URL      string
	Username string
	// Password is generated at each start; only its hash is stored.
	Password string
}

// Demo returns the demo account of a node started with Options.Demo,
// else nil.
func (n *Node) Demo() *DemoAccount { return n.demo }

// CheckDemo refuses demo mode anywhere but one node on this machine: the
// demo user's password is printed to whoever started the node, and the
// demo app is a client with a redirect URI on the issuer. The HTTP
// listener and the issuer must be loopback (an empty host listens on
// every interface), and the node alone.
func CheckDemo(cfg Config) error {
	var p []string
	host, _, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || !loopbackHost(host) {
		p = append(p, fmt.Sprintf("http.listen %q is not a loopback address (the demo is for this machine only: e.g. 127.0.0.1:8080)", cfg.HTTP.Listen))
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || !loopbackHost(u.Hostname()) {
		p = append(p, fmt.Sprintf("issuer %q is not on localhost or a loopback address", cfg.Issuer))
	}
	if cfg.Storage.Backend == BackendEtcd || len(cfg.Cluster.Peers) > 0 {
		p = append(p, "the demo runs on a single node (storage.backend bbolt, no cluster.peers)")
	}
	if len(p) > 0 {
		return fmt.Errorf("node: --demo refused: %s", strings.Join(p, "; "))
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startDemo makes sure the demo user and client exist, with a fresh
// password and a fresh client secret (neither is a constant, and only
// their hashes are stored), and returns the demo app's front end.
func (n *Node) startDemo(ctx context.Context) (*demo.Demo, error) {
	if err := CheckDemo(n.cfg); err != nil {
		return nil, err
	}
	password, err := demoSecret()
	if err != nil {
		return nil, err
	}
	if err := n.seedDemoUser(ctx, password); err != nil {
		return nil, err
	}
	secret, err := n.seedDemoClient(ctx)
	if err != nil {
		return nil, err
	}
	d, err := demo.New(demo.Config{
		Issuer: n.cfg.Issuer, ClientID: DemoClientID, ClientSecret: secret, Username: DemoUsername,
		Logger: n.logger.With("front", "demo"), Now: n.now,
	})
	if err != nil {
		return nil, err
	}
	n.demo = &DemoAccount{URL: demo.HomeURI(n.cfg.Issuer), Username: DemoUsername, Password: password}
	n.logger.WarnContext(ctx, "demo mode: a demo user and the demo app at /demo are served (never in production)",
		"audit", true, "username", DemoUsername, "client_id", DemoClientID)
	return d, nil
}

// seedDemoUser creates the demo user, or gives an existing one the new
// password (which ends its earlier sign-ins) and enables it.
func (n *Node) seedDemoUser(ctx context.Context, password string) error {
	_, err := n.dir.FindUser(ctx, DemoUsername)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		_, err = n.dir.CreateUser(ctx, directory.NewUser{Username: DemoUsername, Password: password, Claims: map[string]any{
			"name": "Demo User", "given_name": "Demo", "family_name": "User", "preferred_username": DemoUsername,
			"email": "demo@example.com", "email_verified": true, "locale": "en",
		}})
	case err == nil:
		if _, err = n.dir.SetUserPassword(ctx, DemoUsername, password); err == nil {
			_, err = n.dir.SetUserDisabled(ctx, DemoUsername, false)
		}
	}
	if err != nil {
		return fmt.Errorf("node: demo user: %w", err)
	}
	return nil
}

// seedDemoClient registers the demo client, or puts an existing one back
// to the demo's metadata, and returns a new secret for it.
func (n *Node) seedDemoClient(ctx context.Context) (string, error) {
	want := directory.NewClient{ID: DemoClientID, ClientMetadata: directory.ClientMetadata{
		Name: "Authrim demo app", AuthMethod: "client_secret_basic",
		GrantTypes:             []string{"authorization_code"},
		RedirectURIs:           []string{demo.RedirectURI(n.cfg.Issuer)},
		PostLogoutRedirectURIs: []string{demo.HomeURI(n.cfg.Issuer)},
	}}
	c, err := n.dir.Client(ctx, DemoClientID)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		_, secret, err := n.dir.CreateClient(ctx, want)
		if err != nil {
			return "", fmt.Errorf("node: demo client: %w", err)
		}
		return secret, nil
	case err != nil:
		return "", fmt.Errorf("node: demo client: %w", err)
	case c.Static:
		return "", fmt.Errorf("node: demo client: config.yaml has a client %q: remove it or run the demo elsewhere", DemoClientID)
	}
	if _, _, err := n.dir.UpdateClient(ctx, DemoClientID, func(directory.NewClient) (directory.NewClient, error) { return want, nil }); err != nil {
		return "", fmt.Errorf("node: demo client: %w", err)
	}
	_, secret, err := n.dir.RotateClientSecret(ctx, DemoClientID)
	if err != nil {
		return "", fmt.Errorf("node: demo client: %w", err)
	}
	return secret, nil
}

// demoSecret is a generated password: 144 random bits.
func demoSecret() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("node: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
