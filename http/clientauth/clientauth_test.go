package clientauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/clientauth"
	"authrim/http/oauth2"
	"authrim/persistence"
)

const (
	issuer        = "https://op.example"
	tokenEndpoint = issuer + "/token"
	// basicSecret holds characters that RFC 6749 §2.3.1 makes the client
	// form-urlencode before it builds the Basic credentials.
	basicSecret = "s3cr:t+/%=&é"
	postSecret  = "post-secret-0123456789"
)

var now = time.Unix(1_700_000_000, 0)

// fakeDir is the directory as clientauth sees it: clients by id and the
// assertion ids already used.
type fakeDir struct {
	mu      sync.Mutex
	clients map[string]directory.Client
	used    map[string]bool
	// lookupErr and jtiErr, when set, are what the store answers.
	lookupErr, jtiErr error
}

func (d *fakeDir) Client(_ context.Context, id string) (directory.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lookupErr != nil {
		return directory.Client{}, d.lookupErr
	}
	c, ok := d.clients[id]
	if !ok {
		return directory.Client{}, fmt.Errorf("%w: client %q", directory.ErrNotFound, id)
	}
	return c, nil
}

func (d *fakeDir) UseJTI(_ context.Context, clientID, jti string, _ time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.jtiErr != nil {
		return d.jtiErr
	}
	k := clientID + "\x00" + jti
	if d.used[k] {
		return fmt.Errorf("%w: client %q", directory.ErrReplay, clientID)
	}
	d.used[k] = true
	return nil
}

// signingKey is a client's private key and the public JWK it registered.
type signingKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func (k signingKey) public(use string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: use}
}

var keys = sync.OnceValue(func() map[string]signingKey {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]signingKey{
		"es":    {jose.ES256, "es", ec},
		"ed":    {jose.EdDSA, "ed", ed},
		"rs":    {jose.RS256, "rs", rs},
		"other": {jose.ES256, "es", other}, // an attacker's key with a registered kid
	}
})

