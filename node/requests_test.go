package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"authrim/node"
)

// The tests here drive request objects (OIDC Core §6, RFC 9101), pushed
// requests (RFC 9126), encrypted and signed responses (OIDC Core §5.3.2,
// §10.2) and dynamic registration (RFC 7591, RFC 7592) through real
// listeners: the node, a local HTTPS server playing the client's web
// host (jwks_uri, request_uri), go-oidc and x/oauth2 as the RP, go-jose
// for what the RP must do by hand (sign objects, decrypt answers).

const initialToken = "initial-access-token-0123456789"

// rpHost is the client's HTTPS host: it serves its JWK set and request
// objects at paths the test sets.
type rpHost struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string][]byte
	hdr  map[string]string
	hits map[string]int
}

func newRPHost(t *testing.T) *rpHost {
	h := &rpHost{docs: map[string][]byte{}, hdr: map[string]string{}, hits: map[string]int{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		doc, ok := h.docs[r.URL.Path]
		cc := h.hdr[r.URL.Path]
		h.hits[r.URL.Path]++
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Write(doc)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *rpHost) set(path string, doc []byte, cacheControl string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.docs[path], h.hdr[path] = doc, cacheControl
	return h.srv.URL + path
}

func (h *rpHost) hitsOf(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

// caFile writes the host's certificate where requests.fetch.ca_file can
// read it.
func (h *rpHost) caFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rpKeys are the client's: an ES256 signing key and an RSA encryption key.
type rpKeys struct {
	sig *ecdsa.PrivateKey
	enc *rsa.PrivateKey
}

func newRPKeys(t *testing.T) rpKeys {
	sig, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return rpKeys{sig: sig, enc: enc}
}

func (k rpKeys) jwks(t *testing.T) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &k.sig.PublicKey, KeyID: "rp-sig", Use: "sig", Algorithm: "ES256"},
		{Key: &k.enc.PublicKey, KeyID: "rp-enc", Use: "enc"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a compact JWS of claims.
func signObj(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("oauth-authz-req+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

// requestsOP starts a node with registration by initial access token, an
// RSA-OAEP-256 encryption key, fetches trusted to host and (when
// allowPrivate) to loopback, and no rate limits (the tests send many
// requests from one address).
func requestsOP(t *testing.T, host *rpHost, allowPrivate bool, adjust func(*node.Config)) *op {
	return startOPWith(t, func(c *node.Config) {
		c.Keys.Algorithms = []string{"RS256", "ES256", "RSA-OAEP-256"}
		c.Registration.InitialAccessToken = initialToken
		c.Requests.Fetch.AllowPrivateAddresses = allowPrivate
		c.Requests.Fetch.CAFile = host.caFile(t)
		c.RateLimit.Enabled = false
		if adjust != nil {
			adjust(c)
		}
	})
}

type registered struct {
	ID, Secret, RegToken, RegURI string
	raw                          map[string]any
}

func (o *op) registerClient(t *testing.T, token string, metadata map[string]any) (int, registered) {
	t.Helper()
	b, _ := json.Marshal(metadata)
	req, _ := http.NewRequest("POST", o.issuer+"/register", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	r := registered{raw: out}
	r.ID, _ = out["client_id"].(string)
	r.Secret, _ = out["client_secret"].(string)
	r.RegToken, _ = out["registration_access_token"].(string)
	r.RegURI, _ = out["registration_client_uri"].(string)
	return resp.StatusCode, r
}

// objectClaims is a valid request object for client id.
func (o *op) objectClaims(id, state string) map[string]any {
	return map[string]any{
		"iss": id, "aud": o.issuer, "exp": o.clock.Now().Add(5 * time.Minute).Unix(), "iat": o.clock.Now().Unix(),
		"jti": fmt.Sprintf("jti-%d", time.Now().UnixNano()), "client_id": id, "response_type": "code",
		"redirect_uri": rpRedirect, "scope": "openid profile email", "state": state, "nonce": "nonce-" + state,
		"code_challenge": s256(pkceVerifier), "code_challenge_method": "S256",
	}
}

// authorizeWith is /authorize with the given parameters.
func (o *op) authorizeWith(v url.Values) string { return o.issuer + "/authorize?" + v.Encode() }

// push sends a pushed authorization request as client id (Basic auth).
func (o *op) push(t *testing.T, id, secret string, v url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+"/par", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	return resp.StatusCode, out
}

// TestRegisteredClientSignsInWithRequestObjects is the whole story: a
// client registers over /register, signs in with a signed request object
// by value, then by request_uri from its HTTPS host, then through PAR;
// its ID tokens come encrypted and its userinfo signed and encrypted,
// and the RP opens both with its own keys.
func TestRegisteredClientSignsInWithRequestObjects(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	jwksURI := host.set("/jwks", keys.jwks(t), "max-age=300")
	reqURI := host.srv.URL + "/objects/1"

	status, cl := o.registerClient(t, initialToken, map[string]any{
		"client_name": "Registered RP", "redirect_uris": []string{rpRedirect},
		"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"},
		"jwks_uri": jwksURI, "request_uris": []string{reqURI}, "request_object_signing_alg": "ES256",
		"id_token_encrypted_response_alg": "RSA-OAEP-256", "id_token_encrypted_response_enc": "A256GCM",
		"userinfo_signed_response_alg": "ES256", "userinfo_encrypted_response_alg": "RSA-OAEP-256",
		"software_version": "ignored: unknown metadata",
	})
	if status != http.StatusCreated || cl.ID == "" || cl.Secret == "" || cl.RegToken == "" || cl.RegURI != o.issuer+"/register/"+cl.ID {
		t.Fatalf("register: %d %+v", status, cl.raw)
	}
	if cl.raw["userinfo_encrypted_response_enc"] != "A128CBC-HS256" {
		t.Errorf("default userinfo enc: %v", cl.raw["userinfo_encrypted_response_enc"])
	}
	if _, ok := cl.raw["software_version"]; ok {
		t.Error("unknown metadata was kept")
	}

	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: cl.ID, ClientSecret: cl.Secret, RedirectURL: rpRedirect, Endpoint: provider.Endpoint()}
	verifier := provider.Verifier(&oidc.Config{ClientID: cl.ID, Now: o.clock.Now})
	b := browser(t)

	// redeem exchanges a code and opens the encrypted ID token.
	redeem := func(cb *url.URL, wantState string) *oauth2.Token {
		t.Helper()
		if cb.Query().Get("state") != wantState || cb.Query().Get("code") == "" {
			t.Fatalf("callback %v, want state %s", cb, wantState)
		}
		tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkceVerifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if strings.Count(raw, ".") != 4 {
			t.Fatalf("ID token is not a JWE: %q", raw)
		}
		jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatal(err)
		}
		if jwe.Header.ExtraHeaders["cty"] != "JWT" {
			t.Errorf("nested JWT without cty: %v", jwe.Header.ExtraHeaders)
		}
		inner, err := jwe.Decrypt(keys.enc)
		if err != nil {
			t.Fatal(err)
		}
		idt, err := verifier.Verify(ctx, string(inner))
		if err != nil {
			t.Fatalf("inner ID token: %v", err)
		}
		if idt.Nonce != "nonce-"+wantState {
			t.Errorf("nonce %q", idt.Nonce)
		}
		return tok
	}

	// 1. By value. The object's state wins over the outer one (OIDC Core
	// §6.3.3).
	obj := signObj(t, jose.ES256, keys.sig, "rp-sig", o.objectClaims(cl.ID, "by-value"))
	cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"outer-state"}, "request": {obj}}))
	tok := redeem(cb, "by-value")

	// Userinfo: signed by the OP, then encrypted to the client.
	req, _ := http.NewRequest("GET", o.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwt" {
		t.Fatalf("userinfo: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	jwe, err := jose.ParseEncryptedCompact(string(body), []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := jwe.Decrypt(keys.enc)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := oidc.NewRemoteKeySet(ctx, o.issuer+"/.well-known/jwks.json").VerifySignature(ctx, string(inner))
	if err != nil {
		t.Fatalf("userinfo signature: %v", err)
	}
	var ui map[string]any
	json.Unmarshal(payload, &ui)
	if ui["sub"] != o.user.Subject || ui["iss"] != o.issuer || ui["aud"] != cl.ID || ui["email"] != "alice@example.com" {
		t.Fatalf("userinfo claims: %v", ui)
	}
	if jws, _ := jose.ParseSigned(string(inner), []jose.SignatureAlgorithm{jose.ES256}); jws == nil {
		t.Error("userinfo not signed with the registered ES256")
	}

	// 2. By reference, from the client's HTTPS host.
	host.set("/objects/1", []byte(signObj(t, jose.ES256, keys.sig, "rp-sig", o.objectClaims(cl.ID, "by-reference"))), "")
	cb = o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request_uri": {reqURI}}))
	redeem(cb, "by-reference")

	// 3. Pushed, with plain parameters.
	status, par := o.push(t, cl.ID, cl.Secret, url.Values{"response_type": {"code"}, "redirect_uri": {rpRedirect},
		"scope": {"openid email"}, "state": {"pushed"}, "nonce": {"nonce-pushed"}, "code_challenge": {s256(pkceVerifier)}, "code_challenge_method": {"S256"}})
	ref, _ := par["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(ref, "urn:ietf:params:oauth:request_uri:") || par["expires_in"] != float64(60) {
		t.Fatalf("par: %d %v", status, par)
	}
	pushedURL := o.authorizeWith(url.Values{"client_id": {cl.ID}, "request_uri": {ref}})
	redeem(o.signIn(t, b, pushedURL), "pushed")
	// A pushed request is used once (RFC 9126 §4).
	if p := get(t, b, pushedURL); p.status != 400 || !strings.Contains(p.body, "invalid_request_uri") {
		t.Fatalf("second use of a pushed request: %d %v", p.status, p.loc)
	}

	// 4. Pushed, as a signed request object.
	status, par = o.push(t, cl.ID, cl.Secret, url.Values{"request": {signObj(t, jose.ES256, keys.sig, "rp-sig", o.objectClaims(cl.ID, "pushed-object"))}})
	if status != http.StatusCreated {
		t.Fatalf("par with an object: %d %v", status, par)
	}
	redeem(o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request_uri": {par["request_uri"].(string)}})), "pushed-object")

	// 5. Encrypted to the OP's published encryption key, signed inside.
	var opKeys jose.JSONWebKeySet
	r2, _ := http.Get(o.issuer + "/.well-known/jwks.json")
	decodeJSON(r2, &opKeys)
	r2.Body.Close()
	var opEnc *jose.JSONWebKey
	for i, k := range opKeys.Keys {
		if k.Use == "enc" && k.Algorithm == "RSA-OAEP-256" {
			opEnc = &opKeys.Keys[i]
			break
		}
	}
	if opEnc == nil {
		t.Fatalf("no RSA-OAEP-256 enc key in the JWKS: %+v", opKeys)
	}
	e, _ := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: opEnc.Key, KeyID: opEnc.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	enc, _ := e.Encrypt([]byte(signObj(t, jose.ES256, keys.sig, "rp-sig", o.objectClaims(cl.ID, "encrypted"))))
	encObj, _ := enc.CompactSerialize()
	redeem(o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request": {encObj}})), "encrypted")

	// The jwks_uri answer said max-age=300: fetched once for all of it.
	if n := host.hitsOf("/jwks"); n != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1 (Cache-Control: max-age=300)", n)
	}
}

// TestRequestObjectRefusals: every broken object is refused with the
// error the specs name, through the registered redirect URI, and no code
// is issued.
func TestRequestObjectRefusals(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	other := newRPKeys(t)
	reqURI := host.srv.URL + "/objects/r"
	_, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "jwks": json.RawMessage(keys.jwks(t)),
		"request_uris": []string{reqURI, host.srv.URL + "/objects/missing"}, "request_object_signing_alg": "ES256",
	})
	if cl.ID == "" {
		t.Fatalf("register: %v", cl.raw)
	}
	good := func(mod func(map[string]any)) map[string]any {
		c := o.objectClaims(cl.ID, "refusal")
		if mod != nil {
			mod(c)
		}
		return c
	}
	signed := func(mod func(map[string]any)) string { return signObj(t, jose.ES256, keys.sig, "rp-sig", good(mod)) }
	tampered := func() string {
		parts := strings.Split(signed(nil), ".")
		c := good(nil)
		c["scope"] = "openid profile email phone address"
		b, _ := json.Marshal(c)
		parts[1] = b64(b)
		return strings.Join(parts, ".")
	}
	replayed := signed(nil)
	host.set("/objects/r", []byte(signed(func(c map[string]any) { c["aud"] = "https://another-op.example" })), "")
	unsigned := func() string {
		b, _ := json.Marshal(good(nil))
		return b64([]byte(`{"alg":"none"}`)) + "." + b64(b) + "."
	}

	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams())) // a session, so a good object would get a code at once
	// The replayed object works the first time.
	if cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request": {replayed}})); cb.Query().Get("code") == "" {
		t.Fatalf("first use: %v", cb)
	}
	// An object that can be read (even if it does not verify) answers
	// with its own state; otherwise the request's ("outer") comes back.
	for _, tc := range []struct {
		name       string
		v          url.Values
		want       string
		outerState bool
	}{
		{"tampered", url.Values{"request": {tampered()}}, "invalid_request_object", false},
		{"expired", url.Values{"request": {signed(func(c map[string]any) { c["exp"] = o.clock.Now().Add(-time.Minute).Unix() })}}, "invalid_request_object", false},
		{"without exp", url.Values{"request": {signed(func(c map[string]any) { delete(c, "exp") })}}, "invalid_request_object", false},
		{"exp too far ahead", url.Values{"request": {signed(func(c map[string]any) { c["exp"] = o.clock.Now().Add(24 * time.Hour).Unix() })}}, "invalid_request_object", false},
		{"not yet valid", url.Values{"request": {signed(func(c map[string]any) { c["nbf"] = o.clock.Now().Add(time.Hour).Unix() })}}, "invalid_request_object", false},
		{"wrong audience", url.Values{"request": {signed(func(c map[string]any) { c["aud"] = "https://another-op.example" })}}, "invalid_request_object", false},
		{"wrong issuer", url.Values{"request": {signed(func(c map[string]any) { c["iss"] = "someone-else" })}}, "invalid_request_object", false},
		{"client_id differs", url.Values{"request": {signed(func(c map[string]any) { c["client_id"] = "rp" })}}, "invalid_request_object", false},
		{"replayed jti", url.Values{"request": {replayed}}, "invalid_request_object", false},
		{"signed by another key", url.Values{"request": {signObj(t, jose.ES256, other.sig, "rp-sig", good(nil))}}, "invalid_request_object", false},
		{"alg other than registered", url.Values{"request": {signObj(t, jose.RS256, other.enc, "rp-sig", good(nil))}}, "invalid_request_object", false},
		{"unsigned, none not registered", url.Values{"request": {unsigned()}}, "invalid_request_object", false},
		{"nested request_uri", url.Values{"request": {signed(func(c map[string]any) { c["request_uri"] = reqURI })}}, "invalid_request_object", true},
		{"not a JWT", url.Values{"request": {"not-a-jwt"}}, "invalid_request_object", true},
		{"encrypted to another key", url.Values{"request": {encryptTo(t, &other.enc.PublicKey, signed(nil))}}, "invalid_request_object", true},
		{"fetched object for another audience", url.Values{"request_uri": {reqURI}}, "invalid_request_object", false},
		{"unregistered request_uri", url.Values{"request_uri": {host.srv.URL + "/objects/other"}}, "invalid_request_uri", true},
		{"request_uri not found", url.Values{"request_uri": {host.srv.URL + "/objects/missing"}}, "invalid_request_uri", true},
		{"unknown pushed request", url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:nope"}}, "invalid_request_uri", true},
		{"request and request_uri", url.Values{"request": {signed(nil)}, "request_uri": {reqURI}}, "invalid_request", true},
		// RFC 9101 §4: the issuer is the one audience.
		{"audience list with another server", url.Values{"request": {signed(func(c map[string]any) { c["aud"] = []string{o.issuer, "https://another-op.example"} })}}, "invalid_request_object", false},
		// OIDC Core §6.1: response_type outside must match the object's,
		// and scope outside must ask for openid.
		{"response_type differs", url.Values{"response_type": {"none"}, "request": {signed(nil)}}, "invalid_request_object", false},
		{"outer scope without openid", url.Values{"scope": {"profile"}, "request": {signed(nil)}}, "invalid_request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			v.Set("client_id", cl.ID)
			v.Set("redirect_uri", rpRedirect)
			v.Set("state", "outer")
			p := get(t, b, o.authorizeWith(v))
			wantState := "refusal"
			if tc.outerState {
				wantState = "outer"
			}
			if p.loc == nil || p.loc.Query().Get("error") != tc.want || p.loc.Query().Get("state") != wantState || p.loc.Query().Has("code") {
				t.Fatalf("got %d %v %s, want error=%s state=%s", p.status, p.loc, p.body, tc.want, wantState)
			}
		})
	}
	// The client is known and the object names a registered redirect URI:
	// the error goes there, not to an error page, though nothing outside
	// the object says where to go.
	p := get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request": {tampered()}}))
	if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect+"?") || p.loc.Query().Get("error") != "invalid_request_object" || p.loc.Query().Get("state") != "refusal" {
		t.Fatalf("error with the object's redirect_uri: %d %v", p.status, p.loc)
	}
	// A redirect URI that is not registered is never used, whoever names
	// it: the request's own registered one is, or else the error page.
	evil := func() string {
		parts := strings.Split(tampered(), ".")
		c := good(func(c map[string]any) { c["redirect_uri"] = "https://attacker.example/cb" })
		parts[1] = b64(mustJSON(t, c))
		return strings.Join(parts, ".")
	}()
	p = get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "request": {evil}}))
	if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect+"?") || p.loc.Query().Get("error") != "invalid_request_object" {
		t.Fatalf("object with an unregistered redirect_uri: %d %v", p.status, p.loc)
	}
	p = get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request": {evil}}))
	if p.status != 400 || p.loc != nil || !strings.Contains(p.body, "invalid_request_object") {
		t.Fatalf("no registered redirect_uri anywhere: %d %v", p.status, p.loc)
	}
}

