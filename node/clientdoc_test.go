package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"authrim/internal/testca"
	"authrim/node"
)

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
// the client's documents are served over https by docHost (a certificate
// of internal/testca, trusted through requests.fetch.ca_file); the RP is
// x/oauth2 and go-oidc with the document's URL as client_id.

// docHost serves client metadata documents and JWK sets at paths the
// test sets, with the Cache-Control and Content-Type it says, and counts
// the fetches of each path.
type docHost struct {
	srv    *httptest.Server
	base   string
	caFile string
	mu     sync.Mutex
	docs   map[string]docAnswer
	hits   map[string]int
}

type docAnswer struct {
	body         []byte
	cacheControl string
	contentType  string
	redirect     string
}

func newDocHost(t *testing.T) *docHost {
	t.Helper()
	ca := testca.New(t)
	leaf := ca.Issue(t)
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	h := &docHost{docs: map[string]docAnswer{}, hits: map[string]int{}}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		a, ok := h.docs[r.URL.Path]
		h.hits[r.URL.Path]++
		h.mu.Unlock()
		switch {
		case !ok:
			http.NotFound(w, r)
			return
		case a.redirect != "":
			http.Redirect(w, r, a.redirect, http.StatusFound)
			return
		}
		if a.cacheControl != "" {
			w.Header().Set("Cache-Control", a.cacheControl)
		}
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.Write(a.body)
	}))
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	h.base = "https://localhost:" + h.srv.URL[strings.LastIndex(h.srv.URL, ":")+1:]
	h.caFile = filepath.Join(t.TempDir(), "ca.pem")
	testca.WriteFile(t, h.caFile, ca.CertPEM())
	return h
}

// url is the address of path on the host.
func (h *docHost) url(path string) string { return h.base + path }

// put serves a at path and returns its URL.
func (h *docHost) put(path string, a docAnswer) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.docs[path] = a
	return h.base + path
}

// putJSON serves doc as JSON at path.
func (h *docHost) putJSON(t *testing.T, path string, doc any, cacheControl string) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return h.put(path, docAnswer{body: b, cacheControl: cacheControl})
}