func jwks(t *testing.T, ks ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newDir(t *testing.T) *fakeDir {
	k := keys()
	all := jwks(t, k["es"].public("sig"), k["ed"].public("sig"), k["rs"].public(""))
	return &fakeDir{used: map[string]bool{}, clients: map[string]directory.Client{
		"basic-rp":  {ID: "basic-rp", SecretHash: directory.HashClientSecret(basicSecret), ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic"}},
		"post-rp":   {ID: "post-rp", SecretHash: directory.HashClientSecret(postSecret), ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_post"}},
		"public-rp": {ID: "public-rp", ClientMetadata: directory.ClientMetadata{AuthMethod: "none"}},
		"jwt-rp":    {ID: "jwt-rp", ClientMetadata: directory.ClientMetadata{AuthMethod: "private_key_jwt", JWKS: all}},
		// OIDC Dynamic Client Registration §2:
		// token_endpoint_auth_signing_alg names the only alg accepted.
		"jwt-es-only": {
			ID: "jwt-es-only",
			ClientMetadata: directory.ClientMetadata{
				TokenEndpointAuthSigningAlg: "ES256",
				AuthMethod:                  "private_key_jwt",
				JWKS:                        all,
			},
		},
		// Its only key is for encryption: it cannot sign assertions.
		"jwt-enc-key": {ID: "jwt-enc-key", ClientMetadata: directory.ClientMetadata{AuthMethod: "private_key_jwt", JWKS: jwks(t, k["es"].public("enc"))}},
	}}
}

// assert signs claims (a map, so aud may be a string or an array) with k.
func assert(t *testing.T, k signingKey, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var jtis struct {
	sync.Mutex
	n int
}

// claims of a valid assertion of client id (RFC 7523 §3), changed by edit.
func claims(id string, edit func(m map[string]any)) map[string]any {
	jtis.Lock()
	jtis.n++
	jti := fmt.Sprintf("jti-%d", jtis.n)
	jtis.Unlock()
	m := map[string]any{
		"iss": id, "sub": id, "aud": issuer, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if edit != nil {
		edit(m)
	}
	return m
}

// request is one call to the test endpoint.
type request struct {
	basicUser, basicPass string // Basic credentials as sent (already encoded)
	basic                bool
	form                 url.Values
}

// serve mounts a token-endpoint-like route that authenticates the
// client the way the token, revocation and introspection endpoints do.
func serve(a *clientauth.Authenticator) *echo.Echo {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := echo.New()
	e.POST("/token", func(c echo.Context) error {
		if err := c.Request().ParseForm(); err != nil {
			return oauth2.Write(c, logger, oauth2.ErrInvalidRequest)
		}
		cl, err := a.Authenticate(c.Request(), c.Request().PostForm)
		if err != nil {
			return oauth2.Write(c, logger, err)
		}
		return c.JSON(http.StatusOK, map[string]string{"client_id": cl.ID})
	})
	return e
}

type answer struct {
	status int
	header http.Header
	body   map[string]string
}

func (rq request) do(t *testing.T, e *echo.Echo) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(rq.form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rq.basic {
		r.SetBasicAuth(rq.basicUser, rq.basicPass)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", w.Code, w.Body.String())
	}
	return answer{w.Code, w.Header(), body}
}

func basic(id, secret string, form url.Values) request {
	return request{basic: true, basicUser: url.QueryEscape(id), basicPass: url.QueryEscape(secret), form: form}
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func assertionForm(a string, kv ...string) url.Values {
	return formOf(append([]string{"client_assertion_type", clientauth.AssertionType, "client_assertion", a}, kv...)...)
}

// check compares an answer with the expected status and error code; a
// 200 must name client, an invalid_client must carry the challenge.
func (a answer) check(t *testing.T, status int, code, client, desc string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d %v, want %d", a.status, a.body, status)
	}
	if status == http.StatusOK {
		if a.body["client_id"] != client {
			t.Errorf("authenticated %q, want %q", a.body["client_id"], client)
		}
		return
	}
	if a.body["error"] != code {
		t.Errorf("error %q (%s), want %q", a.body["error"], a.body["error_description"], code)
	}
	if !strings.Contains(a.body["error_description"], desc) {
		t.Errorf("error_description %q should mention %q", a.body["error_description"], desc)
	}
	// RFC 6749 §5.2: a 401 invalid_client carries a WWW-Authenticate
	// challenge.
	if code == "invalid_client" && a.header.Get("WWW-Authenticate") != `Basic realm="authrim"` {
		t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
}

// TestSecretMethods: client_secret_basic, client_secret_post and none
// (RFC 6749 §2.3.1, OIDC Core §9), one method a request, the registered
// one only.
func TestSecretMethods(t *testing.T) {
	e := serve(&clientauth.Authenticator{Dir: newDir(t), Issuer: issuer, Now: func() time.Time { return now }})
	k := keys()
	badCreds := "unknown client or bad credentials"
	for _, tc := range []struct {
		name   string
		req    request
		status int
		code   string
		client string
		desc   string
	}{
		// RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic.
		{"basic", basic("basic-rp", basicSecret, nil), 200, "", "basic-rp", ""},
		{"basic with matching client_id", basic("basic-rp", basicSecret, formOf("client_id", "basic-rp")), 200, "", "basic-rp", ""},
		// A decoder takes any percent-encoding, needed or not.
		{"basic with a percent-encoded client_id", request{basic: true, basicUser: "basic%2Drp", basicPass: url.QueryEscape(basicSecret)}, 200, "", "basic-rp", ""},
		{"basic not form-urlencoded", request{basic: true, basicUser: "basic-rp", basicPass: basicSecret}, 401, "invalid_client", "", "malformed basic credentials"},
		// A '+' sent raw is a space once decoded: the secret is wrong.
		{"basic with a raw plus", request{basic: true, basicUser: "basic-rp", basicPass: strings.NewReplacer("%", "%25", "&", "%26", "é", "%C3%A9").Replace(basicSecret)}, 401, "invalid_client", "", badCreds},
		{"basic wrong secret", basic("basic-rp", "wrong", nil), 401, "invalid_client", "", badCreds},
		{"basic empty secret", basic("basic-rp", "", nil), 401, "invalid_client", "", badCreds},
		// Same answer as a wrong secret: no client enumeration.
		{"basic unknown client", basic("nobody", basicSecret, nil), 401, "invalid_client", "", badCreds},
		{"basic for a post client", basic("post-rp", postSecret, nil), 401, "invalid_client", "", "registered for client_secret_post"},
		{"basic for a public client", basic("public-rp", "", nil), 401, "invalid_client", "", "registered for none"},

		{"post", request{form: formOf("client_id", "post-rp", "client_secret", postSecret)}, 200, "", "post-rp", ""},
		{"post wrong secret", request{form: formOf("client_id", "post-rp", "client_secret", "wrong")}, 401, "invalid_client", "", badCreds},
		{"post unknown client", request{form: formOf("client_id", "nobody", "client_secret", postSecret)}, 401, "invalid_client", "", badCreds},
		{"post without client_id", request{form: formOf("client_secret", postSecret)}, 401, "invalid_client", "", badCreds},
		{"post for a basic client", request{form: formOf("client_id", "basic-rp", "client_secret", basicSecret)}, 401, "invalid_client", "", "registered for client_secret_basic"},
		{"post for a public client", request{form: formOf("client_id", "public-rp", "client_secret", "x")}, 401, "invalid_client", "", "registered for none"},

		// OIDC Core §9 "none": a public client names itself only.
		{"none", request{form: formOf("client_id", "public-rp")}, 200, "", "public-rp", ""},
		{"none for a basic client", request{form: formOf("client_id", "basic-rp")}, 401, "invalid_client", "", "client authentication required"},
		{"none for a private_key_jwt client", request{form: formOf("client_id", "jwt-rp")}, 401, "invalid_client", "", "client authentication required"},
		{"none unknown client", request{form: formOf("client_id", "nobody")}, 401, "invalid_client", "", badCreds},
		{"no credentials at all", request{form: url.Values{}}, 401, "invalid_client", "", "client authentication required"},

		// RFC 6749 §2.3: a client MUST NOT use more than one method in
		// a request.
		{"basic and post", basic("basic-rp", basicSecret, formOf("client_secret", postSecret)), 400, "invalid_request", "", "exactly one"},
		{"basic and assertion", basic("basic-rp", basicSecret, assertionForm(assert(t, k["es"], claims("jwt-rp", nil)))), 400, "invalid_request", "", "exactly one"},
		{"post and assertion", request{form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil)), "client_id", "post-rp", "client_secret", postSecret)}, 400, "invalid_request", "", "exactly one"},
		{"basic and another client_id", basic("basic-rp", basicSecret, formOf("client_id", "post-rp")), 400, "invalid_request", "", "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.do(t, e).check(t, tc.status, tc.code, tc.client, tc.desc)
		})
	}
}

// TestPrivateKeyJWT: client assertions (RFC 7523 §3, OIDC Core §9).
func TestPrivateKeyJWT(t *testing.T) {
	k := keys()
	strict := &clientauth.Authenticator{Issuer: issuer, Now: func() time.Time { return now }}
	// client_auth.accept_token_endpoint_audience: the token endpoint
	// is accepted too, still as a single string.
	withEndpoint := &clientauth.Authenticator{Issuer: issuer, TokenEndpoint: tokenEndpoint, Now: func() time.Time { return now }}
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of 32 bytes!!!!!")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hmac := func() string {
		b, _ := json.Marshal(claims("jwt-rp", nil))
		jws, err := hs.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	unsigned := func() string {
		b, _ := json.Marshal(claims("jwt-rp", nil))
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + "."
	}
	set := func(name string, v any) func(map[string]any) { return func(m map[string]any) { m[name] = v } }
	del := func(name string) func(map[string]any) { return func(m map[string]any) { delete(m, name) } }
	sigInvalid := "signature invalid"
	for _, tc := range []struct {
		name   string
		auth   *clientauth.Authenticator // nil: strict
		setup  func(d *fakeDir)
		form   url.Values
		status int
		code   string
		client string
		desc   string
	}{
		{name: "ES256", form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil))), status: 200, client: "jwt-rp"},
		{name: "EdDSA", form: assertionForm(assert(t, k["ed"], claims("jwt-rp", nil))), status: 200, client: "jwt-rp"},
		{name: "RS256 key with no use", form: assertionForm(assert(t, k["rs"], claims("jwt-rp", nil))), status: 200, client: "jwt-rp"},
		{name: "with matching client_id", form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil)), "client_id", "jwt-rp"), status: 200, client: "jwt-rp"},
		{name: "with another client_id", form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil)), "client_id", "jwt-es-only"), status: 401, code: "invalid_client", desc: "does not match"},
		// RFC 7523 §2.2: the one assertion type.
		{name: "wrong assertion type", form: formOf("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "client_assertion", assert(t, k["es"], claims("jwt-rp", nil))), status: 400, code: "invalid_request", desc: "client_assertion_type"},
		{name: "no assertion type", form: formOf("client_assertion", assert(t, k["es"], claims("jwt-rp", nil))), status: 400, code: "invalid_request", desc: "client_assertion_type"},
		{name: "not a JWT", form: assertionForm("not.a.jwt"), status: 401, code: "invalid_client", desc: "malformed"},
		{name: "too large", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("pad", strings.Repeat("x", 8192))))), status: 401, code: "invalid_client", desc: "too large"},
		// An HMAC keyed with something public, or no signature at all,
		// must not pass for a signature (RFC 8725 §3.1).
		{name: "HS256", form: assertionForm(hmac()), status: 401, code: "invalid_client", desc: "malformed"},
		{name: "alg none", form: assertionForm(unsigned()), status: 401, code: "invalid_client", desc: "malformed"},
		{name: "signed by an unregistered key", form: assertionForm(assert(t, k["other"], claims("jwt-rp", nil))), status: 401, code: "invalid_client", desc: sigInvalid},
		{name: "key registered for encryption", form: assertionForm(assert(t, k["es"], claims("jwt-enc-key", nil))), status: 401, code: "invalid_client", desc: sigInvalid},
		{name: "unknown client", form: assertionForm(assert(t, k["es"], claims("nobody", nil))), status: 401, code: "invalid_client", desc: "unknown client or bad credentials"},
		{name: "client registered for a secret", form: assertionForm(assert(t, k["es"], claims("basic-rp", nil))), status: 401, code: "invalid_client", desc: "unknown client or bad credentials"},

		// RFC 7523 §3 items 1 and 2: iss and sub are the client_id.
		{name: "sub another client", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("sub", "jwt-es-only")))), status: 401, code: "invalid_client", desc: "iss and sub"},
		{name: "no sub", form: assertionForm(assert(t, k["es"], claims("jwt-rp", del("sub")))), status: 401, code: "invalid_client", desc: "iss and sub"},
		// RFC 7523 §3 items 4 and 7: exp is required; jti lets us refuse
		// replays (OIDC Core §9 requires it).
		{name: "no exp", form: assertionForm(assert(t, k["es"], claims("jwt-rp", del("exp")))), status: 401, code: "invalid_client", desc: "exp and jti"},
		{name: "no jti", form: assertionForm(assert(t, k["es"], claims("jwt-rp", del("jti")))), status: 401, code: "invalid_client", desc: "exp and jti"},
		{name: "expired", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("exp", now.Add(-time.Minute).Unix())))), status: 401, code: "invalid_client", desc: "expired"},
		{name: "not yet valid", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("nbf", now.Add(5*time.Minute).Unix())))), status: 401, code: "invalid_client", desc: "not yet valid"},
		// A far exp would make the jti record live as long.
		{name: "exp too far", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("exp", now.Add(clientauth.MaxAssertionLifetime+time.Minute).Unix())))), status: 401, code: "invalid_client", desc: "too far"},

		// RFC 7523 §3 item 3 as narrowed by draft-ietf-oauth-rfc7523bis
		// §4: aud is the issuer, as a single string.
		{name: "aud array of the issuer", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", []string{issuer})))), status: 401, code: "invalid_client", desc: "single string"},
		{name: "aud array with another server", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", []string{"https://other.example", issuer})))), status: 401, code: "invalid_client", desc: "single string"},
		{name: "no aud", form: assertionForm(assert(t, k["es"], claims("jwt-rp", del("aud")))), status: 401, code: "invalid_client", desc: "aud"},
		{name: "aud another server", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", "https://other.example")))), status: 401, code: "invalid_client", desc: "issuer identifier"},
		{name: "aud token endpoint when not accepted", form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", tokenEndpoint)))), status: 401, code: "invalid_client", desc: "issuer identifier"},
		{name: "aud token endpoint when accepted", auth: withEndpoint, form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", tokenEndpoint)))), status: 200, client: "jwt-rp"},
		{name: "aud issuer when the endpoint is accepted", auth: withEndpoint, form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil))), status: 200, client: "jwt-rp"},
		{name: "aud token endpoint array when accepted", auth: withEndpoint, form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", []string{tokenEndpoint})))), status: 401, code: "invalid_client", desc: "single string"},
		{name: "aud another endpoint when the endpoint is accepted", auth: withEndpoint, form: assertionForm(assert(t, k["es"], claims("jwt-rp", set("aud", issuer+"/introspect")))), status: 401, code: "invalid_client", desc: "issuer identifier"},

		// OIDC Dynamic Client Registration §2:
		// token_endpoint_auth_signing_alg.
		{name: "registered alg", form: assertionForm(assert(t, k["es"], claims("jwt-es-only", nil))), status: 200, client: "jwt-es-only"},
		{name: "another alg than registered", form: assertionForm(assert(t, k["ed"], claims("jwt-es-only", nil))), status: 401, code: "invalid_client", desc: "must be signed with ES256"},

		{name: "jti store down", setup: func(d *fakeDir) { d.jtiErr = fmt.Errorf("directory: use jti: %w", persistence.ErrClosed) },
			form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil))), status: 503, code: "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDir(t)
			if tc.setup != nil {
				tc.setup(d)
			}
			a := *strict
			if tc.auth != nil {
				a = *tc.auth
			}
			a.Dir = d
			request{form: tc.form}.do(t, serve(&a)).check(t, tc.status, tc.code, tc.client, tc.desc)
		})
	}
}

