package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/internal/eventually"
	"authrim/internal/freeport"
	"authrim/internal/testca"
	"authrim/node"
)

// TestListenerTLSConfig: the rules on http.tls, admin.tls, metrics.tls
// and on plain http off loopback. The secure default refuses a public
// listener that would carry passwords in the clear, unless TLS is the
// node's, a proxy's (trusted_proxies), or the operator opted in loudly.
func TestListenerTLSConfig(t *testing.T) {
	pair := node.ListenerTLS{CertFile: "/etc/authrim/tls.crt", KeyFile: "/etc/authrim/tls.key"}
	for _, tc := range []struct {
		name   string
		adjust func(*node.Config)
		want   string // "" valid, else a key the error names
	}{
		{"loopback plaintext", func(*node.Config) {}, ""},
		{"every interface, plaintext, public issuer", func(c *node.Config) { c.HTTP.Listen, c.Issuer = ":8080", "https://id.example.com" }, "http.listen"},
		{"LAN address, plaintext, public issuer", func(c *node.Config) { c.HTTP.Listen, c.Issuer = "192.0.2.10:8080", "https://id.example.com" }, "http.listen"},
		{"IPv6 any, plaintext, public issuer", func(c *node.Config) { c.HTTP.Listen, c.Issuer = "[::]:8080", "https://id.example.com" }, "http.listen"},
		// A container: every interface inside it, published on the
		// host's loopback; the issuer says the clients are local.
		{"every interface, plaintext, localhost issuer", func(c *node.Config) { c.HTTP.Listen = "0.0.0.0:8080" }, ""},
		{"behind a proxy", func(c *node.Config) {
			c.HTTP.Listen, c.Issuer, c.HTTP.TrustedProxies = "0.0.0.0:8080", "https://id.example.com", []string{"10.0.0.0/8"}
		}, ""},
		{"explicit opt-in", func(c *node.Config) {
			c.HTTP.Listen, c.Issuer, c.HTTP.InsecurePlaintext = "0.0.0.0:8080", "https://id.example.com", true
		}, ""},
		{"own TLS", func(c *node.Config) {
			c.HTTP.Listen, c.Issuer, c.HTTP.TLS = "0.0.0.0:443", "https://id.example.com", pair
		}, ""},
		{"own TLS under an http issuer", func(c *node.Config) { c.HTTP.TLS = pair }, "issuer"},
		{"TLS and the opt-in", func(c *node.Config) {
			c.HTTP.TLS, c.Issuer, c.HTTP.InsecurePlaintext = pair, "https://id.example.com", true
		}, "http.insecure_plaintext"},
		{"certificate without key", func(c *node.Config) {
			c.HTTP.TLS, c.Issuer = node.ListenerTLS{CertFile: pair.CertFile}, "https://id.example.com"
		}, "http.tls: cert_file and key_file"},
		{"key without certificate", func(c *node.Config) {
			c.HTTP.TLS, c.Issuer = node.ListenerTLS{KeyFile: pair.KeyFile}, "https://id.example.com"
		}, "http.tls: cert_file and key_file"},
		{"admin off the machine with TLS", func(c *node.Config) {
			c.Admin.Token, c.Admin.Listen, c.Admin.TLS = "0123456789abcdef", "0.0.0.0:9091", pair
		}, ""},
		{"admin off the machine without TLS", func(c *node.Config) { c.Admin.Token, c.Admin.Listen = "0123456789abcdef", "0.0.0.0:9091" }, "admin.listen"},
		{"admin TLS without an admin listener", func(c *node.Config) { c.Admin.TLS = pair }, "admin.tls"},
		{"metrics TLS", func(c *node.Config) { c.Metrics.Listen, c.Metrics.TLS = "0.0.0.0:9090", pair }, ""},
		{"metrics half a pair", func(c *node.Config) {
			c.Metrics.Listen, c.Metrics.TLS = "127.0.0.1:9090", node.ListenerTLS{KeyFile: "k"}
		}, "metrics.tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.Default()
			tc.adjust(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestListenerTLSStartRefuses: files that cannot serve stop the start
// with an error naming the file, before anything is opened.
func TestListenerTLSStartRefuses(t *testing.T) {
	ca := testca.New(t)
	a, b := ca.Issue(t), ca.Issue(t)
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, dir string) (certFile, keyFile string)
		want  string
	}{
		{"key of another certificate", func(t *testing.T, dir string) (string, string) {
			c, _ := a.Write(t, dir)
			k := filepath.Join(dir, "other-key.pem")
			testca.WriteFile(t, k, b.KeyPEM)
			return c, k
		}, "other-key.pem"},
		{"key missing", func(t *testing.T, dir string) (string, string) {
			c, _ := a.Write(t, dir)
			return c, filepath.Join(dir, "absent-key.pem")
		}, "absent-key.pem"},
		{"key readable by everyone", func(t *testing.T, dir string) (string, string) {
			c, k := a.Write(t, dir)
			if err := os.Chmod(k, 0o644); err != nil {
				t.Fatal(err)
			}
			return c, k
		}, "readable by other users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, filepath.Join(dir, "data"))
			cfg.Issuer = "https://localhost:8443"
			cfg.HTTP.TLS.CertFile, cfg.HTTP.TLS.KeyFile = tc.write(t, dir)
			_, err := node.Start(context.Background(), cfg, node.Options{Logger: discardLogger()})
			if err == nil || !strings.Contains(err.Error(), "http.tls") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an http.tls error naming %s", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("a refused start opened the store: %v", err)
			}
		})
	}
}

