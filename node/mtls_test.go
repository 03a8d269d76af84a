package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"authrim/directory"
	"authrim/http/mtls"
	"authrim/internal/docexample"
	"authrim/internal/freeport"
	"authrim/internal/testca"
	"authrim/node"
)

// mtlsSetup is a node serving https itself, with a mutual-TLS listener,
// client CA clientCA, and clients of each RFC 8705 method.
type mtlsSetup struct {
	o                  *op
	serverCA, clientCA *testca.CA
	mtlsURL            string
	// dnCert matches client "pki-dn", sanCert "pki-san", selfCert
	// "self"'s registered key.
	dnCert, sanCert, selfCert testca.Leaf
}

func mtlsClients(clientCA *testca.CA, t *testing.T) (dn, san, self testca.Leaf, clients []node.ClientConfig) {
	dn = clientCA.IssueClient(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "app one", Organization: []string{"Example"}}
	})
	san = clientCA.IssueClient(t, func(c *x509.Certificate) { c.DNSNames = []string{"app.example.org"} })
	self = testca.SelfSigned(t, nil)
	selfJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &self.Key.PublicKey, KeyID: "tls", Use: "sig"}}})
	clients = []node.ClientConfig{
		{ID: "pki-dn", ClientMetadata: directory.ClientMetadata{
			AuthMethod: directory.AuthTLSClient, TLSClientAuth: directory.TLSClientAuth{SubjectDN: "CN=app one,O=Example"},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, RedirectURIs: []string{rpRedirect},
			TLSClientCertificateBoundAccessTokens: true, SkipConsent: true,
		}},
		{ID: "pki-san", ClientMetadata: directory.ClientMetadata{
			AuthMethod: directory.AuthTLSClient, TLSClientAuth: directory.TLSClientAuth{SANDNS: "app.example.org"},
			GrantTypes: []string{"client_credentials"},
		}},
		{ID: "self", ClientMetadata: directory.ClientMetadata{
			AuthMethod: directory.AuthSelfSignedTLSClient, JWKS: directory.JWKS(selfJWKS),
			GrantTypes: []string{"client_credentials"}, TLSClientCertificateBoundAccessTokens: true,
		}},
		// FAPI 2.0: without a DPoP proof its tokens are bound to the
		// certificate, though it did not register bound tokens.
		{ID: "fapi-mtls", ClientMetadata: directory.ClientMetadata{
			AuthMethod: directory.AuthSelfSignedTLSClient, JWKS: directory.JWKS(selfJWKS), Profile: directory.ProfileFAPI2,
			GrantTypes: []string{"client_credentials"}, IDTokenSignedResponseAlg: "ES256",
		}},
		{ID: "mtls-spa", ClientMetadata: directory.ClientMetadata{
			AuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{rpRedirect},
			TLSClientCertificateBoundAccessTokens: true, SkipConsent: true,
		}},
	}
	return dn, san, self, clients
}

func startMTLS(t *testing.T) *mtlsSetup {
	t.Helper()
	s := &mtlsSetup{serverCA: testca.New(t), clientCA: testca.New(t)}
	dir := t.TempDir()
	certFile, keyFile := s.serverCA.Issue(t).Write(t, dir)
	caFile := filepath.Join(dir, "client-ca.pem")
	testca.WriteFile(t, caFile, s.clientCA.CertPEM())
	mtlsAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	s.mtlsURL = "https://localhost:" + mtlsAddr[strings.LastIndex(mtlsAddr, ":")+1:]
	var clients []node.ClientConfig
	s.dnCert, s.sanCert, s.selfCert, clients = mtlsClients(s.clientCA, t)
	s.o = startOPFull(t, func(c *node.Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.HTTP.TLS = node.ListenerTLS{CertFile: certFile, KeyFile: keyFile}
		c.HTTP.MTLS = node.MTLSConfig{Listen: mtlsAddr, URL: s.mtlsURL, ClientCAFile: caFile}
		c.Clients = append(c.Clients, clients...)
	}, nil)
	if got := s.o.n.MTLSAddr(); got != mtlsAddr {
		t.Fatalf("MTLSAddr = %q, want %q", got, mtlsAddr)
	}
	return s
}