// TestAssertionReplay: RFC 7523 §3 item 7, OIDC Core §9: an assertion's
// jti is used once. The same jti from another client is its own.
func TestAssertionReplay(t *testing.T) {
	k := keys()
	d := newDir(t)
	e := serve(&clientauth.Authenticator{Dir: d, Issuer: issuer, Now: func() time.Time { return now }})
	same := func(m map[string]any) { m["jti"] = "once" }
	first := assert(t, k["es"], claims("jwt-rp", same))
	for _, tc := range []struct {
		name      string
		assertion string
		status    int
		client    string
	}{
		{"first use", first, 200, "jwt-rp"},
		{"replayed", first, 401, ""},
		{"same jti newly signed", assert(t, k["ed"], claims("jwt-rp", same)), 401, ""},
		{"same jti of another client", assert(t, k["es"], claims("jwt-es-only", same)), 200, "jwt-es-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := request{form: assertionForm(tc.assertion)}.do(t, e)
			desc := ""
			if tc.status != 200 {
				desc = "already used"
			}
			a.check(t, tc.status, "invalid_client", tc.client, desc)
		})
	}
}

// TestClientKeys: the Keys hook (jwks_uri) replaces the registered jwks,
// and a client whose keys cannot be had is not authenticated.
func TestClientKeys(t *testing.T) {
	k := keys()
	for _, tc := range []struct {
		name   string
		keys   func(ctx context.Context, c directory.Client, kid string) ([]byte, error)
		signer signingKey
		status int
		desc   string
	}{
		{"fetched key", func(context.Context, directory.Client, string) ([]byte, error) {
			return jwks(t, k["other"].public("sig")), nil
		}, k["other"], 200, ""},
		{"registered key not in the fetched set", func(context.Context, directory.Client, string) ([]byte, error) {
			return jwks(t, k["other"].public("sig")), nil
		}, k["es"], 401, "signature invalid"},
		{"fetch fails", func(context.Context, directory.Client, string) ([]byte, error) {
			return nil, errors.New("jwks_uri: connection refused")
		}, k["es"], 401, "could not be retrieved"},
		{"not a key set", func(context.Context, directory.Client, string) ([]byte, error) {
			return []byte(`<html>`), nil
		}, k["es"], 401, "no usable keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := serve(&clientauth.Authenticator{Dir: newDir(t), Issuer: issuer, Now: func() time.Time { return now }, Keys: tc.keys})
			a := request{form: assertionForm(assert(t, tc.signer, claims("jwt-rp", nil)))}.do(t, e)
			client := ""
			if tc.status == 200 {
				client = "jwt-rp"
			}
			a.check(t, tc.status, "invalid_client", client, tc.desc)
		})
	}
}