// tlsOP starts the harness node on https with a certificate of ca, with
// the admin API and /metrics on https listeners of their own. The log
// goes to the returned buffer.
func tlsOP(t *testing.T, ca *testca.CA, leaf testca.Leaf) (o *op, logs *syncBuffer, adminURL, metricsURL, dir string) {
	t.Helper()
	dir = t.TempDir()
	certFile, keyFile := leaf.Write(t, dir)
	adminAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	o = startOPFull(t, func(c *node.Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.HTTP.TLS = node.ListenerTLS{CertFile: certFile, KeyFile: keyFile}
		c.Admin.Listen, c.Admin.TLS = adminAddr, c.HTTP.TLS
		c.Metrics.Listen, c.Metrics.TLS = metricsAddr, c.HTTP.TLS
	}, func(o *node.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return o, logs, "https://" + adminAddr, "https://" + metricsAddr, dir
}

// tlsClient trusts ca only and keeps its cookies; it stops at redirects.
func tlsClient(ca *testca.CA, tr func(*http.Transport)) *http.Client {
	jar, _ := cookiejar.New(nil)
	t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	if tr != nil {
		tr(t)
	}
	return &http.Client{Jar: jar, Transport: t, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// TestTLSSignInWithGoOIDC: a node serving https itself. A real RP
// (go-oidc, x/oauth2) discovers it, signs a user in, redeems the code,
// verifies the ID token and calls userinfo, all over TLS (HTTP/2), and
// the admin API and /metrics answer on their own https listeners.
func TestTLSSignInWithGoOIDC(t *testing.T) {
	ca := testca.New(t)
	o, _, adminURL, metricsURL, _ := tlsOP(t, ca, ca.Issue(t))
	if !strings.HasPrefix(o.n.URL(), "https://") {
		t.Fatalf("URL() = %s", o.n.URL())
	}
	client := tlsClient(ca, nil)
	ctx := oidc.ClientContext(context.Background(), client)
	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(provider.Endpoint().TokenURL, "https://") {
		t.Fatalf("token endpoint %s", provider.Endpoint().TokenURL)
	}
	conf := oauth2.Config{
		ClientID: "rp", ClientSecret: rpSecret, RedirectURL: rpRedirect, Endpoint: provider.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "email"},
	}
	verifier := oauth2.GenerateVerifier()
	cb := o.signIn(t, client, conf.AuthCodeURL("st", oidc.Nonce("n-tls"), oauth2.S256ChallengeOption(verifier)))
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "rp", Now: o.clock.Now}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil || idt.Nonce != "n-tls" {
		t.Fatalf("id token: %v", err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != o.user.Subject {
		t.Fatalf("userinfo: %v", err)
	}

	// HTTP/2 over ALPN.
	resp, err := client.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	// Plain http on the https port gets nothing useful.
	if resp, err := http.Get(strings.Replace(o.issuer, "https://", "http://", 1) + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the https listener answered plain http")
		}
	}

	req, _ := http.NewRequest("GET", adminURL+"/admin/keys", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("admin over https: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if resp, err := client.Get(metricsURL + "/metrics"); err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("metrics over https: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
}

// TestTLSVersionFloor: a client that offers at most TLS 1.1 (or 1.0)
// gets no session (RFC 8996); 1.2 and 1.3 do.
func TestTLSVersionFloor(t *testing.T) {
	ca := testca.New(t)
	o, logs, _, _, _ := tlsOP(t, ca, ca.Issue(t))
	addr := strings.TrimPrefix(o.n.URL(), "https://")
	defer func() {
		// Anyone can fail a handshake: that must not be a warning a
		// hostile network can flood the log with.
		eventually.True(t, "the refused handshakes are logged", func() bool { return strings.Contains(logs.String(), "TLS handshake error") })
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "TLS handshake error") && !strings.Contains(l, "level=DEBUG") {
				t.Errorf("a failed handshake logged above debug: %s", l)
			}
		}
	}()
	for _, tc := range []struct {
		name string
		max  uint16
		ok   bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tc.max})
			if c != nil {
				c.Close()
			}
			if tc.ok != (err == nil) {
				t.Fatalf("handshake error %v, want success %v", err, tc.ok)
			}
		})
	}
}