func (h *docHost) hitsOf(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

// publicDoc is the metadata document of a public client at id.
func publicDoc(id, name string) map[string]any {
	return map[string]any{
		"client_id": id, "client_name": name, "redirect_uris": []string{rpRedirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	}
}

// docOP starts a node that resolves client ID metadata documents,
// trusting h's CA and reaching loopback (rate limits on: client ids that
// are URLs are rate-limit keys like any other); logs (when
// given) receives the node's log.
func docOP(t *testing.T, h *docHost, logs *syncBuffer, adjust func(*node.Config)) *op {
	t.Helper()
	return startOPFull(t, func(c *node.Config) {
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Requests.Fetch.CAFile = h.caFile
		c.ClientDocuments.Enabled = true
		if adjust != nil {
			adjust(c)
		}
	}, func(o *node.Options) {
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
}

// TestClientDocumentPublicCodeFlow: a public client known only by its
// metadata document signs a user in with PKCE through x/oauth2, its ID
// token verifies with go-oidc (aud = the URL), and the other endpoints
// (userinfo, refresh, revoke) know the client too. The consent page
// shows the document's host apart from its self-chosen name, and the
// client is never stored.
func TestClientDocumentPublicCodeFlow(t *testing.T) {
	h := newDocHost(t)
	o := docOP(t, h, nil, nil)
	id := h.putJSON(t, "/app/client.json", publicDoc(h.url("/app/client.json"), "Doc App"), "max-age=600")
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Supported bool `json:"client_id_metadata_document_supported"`
	}
	if err := provider.Claims(&meta); err != nil || !meta.Supported {
		t.Fatalf("discovery does not say client_id_metadata_document_supported: %v", err)
	}
	cfg := oauth2.Config{ClientID: id, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect, Scopes: []string{oidc.ScopeOpenID, "profile", "offline_access"}}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1"), oauth2.SetAuthURLParam("prompt", "consent"))

	b := browser(t)
	p := get(t, b, authURL)
	p = o.login(t, b, p, userPassword)
	if !p.isConsent() {
		t.Fatalf("expected the consent page, got %d %s", p.status, p.body)
	}
	host := strings.TrimPrefix(h.base, "https://")
	if !strings.Contains(p.body, `<strong id="client-host">`+host+`</strong>`) || !strings.Contains(p.body, "Doc App") {
		t.Fatalf("the consent page must show the host %s and the name apart:\n%s", host, p.body)
	}
	if !strings.Contains(p.body, `<strong id="redirect-host">127.0.0.1:9</strong>`) {
		t.Fatalf("the consent page must say the answer goes to another host:\n%s", p.body)
	}
	p = o.consent(t, b, p, "allow")
	if p.loc == nil || p.loc.Query().Get("code") == "" {
		t.Fatalf("expected a code, got %d %v %s", p.status, p.loc, p.body)
	}
	tok, err := cfg.Exchange(ctx, p.loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: id, Now: o.clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "nonce-1" || idt.Subject != o.user.Subject {
		t.Fatalf("ID token: nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if st, claims, _ := o.userinfo(t, tok.AccessToken); st != http.StatusOK || claims["sub"] != o.user.Subject {
		t.Fatalf("userinfo: %d %v", st, claims)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(o.issuer+"/revoke", url.Values{"client_id": {id}, "token": {refreshed.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token still refreshes")
	}
	// A public document client has no client_credentials (nor any
	// confidential grant).
	if st, body := o.tokenRequest(t, "", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}); st == http.StatusOK {
		t.Fatalf("client_credentials for a document client: %d %v", st, body)
	}
	clients, err := o.n.Directory().ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if c.ID == id {
			t.Fatal("a document client was stored")
		}
	}
	if n := h.hitsOf("/app/client.json"); n != 1 {
		t.Fatalf("the document (max-age=600) was fetched %d times, want 1", n)
	}
}

// TestClientDocumentPrivateKeyJWT: a document naming private_key_jwt
// with a jwks_uri on the same host redeems its code with an assertion
// signed by its key (iss = sub = the URL, aud = the issuer); an
// assertion by another key is refused.
func TestClientDocumentPrivateKeyJWT(t *testing.T) {
	h := newDocHost(t)
	o := docOP(t, h, nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	jwksURI := h.put("/keys.json", docAnswer{body: jwks})
	id := h.url("/conf/client")
	h.putJSON(t, "/conf/client", map[string]any{
		"client_id": id, "client_name": "Key App", "redirect_uris": []string{rpRedirect},
		"grant_types": []string{"authorization_code"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks_uri": jwksURI,
	}, "")
	params := baseParams()
	params["client_id"] = id
	loc := o.signIn(t, browser(t), o.authorizeURL(params))
	code := loc.Query().Get("code")

	redeem := func(k *ecdsa.PrivateKey) (int, map[string]any) {
		a := o.assertion(t, k, jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{o.issuer}, ID: "jti-" + time.Now().Format(time.RFC3339Nano),
			Expiry: jwt.NewNumericDate(o.clock.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(o.clock.Now())})
		return o.tokenRequest(t, "", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a},
		})
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if st, body := redeem(other); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("assertion by another key: %d %v", st, body)
	}
	st, body := redeem(key)
	if st != http.StatusOK || body["id_token"] == nil {
		t.Fatalf("redeem with the document's key: %d %v", st, body)
	}
	if aud := idClaims(t, body["id_token"].(string))["aud"]; aud != id {
		t.Fatalf("ID token aud %v, want %s", aud, id)
	}
}

// TestClientDocumentRefused: every rule of the draft and of our
// registration rules turns the client_id into an unknown client at
// /authorize (an error page, no redirect), and the refusal is audited
// with its reason.
func TestClientDocumentRefused(t *testing.T) {
	h := newDocHost(t)
	logs := &syncBuffer{}
	o := docOP(t, h, logs, nil)
	doc := func(path string, edit func(map[string]any)) string {
		d := publicDoc(h.url(path), "Bad App")
		if edit != nil {
			edit(d)
		}
		return h.putJSON(t, path, d, "")
	}
	cases := []struct {
		name, clientID, reason string
	}{
		{"client_id not the URL", doc("/mismatch", func(d map[string]any) { d["client_id"] = h.url("/other") }), "is not the URL it was fetched from"},
		{"no client_id", doc("/noid", func(d map[string]any) { delete(d, "client_id") }), "has no client_id"},
		{"http URL", "http://localhost:1/plain", "https scheme"},
		{"fragment", doc("/frag", nil) + "#x", "fragment"},
		{"dot segment", h.url("/a/../frag"), ". or .. path segments"},
		{"userinfo", "https://user:pw@" + strings.TrimPrefix(h.base, "https://") + "/u", "username or password"},
		{"no path", h.base, "must contain a path"},
		{"too large", doc("/large", func(d map[string]any) { d["padding"] = strings.Repeat("x", 6<<10) }), "too large"},
		{"not JSON", h.put("/notjson", docAnswer{body: []byte("<html>hello</html>"), contentType: "text/html"}), "not application/json"},
		{"JSON type but not JSON", h.put("/garbage", docAnswer{body: []byte("{not json")}), "not a JSON object"},
		{"client_secret_basic", doc("/basic", func(d map[string]any) { d["token_endpoint_auth_method"] = "client_secret_basic" }), "must be none or private_key_jwt"},
		{"client_secret member", doc("/secret", func(d map[string]any) { d["client_secret"] = "s3cr3t-s3cr3t-s3cr3t" }), "must not contain client_secret"},
		{"client_credentials", doc("/cc", func(d map[string]any) { d["grant_types"] = []string{"client_credentials"} }), "client_credentials"},
		{"private_key_jwt without keys", doc("/nokeys", func(d map[string]any) { d["token_endpoint_auth_method"] = "private_key_jwt" }), "private_key_jwt needs jwks or jwks_uri"},
		{"no redirect_uris", doc("/noredirect", func(d map[string]any) { delete(d, "redirect_uris") }), "redirect_uris"},
		{"redirect", h.put("/moved", docAnswer{redirect: "/mismatch"}), "redirect not followed"},
		{"not found", h.url("/missing"), "status 404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := baseParams()
			params["client_id"] = tc.clientID
			p := get(t, browser(t), o.authorizeURL(params))
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Unknown client") || p.loc != nil {
				t.Fatalf("want the unknown-client page, got %d %v %s", p.status, p.loc, p.body)
			}
			if !auditedRefusal(logs.String(), tc.clientID, tc.reason) {
				t.Fatalf("no audit line for %s with %q in:\n%s", tc.clientID, tc.reason, logs.String())
			}
		})
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Fatal("a client_secret from a document reached the log")
	}
	if !strings.Contains(logs.String(), `msg="client metadata document refused" component=clientdoc audit=true`) {
		t.Fatal("refusals are not audited")
	}

	// A good document, but the request's redirect_uri is not in it.
	params := baseParams()
	params["client_id"] = doc("/good", nil)
	params["redirect_uri"] = "http://127.0.0.1:9/elsewhere"
	if p := get(t, browser(t), o.authorizeURL(params)); p.status != http.StatusBadRequest || !strings.Contains(p.body, "redirect_uri is not registered") {
		t.Fatalf("redirect_uri not in the document: %d %s", p.status, p.body)
	}
}

// auditedRefusal tells whether logs hold the audited refusal of
// clientID with reason.
func auditedRefusal(logs, clientID, reason string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `msg="client metadata document refused"`) && strings.Contains(line, "audit=true") &&
			strings.Contains(line, "client_id="+clientID+" ") && strings.Contains(line, reason) {
			return true
		}
	}
	return false
}

// TestClientDocumentHostsAndSwitch: with an allow-list, a document on
// another host is not fetched at all; with the feature off (the
// default), a URL client_id is an unknown client and nothing is fetched.
func TestClientDocumentHostsAndSwitch(t *testing.T) {
	h := newDocHost(t)
	id := h.putJSON(t, "/client.json", publicDoc(h.url("/client.json"), "Doc App"), "")
	params := baseParams()
	params["client_id"] = id
	for _, tc := range []struct {
		name   string
		adjust func(*node.Config)
	}{
		{"host not allowed", func(c *node.Config) { c.ClientDocuments.Hosts = []string{"apps.example"} }},
		{"feature off", func(c *node.Config) { c.ClientDocuments.Enabled = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := docOP(t, h, nil, tc.adjust)
			p := get(t, browser(t), o.authorizeURL(params))
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Unknown client") {
				t.Fatalf("want the unknown-client page, got %d %s", p.status, p.body)
			}
			if st, body := o.tokenRequest(t, "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {id}}); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("token endpoint: %d %v", st, body)
			}
			if n := h.hitsOf("/client.json"); n != 0 {
				t.Fatalf("the document was fetched %d times", n)
			}
		})
	}
	// The allow-list names the host: resolved.
	o := docOP(t, h, nil, func(c *node.Config) { c.ClientDocuments.Hosts = []string{"LOCALHOST"} })
	if p := get(t, browser(t), o.authorizeURL(params)); !p.isLogin() {
		t.Fatalf("allowed host: want the login page, got %d %s", p.status, p.body)
	}
}

// TestClientDocumentCache: a document is reused while its max-age runs
// (a change is not seen), fetched again once it ran out (the node's
// clock moved past it); a no-store document is fetched at each use; a
// failure is remembered for failure_cache.
func TestClientDocumentCache(t *testing.T) {
	h := newDocHost(t)
	o := docOP(t, h, nil, nil)
	open := func(id string) page {
		params := baseParams()
		params["client_id"] = id
		return get(t, browser(t), o.authorizeURL(params))
	}
	// max-age=120: within min_cache (1m) and max_cache (24h).
	cached := h.putJSON(t, "/cached", publicDoc(h.url("/cached"), "First Name"), "max-age=120")
	if p := open(cached); !strings.Contains(p.body, "First Name") {
		t.Fatalf("login page: %s", p.body)
	}
	h.putJSON(t, "/cached", publicDoc(cached, "Second Name"), "max-age=120")
	if p := open(cached); !strings.Contains(p.body, "First Name") || h.hitsOf("/cached") != 1 {
		t.Fatalf("within max-age: %d fetches, page %s", h.hitsOf("/cached"), p.body)
	}
	o.clock.Advance(121 * time.Second)
	if p := open(cached); !strings.Contains(p.body, "Second Name") || h.hitsOf("/cached") != 2 {
		t.Fatalf("after max-age: %d fetches, page %s", h.hitsOf("/cached"), p.body)
	}

	// no-store: every use fetches.
	fresh := h.putJSON(t, "/fresh", publicDoc(h.url("/fresh"), "Fresh"), "no-store")
	open(fresh)
	first := h.hitsOf("/fresh")
	open(fresh)
	if got := h.hitsOf("/fresh"); got <= first || first == 0 {
		t.Fatalf("no-store: %d fetches, then %d", first, got)
	}

	// A failure is remembered, then retried.
	broken := h.put("/broken", docAnswer{body: []byte("nope")})
	open(broken)
	open(broken)
	if n := h.hitsOf("/broken"); n != 1 {
		t.Fatalf("a failure was fetched %d times within failure_cache", n)
	}
	h.putJSON(t, "/broken", publicDoc(broken, "Mended"), "")
	o.clock.Advance(31 * time.Second)
	if p := open(broken); !p.isLogin() || h.hitsOf("/broken") != 2 {
		t.Fatalf("after failure_cache: %d fetches, page %d %s", h.hitsOf("/broken"), p.status, p.body)
	}
}

// TestClientDocumentPARConsentAndLogout: a document client pushes its
// request to /par (public: client_id in the form) and uses the
// request_uri at /authorize; its skip_consent is ignored (the user is
// asked although no prompt=consent was sent); logout with its ID token
// returns to a post_logout_redirect_uri of the document only.
func TestClientDocumentPARConsentAndLogout(t *testing.T) {
	h := newDocHost(t)
	o := docOP(t, h, nil, nil)
	id := h.url("/par/client.json")
	d := publicDoc(id, "Pushy")
	d["skip_consent"] = true
	d["post_logout_redirect_uris"] = []string{rpLogout}
	h.putJSON(t, "/par/client.json", d, "max-age=600")

	params := url.Values{"client_id": {id}, "response_type": {"code"}, "redirect_uri": {rpRedirect}, "scope": {"openid profile"},
		"state": {"s1"}, "nonce": {"n1"}, "code_challenge": {s256(pkceVerifier)}, "code_challenge_method": {"S256"}}
	st, par := o.push(t, "", "", params)
	ref, _ := par["request_uri"].(string)
	if st != http.StatusCreated || ref == "" {
		t.Fatalf("par: %d %v", st, par)
	}
	b := browser(t)
	p := get(t, b, o.authorizeWith(url.Values{"client_id": {id}, "request_uri": {ref}}))
	p = o.login(t, b, p, userPassword)
	if !p.isConsent() {
		t.Fatalf("a document client skipped consent: %d %v %s", p.status, p.loc, p.body)
	}
	p = o.consent(t, b, p, "allow")
	code := p.loc.Query().Get("code")
	st, tok := o.tokenRequest(t, "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect},
		"code_verifier": {pkceVerifier}, "client_id": {id}})
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	rawID := tok["id_token"].(string)
	if lo := get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {"http://127.0.0.1:9/elsewhere"}}.Encode()); lo.status != http.StatusBadRequest {
		t.Fatalf("logout to a URI not in the document: %d %v", lo.status, lo.loc)
	}
	lo := get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}.Encode())
	if lo.status != http.StatusFound || lo.loc == nil || !strings.HasPrefix(lo.loc.String(), rpLogout) {
		t.Fatalf("logout: %d %v %s", lo.status, lo.loc, lo.body)
	}
}