// TestLimit: clients are counted by who they proved to be, once
// authenticated, never by a client_id anybody can claim; the hook's
// error is the answer.
func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     request
		limited map[string]bool
		status  int
		code    string
		counted []string
	}{
		{"authenticated", basic("basic-rp", basicSecret, nil), nil, 200, "", []string{"basic-rp"}},
		{"public client", request{form: formOf("client_id", "public-rp")}, nil, 200, "", []string{"public-rp"}},
		{"wrong secret is not counted", basic("basic-rp", "wrong", nil), nil, 401, "invalid_client", nil},
		{"claimed client_id is not counted", request{form: formOf("client_id", "post-rp")}, nil, 401, "invalid_client", nil},
		{"mixed methods are not counted", basic("basic-rp", basicSecret, formOf("client_secret", postSecret)), nil, 400, "invalid_request", nil},
		{"over the limit", basic("basic-rp", basicSecret, nil), map[string]bool{"basic-rp": true}, 429, "rate_limited", []string{"basic-rp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var counted []string
			a := &clientauth.Authenticator{Dir: newDir(t), Issuer: issuer, Now: func() time.Time { return now },
				Limit: func(_ context.Context, id string) error {
					mu.Lock()
					defer mu.Unlock()
					counted = append(counted, id)
					if tc.limited[id] {
						return oauth2.ErrRateLimited.WithRetryAfter(2 * time.Second)
					}
					return nil
				}}
			ans := tc.req.do(t, serve(a))
			if ans.status != tc.status || (tc.code != "" && ans.body["error"] != tc.code) {
				t.Fatalf("answer %d %v, want %d %s", ans.status, ans.body, tc.status, tc.code)
			}
			if tc.status == 429 && ans.header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q", ans.header.Get("Retry-After"))
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(counted, tc.counted) {
				t.Errorf("Limit counted %v, want %v", counted, tc.counted)
			}
		})
	}
}