// client is an https client trusting the node, presenting leaf (none
// when nil), stopping at redirects.
func (s *mtlsSetup) client(leaf *testca.Leaf) *http.Client {
	return tlsClient(s.serverCA, func(tr *http.Transport) {
		if leaf != nil {
			c, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
			if err != nil {
				panic(err)
			}
			tr.TLSClientConfig.Certificates = []tls.Certificate{c}
		}
	})
}

// mtlsPost posts v to path on base with c, and decodes the JSON answer.
func mtlsPost(t *testing.T, c *http.Client, u string, v url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// cnfOf is the cnf claim of a JWT access token (its signature was
// checked by whoever issued it; the tests read what it says).
func cnfOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Cnf map[string]any `json:"cnf"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Cnf
}

// TestMTLSClientAuth: over real handshakes, each RFC 8705 method
// authenticates its client, and every other certificate (another CA's
// with the registered DN, the CA's with another subject, a self-signed
// one with the DN, another key) or none is refused.
func TestMTLSClientAuth(t *testing.T) {
	s := startMTLS(t)
	otherCA := testca.New(t)
	forgedDN := otherCA.IssueClient(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "app one", Organization: []string{"Example"}}
	})
	selfDN := testca.SelfSigned(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "app one", Organization: []string{"Example"}}
	})
	wrongDN := s.clientCA.IssueClient(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "app two", Organization: []string{"Example"}}
	})
	otherSelf := testca.SelfSigned(t, nil)
	for _, tc := range []struct {
		name, clientID string
		cert           *testca.Leaf
		ok             bool
	}{
		{"DN match", "pki-dn", &s.dnCert, true},
		{"SAN match", "pki-san", &s.sanCert, true},
		{"self-signed key match", "self", &s.selfCert, true},
		{"DN from another CA", "pki-dn", &forgedDN, false},
		{"DN on a self-signed certificate", "pki-dn", &selfDN, false},
		{"trusted CA, other DN", "pki-dn", &wrongDN, false},
		{"SAN client with the DN certificate", "pki-san", &s.dnCert, false},
		{"self-signed, another key", "self", &otherSelf, false},
		{"self-signed client with a CA-issued certificate", "self", &s.dnCert, false},
		{"no certificate (PKI)", "pki-dn", nil, false},
		{"no certificate (self-signed)", "self", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := mtlsPost(t, s.client(tc.cert), s.mtlsURL+"/token",
				url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.clientID}})
			if tc.ok != (status == http.StatusOK) {
				t.Fatalf("status %d %v, want success %v", status, body, tc.ok)
			}
			if !tc.ok && body["error"] != "invalid_client" {
				t.Fatalf("error %v, want invalid_client", body)
			}
		})
	}

	// The README's examples: the DN as openssl prints it matches, and
	// curl with the certificate gets a token.
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	testca.WriteFile(t, caFile, s.serverCA.CertPEM())
	testca.WriteFile(t, certFile, s.dnCert.CertPEM)
	testca.WriteFile(t, keyFile, s.dnCert.KeyPEM)
	if out := docexample.Run(t, "../README.md", "mtls-subject", "CERT="+certFile); out != "CN=app one,O=Example\n" || !mtls.MatchDN(s.dnCert.Cert(t), strings.TrimSpace(out)) {
		t.Fatalf("README mtls-subject printed %q", out)
	}
	if out := docexample.Run(t, "../README.md", "mtls-token", "CA="+caFile, "CERT="+certFile, "KEY="+keyFile,
		"MTLS="+s.mtlsURL, "CLIENT_ID=pki-dn"); out != "Bearer\n" {
		t.Fatalf("README mtls-token printed %q", out)
	}

	// x/oauth2's client credentials flow, its http.Client presenting the
	// certificate: the token is bound to it.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client(&s.selfCert))
	cc := clientcredentials.Config{ClientID: "self", TokenURL: s.mtlsURL + "/token", AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cnfOf(t, tok.AccessToken)["x5t#S256"], mtls.Thumbprint(s.selfCert.Cert(t)); got != want || tok.TokenType != "Bearer" {
		t.Fatalf("cnf x5t#S256 = %v (type %s), want %s (Bearer)", got, tok.TokenType, want)
	}
	// A FAPI 2.0 client presenting its certificate gets certificate-bound
	// tokens (sender-constrained, FAPI 2.0 §5.3.1.1).
	status, body := mtlsPost(t, s.client(&s.selfCert), s.mtlsURL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"fapi-mtls"}})
	if status != http.StatusOK || cnfOf(t, body["access_token"].(string))["x5t#S256"] != mtls.Thumbprint(s.selfCert.Cert(t)) {
		t.Fatalf("fapi-mtls: %d %v", status, body)
	}
	// A client whose tokens are not bound gets a plain token.
	status, body = mtlsPost(t, s.client(&s.sanCert), s.mtlsURL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pki-san"}})
	if status != http.StatusOK || cnfOf(t, body["access_token"].(string)) != nil {
		t.Fatalf("pki-san: %d %v", status, body)
	}
}

// TestMTLSDiscovery: the node says what it supports (RFC 8705 §3.3,
// §5), and a node without mutual TLS offers none of it.
func TestMTLSDiscovery(t *testing.T) {
	s := startMTLS(t)
	var md map[string]any
	resp, err := s.client(nil).Get(s.o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	aliases, _ := md["mtls_endpoint_aliases"].(map[string]any)
	if md["tls_client_certificate_bound_access_tokens"] != true || aliases["token_endpoint"] != s.mtlsURL+"/token" ||
		aliases["userinfo_endpoint"] != s.mtlsURL+"/userinfo" || md["token_endpoint"] != s.o.issuer+"/token" {
		t.Fatalf("discovery: %v", md)
	}
	methods, _ := json.Marshal(md["token_endpoint_auth_methods_supported"])
	if !strings.Contains(string(methods), `"tls_client_auth"`) || !strings.Contains(string(methods), `"self_signed_tls_client_auth"`) {
		t.Fatalf("auth methods %s", methods)
	}

	plain := startOP(t)
	resp, err = http.Get(plain.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "tls_client") || strings.Contains(string(b), "mtls_endpoint_aliases") {
		t.Fatalf("a node without mutual TLS advertises it: %s", b)
	}
}

// codeFor signs the user in for clientID in a browser (the main
// listener, no certificate: browsers are never asked for one there) and
// returns the code and PKCE verifier.
func (s *mtlsSetup) codeFor(t *testing.T, clientID string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {rpRedirect},
		"scope": {"openid email"}, "state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	cb := s.o.signIn(t, s.client(nil), s.o.issuer+"/authorize?"+q.Encode())
	return cb.Query().Get("code"), verifier
}

// userinfoStatus calls userinfo on base with tok as a Bearer token.
func userinfoStatus(t *testing.T, c *http.Client, base, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestMTLSBoundTokenAtUserinfo: a token bound to the client's
// certificate works at userinfo with that certificate, and not with
// another one, nor with none (a copy used as a plain bearer token);
// introspection reports the binding.
func TestMTLSBoundTokenAtUserinfo(t *testing.T) {
	s := startMTLS(t)
	code, verifier := s.codeFor(t, "pki-dn")
	// x/oauth2 as the client: its http.Client presents the certificate
	// to the mTLS alias of the token endpoint.
	conf := oauth2.Config{ClientID: "pki-dn", RedirectURL: rpRedirect,
		Endpoint: oauth2.Endpoint{TokenURL: s.mtlsURL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client(&s.dnCert))
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	x5t := mtls.Thumbprint(s.dnCert.Cert(t))
	if got := cnfOf(t, tok.AccessToken)["x5t#S256"]; got != x5t {
		t.Fatalf("cnf x5t#S256 = %v, want %s", got, x5t)
	}
	if st, _ := userinfoStatus(t, s.client(&s.dnCert), s.mtlsURL, tok.AccessToken); st != http.StatusOK {
		t.Fatalf("userinfo with the bound certificate: %d", st)
	}
	// x/oauth2's own client, over the mTLS host with the certificate.
	ui, err := conf.Client(ctx, tok).Get(s.mtlsURL + "/userinfo")
	if err != nil || ui.StatusCode != http.StatusOK {
		t.Fatalf("userinfo through x/oauth2: %v %v", err, ui)
	}
	ui.Body.Close()
	for _, tc := range []struct {
		name string
		c    *http.Client
		base string
	}{
		{"another certificate of the same CA", s.client(&s.sanCert), s.mtlsURL},
		{"a self-signed certificate", s.client(&s.selfCert), s.mtlsURL},
		{"no certificate on the mTLS host", s.client(nil), s.mtlsURL},
		{"plain bearer use on the main host", s.client(nil), s.o.issuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, challenge := userinfoStatus(t, tc.c, tc.base, tok.AccessToken)
			if st != http.StatusUnauthorized || !strings.Contains(challenge, "invalid_token") {
				t.Fatalf("status %d (%s), want 401 invalid_token", st, challenge)
			}
		})
	}
	// Introspection (the client authenticating with its certificate)
	// reports the binding (RFC 8705 §3.2).
	st, in := mtlsPost(t, s.client(&s.dnCert), s.mtlsURL+"/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {"pki-dn"}})
	cnf, _ := in["cnf"].(map[string]any)
	if st != http.StatusOK || in["active"] != true || cnf["x5t#S256"] != x5t {
		t.Fatalf("introspection: %d %v", st, in)
	}
	// Its refresh token refreshes with the same certificate, and the
	// new access token stays bound.
	st, r := mtlsPost(t, s.client(&s.dnCert), s.mtlsURL+"/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "client_id": {"pki-dn"}})
	if st != http.StatusOK || cnfOf(t, r["access_token"].(string))["x5t#S256"] != x5t {
		t.Fatalf("refresh: %d %v", st, r)
	}
}

// TestMTLSPublicClientRefreshBound: a public client's refresh tokens are
// bound to the certificate its code was redeemed with (RFC 8705 §4): a
// thief with the refresh token and another certificate gets nothing, and
// the token does not rotate under them.
func TestMTLSPublicClientRefreshBound(t *testing.T) {
	s := startMTLS(t)
	mine := testca.SelfSigned(t, nil)
	thief := testca.SelfSigned(t, nil)
	code, verifier := s.codeFor(t, "mtls-spa")
	st, tok := mtlsPost(t, s.client(&mine), s.mtlsURL+"/token", url.Values{"grant_type": {"authorization_code"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {rpRedirect}, "client_id": {"mtls-spa"}})
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	rt := tok["refresh_token"].(string)
	refresh := func(c *http.Client) (int, map[string]any) {
		return mtlsPost(t, c, s.mtlsURL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mtls-spa"}})
	}
	if st, body := refresh(s.client(&thief)); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh with another certificate: %d %v", st, body)
	}
	if st, body := refresh(s.client(nil)); st != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("refresh without a certificate: %d %v", st, body)
	}
	if st, body := refresh(s.client(&mine)); st != http.StatusOK {
		t.Fatalf("refresh with the bound certificate (the token must not have rotated for the thief): %d %v", st, body)
	}
}

// TestMTLSProxyHeader: behind a proxy that terminates TLS, the
// certificate comes in http.client_cert_header, believed only from the
// proxy's address. Anyone else forging the header gets nothing: the
// attacker's move is to send a victim's certificate (public data) in the
// header straight to the node.
func TestMTLSProxyHeader(t *testing.T) {
	clientCA := testca.New(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "client-ca.pem")
	testca.WriteFile(t, caFile, clientCA.CertPEM())
	dnCert, _, _, clients := mtlsClients(clientCA, t)
	const proxy = "127.0.0.2" // the node listens on 127.0.0.1
	o := startOPWith(t, func(c *node.Config) {
		c.HTTP.TrustedProxies = []string{proxy}
		c.HTTP.ClientCertHeader = "X-SSL-Client-Cert"
		c.HTTP.MTLS.ClientCAFile = caFile
		c.Clients = append(c.Clients, clients...)
	})
	from := func(src string) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	header := url.QueryEscape(string(dnCert.CertPEM)) // nginx's $ssl_client_escaped_cert
	post := func(c *http.Client, path string, v url.Values, tok string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, o.issuer+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-SSL-Client-Cert", header)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"pki-dn"}}
	st, tok := post(from(proxy), "/token", cc, "")
	if st != http.StatusOK {
		t.Fatalf("from the trusted proxy: %d %v", st, tok)
	}
	if got := cnfOf(t, tok["access_token"].(string))["x5t#S256"]; got != mtls.Thumbprint(dnCert.Cert(t)) {
		t.Fatalf("cnf %v", got)
	}
	if st, body := post(from(""), "/token", cc, ""); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("forged header from another address: %d %v, want 401 invalid_client", st, body)
	}
	// The same for a bound token at a resource: the forged header does
	// not stand in for the certificate.
	code, verifier := func() (string, string) {
		verifier, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {"pki-dn"}, "redirect_uri": {rpRedirect},
			"scope": {"openid"}, "state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		cb := o.signIn(t, browser(t), o.issuer+"/authorize?"+q.Encode())
		return cb.Query().Get("code"), verifier
	}()
	st, ct := post(from(proxy), "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {rpRedirect}, "client_id": {"pki-dn"}}, "")
	if st != http.StatusOK {
		t.Fatalf("code: %d %v", st, ct)
	}
	at := ct["access_token"].(string)
	if st, _ := post(from(proxy), "/userinfo", url.Values{}, at); st != http.StatusOK {
		t.Fatalf("userinfo through the proxy: %d", st)
	}
	if st, _ := post(from(""), "/userinfo", url.Values{}, at); st != http.StatusUnauthorized {
		t.Fatalf("userinfo with a forged header: %d, want 401", st)
	}
}

// TestMTLSConfig: the rules on http.mtls and http.client_cert_header.
func TestMTLSConfig(t *testing.T) {
	pair := node.ListenerTLS{CertFile: "/etc/authrim/tls.crt", KeyFile: "/etc/authrim/tls.key"}
	https := func(c *node.Config) { c.Issuer, c.HTTP.TLS = "https://id.example.com", pair }
	for _, tc := range []struct {
		name   string
		adjust func(*node.Config)
		want   string
	}{
		{"listener", func(c *node.Config) {
			https(c)
			c.HTTP.MTLS = node.MTLSConfig{Listen: "127.0.0.1:8443", URL: "https://mtls.id.example.com:8443", ClientCAFile: "/etc/ca.pem"}
		}, ""},
		{"listener without http.tls", func(c *node.Config) {
			c.HTTP.MTLS = node.MTLSConfig{Listen: "127.0.0.1:8443", URL: "https://mtls.id.example.com:8443"}
		}, "http.mtls.listen"},
		{"listener without url", func(c *node.Config) { https(c); c.HTTP.MTLS.Listen = "127.0.0.1:8443" }, "http.mtls.url"},
		{"listener on the public port", func(c *node.Config) {
			https(c)
			c.HTTP.MTLS = node.MTLSConfig{Listen: c.HTTP.Listen, URL: "https://mtls.id.example.com"}
		}, "must differ"},
		{"http url", func(c *node.Config) {
			https(c)
			c.HTTP.MTLS = node.MTLSConfig{Listen: "127.0.0.1:8443", URL: "http://mtls.id.example.com"}
		}, "http.mtls.url"},
		{"proxy header", func(c *node.Config) {
			c.HTTP.TrustedProxies, c.HTTP.ClientCertHeader = []string{"10.0.0.1"}, "X-SSL-Client-Cert"
		}, ""},
		{"proxy header without trusted proxies", func(c *node.Config) { c.HTTP.ClientCertHeader = "X-SSL-Client-Cert" }, "http.trusted_proxies"},
		{"proxy header not a name", func(c *node.Config) {
			c.HTTP.TrustedProxies, c.HTTP.ClientCertHeader = []string{"10.0.0.1"}, "X SSL"
		}, "http.client_cert_header"},
		{"proxy header Authorization", func(c *node.Config) {
			c.HTTP.TrustedProxies, c.HTTP.ClientCertHeader = []string{"10.0.0.1"}, "authorization"
		}, "another meaning"},
		{"CA file with nothing to see certificates", func(c *node.Config) { c.HTTP.MTLS.ClientCAFile = "/etc/ca.pem" }, "http.mtls.client_ca_file"},
		{"url with nothing to see certificates", func(c *node.Config) { c.HTTP.MTLS.URL = "https://mtls.id.example.com" }, "http.mtls.url"},
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