func encryptTo(t *testing.T, key any, plaintext string) string {
	e, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: key}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := e.Encrypt([]byte(plaintext))
	s, _ := obj.CompactSerialize()
	return s
}

// unsignedObj is an unsigned request object (alg none, OIDC Core §6.1).
func unsignedObj(t *testing.T, claims map[string]any) string {
	return b64([]byte(`{"alg":"none"}`)) + "." + b64(mustJSON(t, claims)) + "."
}

// TestUnsignedRequestObjects: discovery lists none, so a client that did
// not pin request_object_signing_alg may send an unsigned object (OIDC
// Dynamic Client Registration §2), as may one that registered none; a
// client pinned to a signing alg may not (TestRequestObjectRefusals).
// An unsigned object is worth no more than query parameters: its jti is
// not spent, so nobody can use up the jti of a client's signed object
// by sending it first, unsigned.
func TestUnsignedRequestObjects(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	_, pinnedNone := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "request_object_signing_alg": "none"})
	_, unpinned := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "jwks": json.RawMessage(keys.jwks(t))})
	b := browser(t)
	for _, cl := range []registered{pinnedNone, unpinned} {
		claims := o.objectClaims(cl.ID, "unsigned")
		delete(claims, "iss")
		delete(claims, "aud")
		delete(claims, "exp") // with a jti, which is not recorded
		obj := unsignedObj(t, claims)
		// As the OpenID conformance suite sends it: client_id,
		// response_type and scope outside too.
		cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {obj}}))
		if cb.Query().Get("state") != "unsigned" || cb.Query().Get("code") == "" {
			t.Fatalf("unsigned object of %s: %v", cl.ID, cb)
		}
		// With a signature part it is not an unsigned object.
		p := get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "request": {obj + "c2ln"}}))
		if p.loc == nil || p.loc.Query().Get("error") != "invalid_request_object" {
			t.Fatalf("none with a signature: %v", p.loc)
		}
	}

	// The attacker's move: the jti of an object the client signed but has
	// not used yet, sent first in an unsigned object.
	signed := o.objectClaims(unpinned.ID, "signed-later")
	forged := o.objectClaims(unpinned.ID, "forged")
	forged["jti"] = signed["jti"]
	delete(forged, "iss")
	delete(forged, "aud")
	if cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {unpinned.ID}, "request": {unsignedObj(t, forged)}})); cb.Query().Get("code") == "" {
		t.Fatalf("unsigned object with a jti: %v", cb)
	}
	cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {unpinned.ID}, "request": {signObj(t, jose.ES256, keys.sig, "rp-sig", signed)}}))
	if cb.Query().Get("state") != "signed-later" || cb.Query().Get("code") == "" {
		t.Fatalf("the signed object after an unsigned one with its jti: %v", cb)
	}
}