// TestClientDocumentsConfigValidated: client_metadata_documents' limits
// and hosts are checked at start, each problem under its key.
func TestClientDocumentsConfigValidated(t *testing.T) {
	set := func(f func(*node.ClientDocumentsConfig)) func(*node.Config) {
		return func(c *node.Config) { c.ClientDocuments.Enabled = true; f(&c.ClientDocuments) }
	}
	checkValidation(t, []validationCase{
		{"defaults, on", set(func(*node.ClientDocumentsConfig) {}), ""},
		{"hosts", set(func(d *node.ClientDocumentsConfig) { d.Hosts = []string{"app.example", "apps.example:8443"} }), ""},
		{"a URL as host", set(func(d *node.ClientDocumentsConfig) { d.Hosts = []string{"https://app.example/"} }), "client_metadata_documents.hosts"},
		{"max_bytes too small", set(func(d *node.ClientDocumentsConfig) { d.MaxBytes = 10 }), "client_metadata_documents.max_bytes"},
		{"max_bytes too large", set(func(d *node.ClientDocumentsConfig) { d.MaxBytes = 2 << 20 }), "client_metadata_documents.max_bytes"},
		{"requests.fetch.max_bytes smaller", func(c *node.Config) { c.Requests.Fetch.MaxBytes = 1024 }, ""},
		{"max_cache below min_cache", set(func(d *node.ClientDocumentsConfig) { d.MaxCache = node.Duration(time.Second) }), "client_metadata_documents"},
		{"no min_cache", set(func(d *node.ClientDocumentsConfig) { d.MinCache = 0 }), "client_metadata_documents"},
		{"failure_cache zero", set(func(d *node.ClientDocumentsConfig) { d.FailureCache = 0 }), "client_metadata_documents.failure_cache"},
	})
}