// TestStoreDown: a directory that cannot answer is not a client with bad
// credentials. invalid_client (RFC 6749 §5.2) tells a client its
// credentials failed, which clients treat as final; a store outage is
// temporarily_unavailable, to be retried (RFC 9110 §15.6.4).
func TestStoreDown(t *testing.T) {
	k := keys()
	closed := fmt.Errorf("directory: get client: %w", persistence.ErrClosed)
	timeout := fmt.Errorf("directory: get client: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		name string
		err  error
		req  request
	}{
		{"basic", closed, basic("basic-rp", basicSecret, nil)},
		{"post", closed, request{form: formOf("client_id", "post-rp", "client_secret", postSecret)}},
		{"none", closed, request{form: formOf("client_id", "public-rp")}},
		{"private_key_jwt", closed, request{form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil)))}},
		{"basic, store timeout", timeout, basic("basic-rp", basicSecret, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDir(t)
			d.lookupErr = tc.err
			a := tc.req.do(t, serve(&clientauth.Authenticator{Dir: d, Issuer: issuer, Now: func() time.Time { return now }}))
			if a.status != http.StatusServiceUnavailable || a.body["error"] != "temporarily_unavailable" || a.header.Get("Retry-After") == "" {
				t.Fatalf("answer %d %v (Retry-After %q), want 503 temporarily_unavailable", a.status, a.body, a.header.Get("Retry-After"))
			}
			if strings.Contains(a.body["error_description"], "closed") || strings.Contains(a.body["error_description"], "deadline") {
				t.Errorf("the cause reached the client: %q", a.body["error_description"])
			}
		})
	}
}