// TestRequireSignedRequestObjects: with requests.require_signed_request_object
// discovery says so and drops none, unsigned objects are refused from
// every client (through its redirect URI), and none cannot be
// registered.
func TestRequireSignedRequestObjects(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, func(c *node.Config) { c.Requests.RequireSigned = true })
	var md map[string]any
	r, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(r, &md)
	r.Body.Close()
	algs, _ := md["request_object_signing_alg_values_supported"].([]any)
	if md["require_signed_request_object"] != true || len(algs) == 0 || slices.Contains(algs, any("none")) {
		t.Fatalf("discovery: require_signed_request_object %v, algs %v", md["require_signed_request_object"], algs)
	}
	if status, r := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "request_object_signing_alg": "none"}); status != 400 || r.raw["error"] != "invalid_client_metadata" {
		t.Fatalf("registering none: %d %v", status, r.raw)
	}
	_, cl := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}})
	claims := o.objectClaims(cl.ID, "unsigned")
	p := get(t, browser(t), o.authorizeWith(url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {unsignedObj(t, claims)}}))
	if p.loc == nil || p.loc.Query().Get("error") != "invalid_request_object" || p.loc.Query().Get("state") != "unsigned" || p.loc.Query().Has("code") {
		t.Fatalf("unsigned object with signed ones required: %d %v %s", p.status, p.loc, p.body)
	}
}