// TestTLSRotation: new files are served from the next handshake on,
// without a restart, while an open connection keeps going; a broken
// replacement (a certificate whose key is not beside it) is refused,
// logged without key material and counted, and the good pair stays.
func TestTLSRotation(t *testing.T) {
	ca := testca.New(t)
	first, second, third := ca.Issue(t), ca.Issue(t), ca.Issue(t)
	o, logs, _, metricsURL, dir := tlsOP(t, ca, first)
	addr := strings.TrimPrefix(o.n.URL(), "https://")

	handshake := func() *big.Int {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	if s := handshake(); s.Cmp(first.Serial) != 0 {
		t.Fatalf("serving %v, want the first certificate", s)
	}
	// One kept-alive connection, opened under the first certificate.
	keep := tlsClient(ca, func(tr *http.Transport) { tr.MaxConnsPerHost = 1 })
	served := func() *big.Int {
		resp, err := keep.Get(o.issuer + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("jwks: %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber
	}
	if s := served(); s.Cmp(first.Serial) != 0 {
		t.Fatalf("kept connection on %v", s)
	}

	second.Write(t, dir)
	eventually.True(t, "a new handshake shows the renewed certificate", func() bool { return handshake().Cmp(second.Serial) == 0 })
	if s := served(); s.Cmp(first.Serial) != 0 {
		t.Fatalf("the open connection was replaced (now %v): it should have kept going", s)
	}

	// The broken replacement: third's certificate with second's key.
	testca.WriteFile(t, filepath.Join(dir, "cert.pem"), third.CertPEM)
	for range 3 {
		if s := handshake(); s.Cmp(second.Serial) != 0 {
			t.Fatalf("after a broken replacement serving %v, want the second certificate still", s)
		}
	}
	metrics := tlsClient(ca, nil)
	eventually.True(t, "the refusal is counted", func() bool {
		resp, err := metrics.Get(metricsURL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `authrim_tls_reloads_total{listener="http",result="refused"} 1`) &&
			strings.Contains(string(body), `authrim_tls_reloads_total{listener="http",result="ok"} 1`)
	})
	log := logs.String()
	if !strings.Contains(log, "tls certificate reload refused") || !strings.Contains(log, "tls certificate reloaded") {
		t.Fatalf("reloads not logged:\n%s", log)
	}
	for _, k := range [][]byte{first.KeyPEM, second.KeyPEM, third.KeyPEM} {
		body := bytes.Split(k, []byte("\n"))[1]
		if strings.Contains(log, "PRIVATE KEY") || strings.Contains(log, string(body[:20])) {
			t.Fatal("key material in the log")
		}
	}
	// The operator puts the right key in place: served at once.
	testca.WriteFile(t, filepath.Join(dir, "key.pem"), third.KeyPEM)
	eventually.True(t, "the fixed pair is served", func() bool { return handshake().Cmp(third.Serial) == 0 })
}