// TestFAPI2ClientAuthentication: a client under FAPI 2.0 (its own
// profile, or the node's applied by the directory to a client stored
// before it was switched on) authenticates only with private_key_jwt or
// mutual TLS, and only with PS256, ES256 or EdDSA assertions.
func TestFAPI2ClientAuthentication(t *testing.T) {
	d := newDir(t)
	for _, id := range []string{"basic-rp", "jwt-rp"} {
		c := d.clients[id]
		c.Profile, c.IDTokenSignedResponseAlg = directory.ProfileFAPI2, "ES256"
		d.clients[id] = c
	}
	e := serve(&clientauth.Authenticator{Dir: d, Issuer: issuer, Now: func() time.Time { return now }})
	k := keys()
	basic("basic-rp", basicSecret, nil).do(t, e).check(t, http.StatusUnauthorized, "invalid_client", "", "FAPI 2.0")
	request{form: assertionForm(assert(t, k["rs"], claims("jwt-rp", nil)))}.do(t, e).check(t, http.StatusUnauthorized, "invalid_client", "", "FAPI 2.0")
	request{form: assertionForm(assert(t, k["es"], claims("jwt-rp", nil)))}.do(t, e).check(t, http.StatusOK, "", "jwt-rp", "")
	request{form: assertionForm(assert(t, k["ed"], claims("jwt-rp", nil)))}.do(t, e).check(t, http.StatusOK, "", "jwt-rp", "")
}