// TestRequestObjectIsTheRequest: RFC 9101 §5, with a signed object the
// parameters outside it do not count, except client_id, response_type
// and scope (OIDC Core §6.1): an outer prompt=none, nonce or
// redirect_uri cannot be added to a pre-signed object.
func TestRequestObjectIsTheRequest(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	_, cl := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect, "http://127.0.0.1:9/other"}, "jwks": json.RawMessage(keys.jwks(t)),
		"request_object_signing_alg": "ES256"})
	claims := o.objectClaims(cl.ID, "object")
	delete(claims, "nonce")
	delete(claims, "scope")
	obj := signObj(t, jose.ES256, keys.sig, "rp-sig", claims)
	b := browser(t)
	// Outer prompt=none would answer login_required without a session:
	// ignored, the sign-in page is shown.
	p := get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid email"},
		"prompt": {"none"}, "nonce": {"outer-nonce"}, "redirect_uri": {"http://127.0.0.1:9/other"}, "request": {obj}}))
	if !p.isLogin() {
		t.Fatalf("outer prompt=none was applied: %d %v", p.status, p.loc)
	}
	p = o.login(t, b, p, userPassword)
	if p.isConsent() {
		if !strings.Contains(p.body, "email address") {
			t.Errorf("the outer scope (the object has none) is not the request's: %s", p.body)
		}
		p = o.consent(t, b, p, "allow")
	}
	if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect+"?") || p.loc.Query().Get("state") != "object" {
		t.Fatalf("answer went to %v, want the object's redirect_uri and state", p.loc)
	}
	status, tok := o.tokenRequestAs(t, cl.ID, cl.Secret, url.Values{"grant_type": {"authorization_code"}, "code": {p.loc.Query().Get("code")},
		"redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}})
	if status != 200 {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	if n, ok := idClaims(t, tok["id_token"].(string))["nonce"]; ok {
		t.Fatalf("the outer nonce %v reached the ID token", n)
	}
}

// TestRequestURIFetchGuard: with the guard on (the default), a request_uri
// on a loopback address is refused with invalid_request_uri and nothing
// is fetched; an oversized document is refused too.
func TestRequestURIFetchGuard(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, false, nil)
	keys := newRPKeys(t)
	uri := host.set("/objects/guarded", []byte(signObj(t, jose.ES256, keys.sig, "rp-sig", o.objectClaims("x", "x"))), "")
	_, cl := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "jwks": json.RawMessage(keys.jwks(t)),
		"request_uris": []string{uri}})
	p := get(t, browser(t), o.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "request_uri": {uri}}))
	if p.loc == nil || p.loc.Query().Get("error") != "invalid_request_uri" || !strings.Contains(p.loc.Query().Get("error_description"), "address not allowed") {
		t.Fatalf("loopback request_uri: %d %v", p.status, p.loc)
	}
	if n := host.hitsOf("/objects/guarded"); n != 0 {
		t.Fatalf("the guarded host was reached %d times", n)
	}

	// Allowed to reach loopback, but the document is over the limit.
	big := newRPHost(t)
	o2 := requestsOP(t, big, true, func(c *node.Config) { c.Requests.Fetch.MaxBytes = 1024 })
	uri = big.set("/objects/big", bytes.Repeat([]byte("a"), 4096), "")
	_, cl = o2.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "jwks": json.RawMessage(keys.jwks(t)),
		"request_uris": []string{uri}})
	p = get(t, browser(t), o2.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "request_uri": {uri}}))
	if p.loc == nil || p.loc.Query().Get("error") != "invalid_request_uri" || !strings.Contains(p.loc.Query().Get("error_description"), "too large") {
		t.Fatalf("oversized request_uri: %d %v", p.status, p.loc)
	}
}

// TestPushedAuthorizationRequests: client authentication, refusals, the
// 60 s lifetime, binding to the client, and PAR required globally and per
// client.
func TestPushedAuthorizationRequests(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	plain := url.Values{"response_type": {"code"}, "redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {"s"},
		"code_challenge": {s256(pkceVerifier)}, "code_challenge_method": {"S256"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range plain {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	for _, tc := range []struct {
		name, id, secret string
		v                url.Values
		status           int
		want             string
	}{
		{"no client authentication", "", "", plain, 401, "invalid_client"},
		{"wrong secret", "rp", "wrong-secret-0123456789abcdefghijkl", plain, 401, "invalid_client"},
		{"request_uri inside", "rp", rpSecret, with(url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:x"}}), 400, "invalid_request"},
		{"unregistered redirect_uri", "rp", rpSecret, with(url.Values{"redirect_uri": {"http://127.0.0.1:9/other"}}), 400, "invalid_request"},
		{"bad response_type", "rp", rpSecret, with(url.Values{"response_type": {"token"}}), 400, "unsupported_response_type"},
		{"bad request object", "rp", rpSecret, with(url.Values{"request": {"a.b.c"}}), 400, "invalid_request_object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := o.push(t, tc.id, tc.secret, tc.v)
			if status != tc.status || out["error"] != tc.want || out["request_uri"] != nil {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.status, tc.want)
			}
		})
	}

	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	// Bound to the client that pushed it: another client cannot use it,
	// and its attempt does not use it up.
	_, par := o.push(t, "rp", rpSecret, plain)
	ref := par["request_uri"].(string)
	if p := get(t, b, o.authorizeWith(url.Values{"client_id": {"rp-post"}, "request_uri": {ref}})); p.status != 400 || !strings.Contains(p.body, "invalid_request_uri") {
		t.Fatalf("another client's request_uri: %d %v", p.status, p.loc)
	}
	if cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {"rp"}, "request_uri": {ref}})); cb.Query().Get("code") == "" {
		t.Fatalf("owner after another client's attempt: %v", cb)
	}
	// Expired after 60 s.
	_, par = o.push(t, "rp", rpSecret, plain)
	o.clock.Advance(61 * time.Second)
	if p := get(t, b, o.authorizeWith(url.Values{"client_id": {"rp"}, "request_uri": {par["request_uri"].(string)}})); p.status != 400 || !strings.Contains(p.body, "invalid_request_uri") {
		t.Fatalf("expired pushed request: %d %v", p.status, p.loc)
	}

	// A client that requires PAR for itself.
	_, cl := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "require_pushed_authorization_requests": true})
	p := get(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"}}))
	if p.loc == nil || p.loc.Query().Get("error") != "invalid_request" || p.loc.Query().Has("code") {
		t.Fatalf("unpushed request of a PAR client: %v", p.loc)
	}
	_, par = o.push(t, cl.ID, cl.Secret, plain)
	if cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "request_uri": {par["request_uri"].(string)}})); cb.Query().Get("code") == "" {
		t.Fatalf("pushed request of a PAR client: %v", cb)
	}

	// PAR required for everyone, and discovery says so.
	o2 := requestsOP(t, host, true, func(c *node.Config) { c.Requests.RequirePAR = true })
	var md map[string]any
	r, _ := http.Get(o2.issuer + "/.well-known/openid-configuration")
	decodeJSON(r, &md)
	r.Body.Close()
	if md["require_pushed_authorization_requests"] != true {
		t.Error("discovery does not say PAR is required")
	}
	b2 := browser(t)
	if p := get(t, b2, o2.authorizeURL(baseParams())); p.loc == nil || p.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("unpushed request with PAR required: %v", p.loc)
	}
	_, par = o2.push(t, "rp", rpSecret, plain)
	if cb := o2.signIn(t, b2, o2.authorizeWith(url.Values{"client_id": {"rp"}, "request_uri": {par["request_uri"].(string)}})); cb.Query().Get("code") == "" {
		t.Fatalf("pushed request with PAR required: %v", cb)
	}
}

// TestDynamicRegistration: RFC 7591 registration behind the initial
// access token, metadata validation, and RFC 7592 read, update, delete.
func TestDynamicRegistration(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	ok := map[string]any{"redirect_uris": []string{rpRedirect}, "client_name": "Dyn"}
	before := clientCount(t, o)
	for _, tc := range []struct {
		name, token string
		md          map[string]any
		status      int
		want        string
	}{
		{"no token", "", ok, 401, "invalid_token"},
		{"wrong token", "not-the-initial-access-token", ok, 401, "invalid_token"},
		{"http redirect off loopback", initialToken, map[string]any{"redirect_uris": []string{"http://rp.example/cb"}}, 400, "invalid_redirect_uri"},
		{"no redirect_uris", initialToken, map[string]any{"client_name": "x"}, 400, "invalid_redirect_uri"},
		{"redirect with fragment", initialToken, map[string]any{"redirect_uris": []string{"https://rp.example/cb#f"}}, 400, "invalid_redirect_uri"},
		{"jwks and jwks_uri", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "jwks": json.RawMessage(keys.jwks(t)), "jwks_uri": "https://rp.example/jwks"}, 400, "invalid_client_metadata"},
		{"jwks_uri over http", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "jwks_uri": "http://rp.example/jwks"}, 400, "invalid_client_metadata"},
		{"unsupported request object alg", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "request_object_signing_alg": "HS256", "jwks": json.RawMessage(keys.jwks(t))}, 400, "invalid_client_metadata"},
		{"unsupported encryption enc", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A192GCM", "jwks": json.RawMessage(keys.jwks(t))}, 400, "invalid_client_metadata"},
		{"encryption without keys", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "userinfo_encrypted_response_alg": "RSA-OAEP"}, 400, "invalid_client_metadata"},
		{"ECDH-ES with only an RSA key", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "id_token_encrypted_response_alg": "ECDH-ES",
			"jwks": json.RawMessage(`{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: &keys.enc.PublicKey, Use: "enc"})) + `]}`)}, 400, "invalid_client_metadata"},
		{"request object encryption without OP key", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "request_object_encryption_alg": "ECDH-ES"}, 400, "invalid_client_metadata"},
		{"wrong JSON type", initialToken, map[string]any{"redirect_uris": rpRedirect}, 400, "invalid_client_metadata"},
		{"implicit response type", initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "response_types": []string{"id_token"}}, 400, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r := o.registerClient(t, tc.token, tc.md)
			if status != tc.status || r.raw["error"] != tc.want || r.ID != "" {
				t.Fatalf("got %d %v, want %d %s", status, r.raw, tc.status, tc.want)
			}
		})
	}
	for name, req := range map[string]*http.Request{
		"not JSON":  rawRegister(o.issuer, "text/plain", `{"redirect_uris":["`+rpRedirect+`"]}`),
		"too large": rawRegister(o.issuer, "application/json", `{"client_name":"`+strings.Repeat("a", 70<<10)+`"}`),
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		decodeJSON(resp, &out)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || out["client_id"] != nil {
			t.Errorf("%s: %d %v", name, resp.StatusCode, out)
		}
	}
	if n := clientCount(t, o); n != before {
		t.Fatalf("refused registrations stored clients: %d -> %d", before, n)
	}

	status, cl := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{"com.example.app:/cb", "http://127.0.0.1/cb"},
		"application_type": "native", "token_endpoint_auth_method": "none", "client_name": "Native"})
	if status != 201 || cl.Secret != "" || cl.raw["token_endpoint_auth_method"] != "none" {
		t.Fatalf("native public client: %d %v", status, cl.raw)
	}

	// RFC 7592: read, update, delete with the registration access token.
	call := func(method, token string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(mustJSON(t, body))
		}
		req, _ := http.NewRequest(method, cl.RegURI, rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		decodeJSON(resp, &out)
		return resp.StatusCode, out
	}
	if s, out := call("GET", cl.RegToken, nil); s != 200 || out["client_name"] != "Native" || out["registration_access_token"] != nil {
		t.Fatalf("read: %d %v", s, out)
	}
	for _, tok := range []string{"", "wrong", initialToken} {
		if s, out := call("GET", tok, nil); s != 401 || out["error"] != "invalid_token" {
			t.Fatalf("read with %q: %d %v", tok, s, out)
		}
	}
	// Another client's token does not open this one.
	_, other := o.registerClient(t, initialToken, ok)
	if s, _ := call("GET", other.RegToken, nil); s != 401 {
		t.Fatalf("read with another client's token: %d", s)
	}
	upd := map[string]any{"client_id": cl.ID, "redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none", "client_name": "Renamed"}
	if s, out := call("PUT", cl.RegToken, map[string]any{"client_id": "someone-else", "redirect_uris": []string{rpRedirect}}); s != 400 {
		t.Fatalf("update naming another client: %d %v", s, out)
	}
	if s, out := call("PUT", cl.RegToken, map[string]any{"client_id": cl.ID, "redirect_uris": []string{"http://rp.example/cb"}}); s != 400 || out["error"] != "invalid_redirect_uri" {
		t.Fatalf("invalid update: %d %v", s, out)
	}
	if s, out := call("PUT", cl.RegToken, map[string]any{"client_id": cl.ID, "client_secret": "not-its-secret", "redirect_uris": []string{rpRedirect}}); s != 400 {
		t.Fatalf("update with a wrong client_secret: %d %v", s, out)
	}
	if s, out := call("PUT", cl.RegToken, upd); s != 200 || out["client_name"] != "Renamed" || len(out["redirect_uris"].([]any)) != 1 {
		t.Fatalf("update: %d %v", s, out)
	}
	got, err := o.n.Directory().Client(context.Background(), cl.ID)
	if err != nil || got.Name != "Renamed" {
		t.Fatalf("stored after update: %+v %v", got, err)
	}
	if s, _ := call("DELETE", cl.RegToken, nil); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if _, err := o.n.Directory().Client(context.Background(), cl.ID); err == nil {
		t.Fatal("client still there after delete")
	}
	if s, _ := call("GET", cl.RegToken, nil); s != 401 {
		t.Fatalf("read after delete: %d", s)
	}
	// A static client has no registration token to be managed with.
	req, _ := http.NewRequest("GET", o.issuer+"/register/rp", nil)
	req.Header.Set("Authorization", "Bearer "+initialToken)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Fatalf("static client through RFC 7592: %d", resp.StatusCode)
	}
}

// TestAdminIssuedInitialTokens: with only the admin API on, registration
// takes single-use tokens the operator issues.
func TestAdminIssuedInitialTokens(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.RateLimit.Enabled = false })
	md := discoveryDoc(t, o)
	if md["registration_endpoint"] != o.issuer+"/register" {
		t.Fatalf("registration_endpoint %v with the admin API on", md["registration_endpoint"])
	}
	issue := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", o.issuer+"/admin/registration-tokens", strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		decodeJSON(resp, &out)
		return resp.StatusCode, out
	}
	md2 := map[string]any{"redirect_uris": []string{rpRedirect}}
	if status, _ := o.registerClient(t, "", md2); status != 401 {
		t.Fatalf("without a token: %d", status)
	}
	status, out := issue("")
	tok, _ := out["initial_access_token"].(string)
	if status != 201 || tok == "" {
		t.Fatalf("issue: %d %v", status, out)
	}
	// A refused registration does not spend the token: neither a body
	// refused as it is read nor metadata refused when the client is
	// built (an algorithm the node has no key for).
	if status, r := o.registerClient(t, tok, map[string]any{"redirect_uris": []string{"http://rp.example/cb"}}); status != 400 || r.raw["error"] != "invalid_redirect_uri" {
		t.Fatalf("bad body: %d %v", status, r.raw)
	}
	for _, bad := range []map[string]any{
		{"redirect_uris": []string{rpRedirect}, "id_token_signed_response_alg": "HS256"},
		{"redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "private_key_jwt"},
	} {
		if status, r := o.registerClient(t, tok, bad); status != 400 || r.raw["error"] != "invalid_client_metadata" {
			t.Fatalf("bad metadata %v: %d %v", bad, status, r.raw)
		}
	}
	if status, cl := o.registerClient(t, tok, md2); status != 201 || cl.ID == "" {
		t.Fatalf("with an issued token: %d %v", status, cl.raw)
	}
	if status, _ := o.registerClient(t, tok, md2); status != 401 {
		t.Fatalf("second use of an issued token: %d", status)
	}
	_, out = issue(`{"ttl":"1m"}`)
	tok = out["initial_access_token"].(string)
	o.clock.Advance(2 * time.Minute)
	if status, _ := o.registerClient(t, tok, md2); status != 401 {
		t.Fatalf("expired issued token: %d", status)
	}
	if status, _ := issue(`{"ttl":"forever"}`); status != 400 {
		t.Fatalf("bad ttl: %d", status)
	}
}

func rawRegister(issuer, contentType, body string) *http.Request {
	req, _ := http.NewRequest("POST", issuer+"/register", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+initialToken)
	return req
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func clientCount(t *testing.T, o *op) int {
	list, err := o.n.Directory().ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestRegistrationOffByDefaultAndOpen: without open, a token or the
// admin API there is no /register and discovery does not name one; open
// registration needs no token.
func TestRegistrationOffByDefaultAndOpen(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.RateLimit.Enabled = false; c.Admin.Token = "" })
	md := discoveryDoc(t, o)
	if _, ok := md["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised while registration is off")
	}
	if _, ok := md["request_object_encryption_alg_values_supported"]; ok {
		t.Error("request object encryption advertised without encryption keys")
	}
	if status, _ := o.registerClient(t, "", map[string]any{"redirect_uris": []string{rpRedirect}}); status != 404 && status != 405 {
		t.Fatalf("register while off: %d", status)
	}

	open := startOPWith(t, func(c *node.Config) { c.Registration.Open = true; c.RateLimit.Enabled = false })
	if md := discoveryDoc(t, open); md["registration_endpoint"] != open.issuer+"/register" {
		t.Errorf("registration_endpoint %v", md["registration_endpoint"])
	}
	if status, cl := open.registerClient(t, "", map[string]any{"redirect_uris": []string{rpRedirect}}); status != 201 || cl.ID == "" {
		t.Fatalf("open registration: %d %v", status, cl.raw)
	}
}

func discoveryDoc(t *testing.T, o *op) map[string]any {
	r, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var md map[string]any
	decodeJSON(r, &md)
	return md
}

// TestDiscoveryAdvertisesRequestsTruthfully: what discovery lists for
// request objects, PAR, registration and encryption matches the node's
// keys and config.
func TestDiscoveryAdvertisesRequestsTruthfully(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	md := discoveryDoc(t, o)
	strs := func(k string) []string {
		var out []string
		l, _ := md[k].([]any)
		for _, v := range l {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	for k, want := range map[string][]string{
		"request_object_signing_alg_values_supported":    {"RS256", "PS256", "ES256", "EdDSA", "none"},
		"request_object_encryption_alg_values_supported": {"RSA-OAEP-256"},
		"request_object_encryption_enc_values_supported": {"A128GCM", "A256GCM", "A128CBC-HS256"},
		"id_token_encryption_alg_values_supported":       {"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"},
		"id_token_encryption_enc_values_supported":       {"A128GCM", "A256GCM", "A128CBC-HS256"},
		"userinfo_signing_alg_values_supported":          {"RS256", "ES256"},
		"userinfo_encryption_alg_values_supported":       {"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"},
		"id_token_signing_alg_values_supported":          {"RS256", "ES256"},
	} {
		if got := strs(k); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	for k, want := range map[string]any{
		"pushed_authorization_request_endpoint": o.issuer + "/par", "registration_endpoint": o.issuer + "/register",
		"request_parameter_supported": true, "request_uri_parameter_supported": true, "require_request_uri_registration": true,
		"require_pushed_authorization_requests": false,
	} {
		if md[k] != want {
			t.Errorf("%s = %v, want %v", k, md[k], want)
		}
	}
	// The advertised encryption key is in the JWKS, as "use":"enc".
	var set jose.JSONWebKeySet
	r, _ := http.Get(o.issuer + "/.well-known/jwks.json")
	decodeJSON(r, &set)
	r.Body.Close()
	enc := 0
	for _, k := range set.Keys {
		if k.Use == "enc" {
			enc++
			if k.Algorithm != "RSA-OAEP-256" || !k.IsPublic() {
				t.Errorf("enc key %s %s", k.KeyID, k.Algorithm)
			}
		}
	}
	if enc != 2 {
		t.Errorf("%d enc keys in the JWKS, want the active and the next", enc)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestEncryptionToJWKSURIKeys: a private_key_jwt client whose keys are at
// its jwks_uri gets ECDH-ES encrypted ID tokens and encrypted (unsigned)
// userinfo; when its encryption key disappears it gets an error, never an
// unencrypted token.
func TestEncryptionToJWKSURIKeys(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	sig, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := func(withEnc bool) []byte {
		keys := []jose.JSONWebKey{{Key: &sig.PublicKey, KeyID: "s", Use: "sig", Algorithm: "ES256"}}
		if withEnc {
			keys = append(keys, jose.JSONWebKey{Key: &enc.PublicKey, KeyID: "e", Use: "enc"})
		}
		return mustJSON(t, jose.JSONWebKeySet{Keys: keys})
	}
	jwksURI := host.set("/keys", set(true), "no-store")
	status, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwksURI,
		"grant_types": []string{"authorization_code"}, "id_token_encrypted_response_alg": "ECDH-ES+A128KW",
		"id_token_encrypted_response_enc": "A128GCM", "userinfo_encrypted_response_alg": "ECDH-ES",
	})
	if status != 201 || cl.Secret != "" {
		t.Fatalf("register: %d %v", status, cl.raw)
	}
	b := browser(t)
	code := func() string {
		cb := o.signIn(t, b, o.authorizeWith(url.Values{"client_id": {cl.ID}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
			"scope": {"openid email"}, "state": {"s"}, "nonce": {"n"}, "code_challenge": {s256(pkceVerifier)}, "code_challenge_method": {"S256"}}))
		return cb.Query().Get("code")
	}
	redeem := func(code string) (int, map[string]any) {
		assertion := signObj(t, jose.ES256, sig, "s", map[string]any{"iss": cl.ID, "sub": cl.ID, "aud": o.issuer,
			"jti": fmt.Sprint(time.Now().UnixNano()), "exp": o.clock.Now().Add(time.Minute).Unix()})
		return o.tokenRequest(t, "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	}
	status, tok := redeem(code())
	if status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}
	jwe, err := jose.ParseEncryptedCompact(tok["id_token"].(string), []jose.KeyAlgorithm{jose.ECDH_ES_A128KW}, []jose.ContentEncryption{jose.A128GCM})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := jwe.Decrypt(enc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: cl.ID, Now: o.clock.Now}).Verify(ctx, string(inner)); err != nil {
		t.Fatalf("inner ID token: %v", err)
	}
	// Userinfo encrypted, not signed: the plaintext is the JSON.
	req, _ := http.NewRequest("GET", o.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jwe, err = jose.ParseEncryptedCompact(string(body), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		t.Fatalf("userinfo %d %s: %v", resp.StatusCode, body, err)
	}
	pt, err := jwe.Decrypt(enc)
	var ui map[string]any
	if err != nil || json.Unmarshal(pt, &ui) != nil || ui["sub"] != o.user.Subject || ui["email"] != "alice@example.com" {
		t.Fatalf("userinfo plaintext %s: %v", pt, err)
	}

	// PAR with private_key_jwt: the assertion names the issuer, as at
	// every endpoint (draft-ietf-oauth-rfc7523bis).
	parAssertion := signObj(t, jose.ES256, sig, "s", map[string]any{"iss": cl.ID, "sub": cl.ID, "aud": o.issuer,
		"jti": fmt.Sprint(time.Now().UnixNano()), "exp": o.clock.Now().Add(time.Minute).Unix()})
	status, par := o.push(t, "", "", url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "redirect_uri": {rpRedirect}, "scope": {"openid"},
		"code_challenge": {s256(pkceVerifier)}, "code_challenge_method": {"S256"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {parAssertion}})
	if status != 201 {
		t.Fatalf("par with private_key_jwt: %d %v", status, par)
	}

	// The client's encryption key is gone: no token at all.
	host.set("/keys", set(false), "no-store")
	status, tok = redeem(code())
	if status == 200 || tok["id_token"] != nil || tok["access_token"] != nil {
		t.Fatalf("without an encryption key: %d %v", status, tok)
	}
}

// tokenRequestAs posts to /token as client id with secret (Basic auth).
func (o *op) tokenRequestAs(t *testing.T, id, secret string, v url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	return resp.StatusCode, out
}
