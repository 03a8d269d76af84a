package userinfo_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/http/userinfo"
	"authrim/persistence"
)

const (
	issuer = "https://op.example"
	atAlg  = "ES256"
)

var (
	now      = time.Unix(1_700_000_000, 0)
	authTime = now.Add(-time.Hour)
)

// minted is what the fake Crypto pool knows of a token it "signed".
type minted struct {
	payload  []byte
	typ, alg string
}

// fakeVerifier stands for the Crypto pool: it knows the tokens the test
// minted and checks typ and alg as the pool does (RFC 8725 §3.11).
type fakeVerifier struct {
	mu     sync.Mutex
	tokens map[string]minted
	asked  [][]string // typ, then algs, of each call
	err    error
}

func (f *fakeVerifier) VerifyType(_ context.Context, tok, typ string, algs ...string) ([]byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, append([]string{typ}, algs...))
	if f.err != nil {
		return nil, "", f.err
	}
	m, ok := f.tokens[tok]
	if !ok || m.typ != typ || !slices.Contains(algs, m.alg) {
		return nil, "", fmt.Errorf("%w: crypto: token rejected", messages.ErrInvalid)
	}
	return m.payload, "kid-1", nil
}

// fakeSessions answers CheckGrant as the Session grain does: an unknown
// grant is inactive, a revoked one inactive with its view.
type fakeSessions struct {
	mu     sync.Mutex
	grants map[string]*messages.Grant // sid "/" gid
	calls  int
	err    error
}

func (s *fakeSessions) Call(_ context.Context, sid string, call *messages.SessionCall) (*messages.SessionReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	c := call.GetCheck()
	if c == nil {
		return nil, fmt.Errorf("%w: unexpected call", messages.ErrInvalid)
	}
	gr := s.grants[sid+"/"+c.GrantId]
	if gr == nil {
		return &messages.SessionReply{}, nil
	}
	return &messages.SessionReply{Active: !gr.Revoked, Grant: proto.Clone(gr).(*messages.Grant)}, nil
}

// Check is userinfo.Sessions, through Call.
func (s *fakeSessions) Check(ctx context.Context, sid string, m *messages.CheckGrant) (*messages.SessionReply, error) {
	return s.Call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Check{Check: m}})
}

type fakeUsers struct {
	users map[string]directory.User
	err   error
}

func (u fakeUsers) User(_ context.Context, sub string) (directory.User, error) {
	if u.err != nil {
		return directory.User{}, u.err
	}
	if x, ok := u.users[sub]; ok {
		return x, nil
	}
	return directory.User{}, fmt.Errorf("%w: user", directory.ErrNotFound)
}

type fakeClients struct {
	clients map[string]directory.Client
	err     error
}

func (c fakeClients) Client(_ context.Context, id string) (directory.Client, error) {
	if c.err != nil {
		return directory.Client{}, c.err
	}
	if x, ok := c.clients[id]; ok {
		return x, nil
	}
	return directory.Client{}, fmt.Errorf("%w: client %q", directory.ErrNotFound, id)
}

type signed struct {
	alg, typ, token string
	claims          map[string]any
}

type fakeSigner struct {
	mu    sync.Mutex
	calls []signed
}

func (f *fakeSigner) Sign(_ context.Context, alg string, payload []byte, typ string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "", err
	}
	tok := fmt.Sprintf("jws%d.%s.sig", len(f.calls), base64.RawURLEncoding.EncodeToString(payload))
	f.calls = append(f.calls, signed{alg: alg, typ: typ, token: tok, claims: claims})
	return tok, "kid-1", nil
}

type encrypted struct {
	plaintext, jwk      []byte
	alg, enc, cty, resp string
}

type fakeEncrypter struct {
	mu    sync.Mutex
	calls []encrypted
}

func (f *fakeEncrypter) Encrypt(_ context.Context, plaintext, jwk []byte, alg, enc, cty string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := fmt.Sprintf("jwe%d.a.b.c.d", len(f.calls))
	f.calls = append(f.calls, encrypted{plaintext: plaintext, jwk: jwk, alg: alg, enc: enc, cty: cty, resp: resp})
	return resp, nil
}

// encKey is the key clients registered for encrypted userinfo responses.
var encKey = sync.OnceValue(func() jose.JSONWebKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: "enc-1", Use: "enc"}
})

var alice = directory.User{
	Subject: "user-1", Username: "alice", Created: now.Add(-48 * time.Hour), Updated: now.Add(-24 * time.Hour),
	Claims: map[string]any{
		"name": "Alice Liddell", "given_name": "Alice", "preferred_username": "alice",
		"email": "alice@example.com", "email_verified": true,
		"address":      map[string]any{"country": "GB"},
		"phone_number": "+44 20 7946 0000", "phone_number_verified": false,
	},
}

type env struct {
	e        *echo.Echo
	verifier *fakeVerifier
	sessions *fakeSessions
	users    *fakeUsers
	clients  *fakeClients
	signer   *fakeSigner
	encr     *fakeEncrypter
	// keysErr, when set, is what fetching a client's keys answers.
	keysErr error
	n       int
}

// newEnv mounts /userinfo as node/frontends.go builds it (responses
// included unless plain), over fakes.
func newEnv(t *testing.T, plain bool) *env {
	t.Helper()
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{encKey()}})
	if err != nil {
		t.Fatal(err)
	}
	sigOnly, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: encKey().Key, KeyID: "sig-1", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	v := &env{
		verifier: &fakeVerifier{tokens: map[string]minted{}},
		sessions: &fakeSessions{grants: map[string]*messages.Grant{}},
		users:    &fakeUsers{users: map[string]directory.User{"user-1": alice}},
		clients: &fakeClients{clients: map[string]directory.Client{
			"web":       {ID: "web"},
			"other":     {ID: "other"},
			"signed-rp": {ID: "signed-rp", ClientMetadata: directory.ClientMetadata{UserinfoSignedResponseAlg: "ES256"}},
			"enc-rp":    {ID: "enc-rp", ClientMetadata: directory.ClientMetadata{UserinfoEncryptedResponseAlg: "ECDH-ES", JWKS: set}},
			"signed-enc-rp": {
				ID: "signed-enc-rp",
				ClientMetadata: directory.ClientMetadata{
					UserinfoSignedResponseAlg:    "EdDSA",
					UserinfoEncryptedResponseAlg: "ECDH-ES",
					UserinfoEncryptedResponseEnc: "A256GCM",
					JWKS:                         set,
				},
			},
			"enc-no-key": {ID: "enc-no-key", ClientMetadata: directory.ClientMetadata{UserinfoEncryptedResponseAlg: "ECDH-ES", JWKS: sigOnly}},
		}},
		signer: &fakeSigner{},
		encr:   &fakeEncrypter{},
	}
	check := &userinfo.Checker{Issuer: issuer, Alg: atAlg, Verifier: v.verifier, Sessions: v.sessions, Users: v.users,
		Now: func() time.Time { return now }}
	h := userinfo.New(check, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !plain {
		h = h.WithResponses(&userinfo.Responses{Issuer: issuer, Clients: v.clients, Signer: v.signer, Encrypter: v.encr,
			Keys: func(_ context.Context, c directory.Client) ([]byte, error) {
				if v.keysErr != nil {
					return nil, v.keysErr
				}
				return c.JWKS, nil
			}})
	}
	v.e = echo.New()
	router.Mount(v.e, h)
	return v
}

// tokenSpec describes an access token to mint and the grant behind it.
type tokenSpec struct {
	client, scope string
	claimsJSON    string // the grant's claims request
	// edit changes the token's claims; grant changes the grant stored.
	edit  func(map[string]any)
	grant func(*messages.Grant)
	typ   string // default at+jwt
	alg   string // default atAlg
	// noGrant stores no grant (a client_credentials token has no gid).
	noGrant bool
}

// mint makes an access token as /token does (RFC 9068 §2.2) and stores
// its grant in the fake Session grain.
func (v *env) mint(t *testing.T, s tokenSpec) string {
	t.Helper()
	v.n++
	sid, gid := fmt.Sprintf("sid%013d", v.n), fmt.Sprintf("gid%013d", v.n)
	client := cmp.Or(s.client, "web")
	claims := map[string]any{
		"iss": issuer, "sub": "user-1", "aud": issuer, "client_id": client,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(4 * time.Minute).Unix(), "jti": fmt.Sprintf("jti-%d", v.n),
		"scope": cmp.Or(s.scope, "openid"), "sid": sid, "gid": gid, "auth_time": authTime.Unix(),
	}
	if s.edit != nil {
		s.edit(claims)
	}
	if !s.noGrant {
		gr := &messages.Grant{Id: gid, ClientId: client, Scopes: strings.Fields(cmp.Or(s.scope, "openid")), ClaimsJson: s.claimsJSON,
			Login: &messages.Login{Subject: "user-1", AuthTimeMs: authTime.UnixMilli()}}
		if s.grant != nil {
			s.grant(gr)
		}
		v.sessions.grants[sid+"/"+gid] = gr
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok := fmt.Sprintf("at%d.%s.sig", v.n, base64.RawURLEncoding.EncodeToString(payload))
	v.verifier.tokens[tok] = minted{payload: payload, typ: cmp.Or(s.typ, "at+jwt"), alg: cmp.Or(s.alg, atAlg)}
	return tok
}

// req is one call to /userinfo.
type req struct {
	method      string // default GET
	header      string // Authorization
	form        url.Values
	contentType string // default form-urlencoded when form is set
	query       url.Values
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (v *env) do(t *testing.T, r req) answer {
	t.Helper()
	target := userinfo.Path
	if r.query != nil {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	hr := httptest.NewRequest(cmp.Or(r.method, http.MethodGet), target, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", cmp.Or(r.contentType, "application/x-www-form-urlencoded"))
	}
	if r.header != "" {
		hr.Header.Set("Authorization", r.header)
	}
	w := httptest.NewRecorder()
	v.e.ServeHTTP(w, hr)
	a := answer{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(a.raw, &a.body); err != nil {
			t.Fatalf("answer %d is not a JSON object: %q", w.Code, a.raw)
		}
	}
	return a
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestBearer: where the access token may travel (RFC 6750 §2) and the
// challenge of each refusal (RFC 6750 §3).
func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// build returns the request, given a valid token.
		build  func(tok string) req
		status int
		code   string
		// challenge is the expected WWW-Authenticate ("" for none).
		challenge string
	}{
		// RFC 6750 §2.1.
		{name: "header", build: func(tok string) req { return req{header: "Bearer " + tok} }, status: 200},
		{name: "header, POST", build: func(tok string) req { return req{method: http.MethodPost, header: "Bearer " + tok} }, status: 200},
		// RFC 9110 §11.1: the auth scheme is case-insensitive.
		{name: "header, lowercase scheme", build: func(tok string) req { return req{header: "bearer " + tok} }, status: 200},
		// RFC 6750 §2.2.
		{name: "form body", build: func(tok string) req {
			return req{method: http.MethodPost, form: formOf("access_token", tok)}
		}, status: 200},

		// RFC 6750 §3.1: no token at all gets a challenge with no error.
		{name: "no token", build: func(string) req { return req{} }, status: 401, code: "unauthorized", challenge: `Bearer realm="authrim"`},
		{name: "empty bearer", build: func(string) req { return req{header: "Bearer "} }, status: 401, code: "unauthorized", challenge: `Bearer realm="authrim"`},
		{name: "another scheme", build: func(tok string) req { return req{header: "Basic " + tok} }, status: 400, code: "invalid_request",
			challenge: `Bearer realm="authrim", error="invalid_request"`},
		{name: "no scheme", build: func(tok string) req { return req{header: tok} }, status: 400, code: "invalid_request",
			challenge: `Bearer realm="authrim", error="invalid_request"`},
		// RFC 6750 §2.2: never in a GET body.
		{name: "form body with GET", build: func(tok string) req {
			return req{method: http.MethodGet, form: formOf("access_token", tok)}
		}, status: 401, code: "unauthorized", challenge: `Bearer realm="authrim"`},
		// RFC 6750 §2.2: only a form-encoded body.
		{name: "JSON body", build: func(tok string) req {
			return req{method: http.MethodPost, form: formOf("access_token", tok), contentType: "application/json"}
		}, status: 401, code: "unauthorized", challenge: `Bearer realm="authrim"`},
		// RFC 6750 §2.3, RFC 9700 §2.5: not in the URI, where logs and
		// Referer headers keep it.
		{name: "query", build: func(tok string) req { return req{query: formOf("access_token", tok)} }, status: 400, code: "invalid_request",
			challenge: `Bearer realm="authrim", error="invalid_request"`},
		{name: "query and header", build: func(tok string) req {
			return req{header: "Bearer " + tok, query: formOf("access_token", tok)}
		}, status: 400, code: "invalid_request", challenge: `Bearer realm="authrim", error="invalid_request"`},
		// RFC 6750 §2: a client MUST NOT use more than one method.
		{name: "header and form body", build: func(tok string) req {
			return req{method: http.MethodPost, header: "Bearer " + tok, form: formOf("access_token", tok)}
		}, status: 400, code: "invalid_request", challenge: `Bearer realm="authrim", error="invalid_request"`},
		{name: "form body twice", build: func(tok string) req {
			return req{method: http.MethodPost, form: formOf("access_token", tok, "access_token", tok)}
		}, status: 400, code: "invalid_request", challenge: `Bearer realm="authrim", error="invalid_request"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, false)
			a := v.do(t, tc.build(v.mint(t, tokenSpec{})))
			if a.status != tc.status {
				t.Fatalf("answer %d %s, want %d", a.status, a.raw, tc.status)
			}
			if tc.status == 200 {
				if a.body["sub"] != "user-1" {
					t.Errorf("answer %v", a.body)
				}
				return
			}
			if a.body["error"] != tc.code {
				t.Errorf("error %v, want %s", a.body["error"], tc.code)
			}
			if got := a.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if v.sessions.calls != 0 {
				t.Errorf("a refused request reached the Session grain")
			}
		})
	}
}

// TestTokenChecks: a token is honoured only if the Crypto pool verified
// it as an at+jwt of our alg, it is ours and current (RFC 9068 §4), its
// grant stands and is its own, and its user may still use it.
func TestTokenChecks(t *testing.T) {
	set := func(name string, val any) func(map[string]any) { return func(m map[string]any) { m[name] = val } }
	invalidToken := `Bearer realm="authrim", error="invalid_token"`
	for _, tc := range []struct {
		name string
		spec tokenSpec
		// raw, when set, is sent instead of the minted token.
		raw   string
		setup func(v *env)
		// status 0: 401 invalid_token.
		status    int
		code      string
		desc      string
		challenge string
	}{
		{name: "unknown token", raw: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
		{name: "too long", raw: strings.Repeat("a", 8193)},
		// RFC 8725 §3.11, RFC 9068 §4: an ID token is no access token.
		{name: "ID token", spec: tokenSpec{typ: "JWT"}},
		{name: "another alg than configured", spec: tokenSpec{alg: "RS256"}},
		{name: "expired", spec: tokenSpec{edit: set("exp", now.Unix())}, desc: "expired"},
		{name: "another issuer", spec: tokenSpec{edit: set("iss", "https://other.example")}, desc: "not for this server"},
		{name: "another audience", spec: tokenSpec{edit: set("aud", "https://api.example")}, desc: "not for this server"},
		{name: "no jti", spec: tokenSpec{edit: set("jti", "")}},
		{name: "grant revoked", spec: tokenSpec{grant: func(g *messages.Grant) { g.Revoked = true }}, desc: "revoked"},
		{name: "grant unknown", spec: tokenSpec{edit: set("gid", "gid-nobody-knows")}, desc: "revoked"},
		// A token naming a grant that is not its own speaks for nobody.
		{name: "grant of another client", spec: tokenSpec{grant: func(g *messages.Grant) { g.ClientId = "other" }}, desc: "does not match its grant"},
		{name: "grant of another user", spec: tokenSpec{grant: func(g *messages.Grant) { g.Login.Subject = "user-2" }}, desc: "does not match its grant"},
		{name: "sub of another user", spec: tokenSpec{edit: set("sub", "user-2")}, desc: "does not match its grant"},
		{name: "client_id of another client", spec: tokenSpec{edit: set("client_id", "other")}, desc: "does not match its grant"},
		// RFC 9700 §4.14: a user deleted or disabled since loses it all.
		{name: "user deleted", setup: func(v *env) { delete(v.users.users, "user-1") }, desc: "no longer exists"},
		{name: "user disabled", setup: func(v *env) {
			u := alice
			u.Disabled = true
			v.users.users["user-1"] = u
		}, desc: "disabled"},
		{name: "sign-in before the user's sessions were ended", setup: func(v *env) {
			u := alice
			u.SessionsNotBefore = authTime.Add(time.Second)
			v.users.users["user-1"] = u
		}, desc: "disabled"},

		// RFC 6750 §3.1: insufficient_scope is 403.
		{name: "client_credentials token", spec: tokenSpec{noGrant: true, edit: func(m map[string]any) {
			m["sub"], m["client_id"] = "web", "web"
			delete(m, "gid")
			delete(m, "sid")
		}}, status: 403, code: "insufficient_scope", challenge: `Bearer realm="authrim", error="insufficient_scope"`},
		// OIDC Core §5.3: userinfo is for tokens of an OpenID request.
		{name: "no openid scope", spec: tokenSpec{scope: "profile email"}, status: 403, code: "insufficient_scope",
			challenge: `Bearer realm="authrim", error="insufficient_scope"`},

		// If the grain or the directory cannot tell, the token does not
		// work, and the client is told to retry, not that it is bad.
		{name: "session grain unavailable", setup: func(v *env) { v.sessions.err = fmt.Errorf("%w: store timeout", messages.ErrUnavailable) },
			status: 503, code: "temporarily_unavailable"},
		{name: "crypto pool unavailable", setup: func(v *env) { v.verifier.err = fmt.Errorf("crypto: %w: no usable key", messages.ErrUnavailable) },
			status: 503, code: "temporarily_unavailable"},
		{name: "crypto pool out of time", setup: func(v *env) {
			v.verifier.err = fmt.Errorf("cluster: request crypto: %w", context.DeadlineExceeded)
		}, status: 503, code: "temporarily_unavailable"},
		{name: "directory unavailable", setup: func(v *env) {
			v.users.err = fmt.Errorf("directory: get user: %w", persistence.ErrClosed)
		}, status: 503, code: "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, false)
			tok := v.mint(t, tc.spec)
			if tc.raw != "" {
				tok = tc.raw
			}
			if tc.setup != nil {
				tc.setup(v)
			}
			status, code, challenge := tc.status, tc.code, tc.challenge
			if status == 0 {
				status, code, challenge = 401, "invalid_token", invalidToken
			}
			a := v.do(t, req{header: "Bearer " + tok})
			if a.status != status || a.body["error"] != code {
				t.Fatalf("answer %d %s, want %d %s", a.status, a.raw, status, code)
			}
			if got := a.header.Get("WWW-Authenticate"); got != challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
			}
			if desc, _ := a.body["error_description"].(string); !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description %q should mention %q", desc, tc.desc)
			}
			if status == 503 && a.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if _, leaked := a.body["email"]; leaked {
				t.Errorf("claims in a refusal: %v", a.body)
			}
			v.verifier.mu.Lock()
			defer v.verifier.mu.Unlock()
			if len(tc.raw) <= 8192 && (len(v.verifier.asked) != 1 || !slices.Equal(v.verifier.asked[0], []string{"at+jwt", atAlg})) {
				t.Errorf("the Crypto pool was asked %v, want at+jwt with %s", v.verifier.asked, atAlg)
			}
		})
	}
}

// TestClaims: the claims released are those of the token's scopes (OIDC
// Core §5.4) and of the grant's claims request (§5.5), with sub always.
func TestClaims(t *testing.T) {
	for _, tc := range []struct {
		name        string
		scope       string
		claimsJSON  string
		wantClaims  []string
		wantAbsence []string
	}{
		{name: "openid only", scope: "openid", wantClaims: []string{"sub"}, wantAbsence: []string{"name", "email", "updated_at"}},
		{name: "profile", scope: "openid profile", wantClaims: []string{"sub", "name", "given_name", "preferred_username", "updated_at"},
			wantAbsence: []string{"email", "address", "phone_number"}},
		{name: "email", scope: "openid email", wantClaims: []string{"sub", "email", "email_verified"}, wantAbsence: []string{"name"}},
		{name: "address and phone", scope: "openid address phone", wantClaims: []string{"sub", "address", "phone_number", "phone_number_verified"},
			wantAbsence: []string{"email", "name"}},
		{name: "claims request", scope: "openid", claimsJSON: `{"userinfo":{"email":null,"name":{"essential":true}},"id_token":{"phone_number":null}}`,
			wantClaims: []string{"sub", "email", "name"}, wantAbsence: []string{"email_verified", "phone_number", "given_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, false)
			a := v.do(t, req{header: "Bearer " + v.mint(t, tokenSpec{scope: tc.scope, claimsJSON: tc.claimsJSON})})
			if a.status != 200 || a.header.Get("Content-Type") != echo.MIMEApplicationJSON {
				t.Fatalf("answer %d %s (%s)", a.status, a.raw, a.header.Get("Content-Type"))
			}
			// OIDC Core §5.3.2: the answer is not to be cached.
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
			got := slices.Sorted(maps.Keys(a.body))
			want := slices.Sorted(slices.Values(tc.wantClaims))
			if !slices.Equal(got, want) {
				t.Errorf("claims %v, want %v", got, want)
			}
			for _, name := range tc.wantAbsence {
				if _, ok := a.body[name]; ok {
					t.Errorf("claim %s released", name)
				}
			}
			if a.body["sub"] != "user-1" {
				t.Errorf("sub %v", a.body["sub"])
			}
			if n, ok := a.body["updated_at"]; ok && n != float64(alice.Updated.Unix()) {
				t.Errorf("updated_at %v, want %d", n, alice.Updated.Unix())
			}
		})
	}
}

// TestResponses: OIDC Core §5.3.2, a client that registered
// userinfo_signed_response_alg or userinfo_encrypted_response_alg gets
// a JWT; an encrypted answer is never sent in the clear instead.
func TestResponses(t *testing.T) {
	keyJSON, err := json.Marshal(encKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client string
		plain  bool // no WithResponses
		setup  func(v *env)
		status int
		code   string
		check  func(t *testing.T, v *env, a answer)
	}{
		{name: "plain client", client: "web", status: 200, check: func(t *testing.T, v *env, a answer) {
			if a.body["sub"] != "user-1" || len(v.signer.calls) != 0 || len(v.encr.calls) != 0 {
				t.Errorf("answer %s after %d signatures, %d encryptions", a.raw, len(v.signer.calls), len(v.encr.calls))
			}
		}},
		{name: "without responses configured", client: "signed-rp", plain: true, status: 200, check: func(t *testing.T, v *env, a answer) {
			if a.body["sub"] != "user-1" || len(v.signer.calls) != 0 {
				t.Errorf("answer %s", a.raw)
			}
		}},
		{name: "signed", client: "signed-rp", status: 200, check: func(t *testing.T, v *env, a answer) {
			if len(v.signer.calls) != 1 || len(v.encr.calls) != 0 {
				t.Fatalf("%d signatures, %d encryptions", len(v.signer.calls), len(v.encr.calls))
			}
			s := v.signer.calls[0]
			if string(a.raw) != s.token || s.alg != "ES256" || s.typ != "JWT" {
				t.Errorf("answer %s, signed %v", a.raw, s)
			}
			// A signed answer names its issuer and audience.
			if s.claims["iss"] != issuer || s.claims["aud"] != "signed-rp" || s.claims["sub"] != "user-1" || s.claims["email"] != "alice@example.com" {
				t.Errorf("signed claims %v", s.claims)
			}
		}},
		{name: "encrypted", client: "enc-rp", status: 200, check: func(t *testing.T, v *env, a answer) {
			if len(v.signer.calls) != 0 || len(v.encr.calls) != 1 {
				t.Fatalf("%d signatures, %d encryptions", len(v.signer.calls), len(v.encr.calls))
			}
			e := v.encr.calls[0]
			var claims map[string]any
			if err := json.Unmarshal(e.plaintext, &claims); err != nil {
				t.Fatalf("plaintext %q: %v", e.plaintext, err)
			}
			if string(a.raw) != e.resp || e.alg != "ECDH-ES" || e.enc != directory.DefaultEncryptionEnc || e.cty != "" || string(e.jwk) != string(keyJSON) {
				t.Errorf("answer %s, encrypted %s/%s cty %q to %s", a.raw, e.alg, e.enc, e.cty, e.jwk)
			}
			if claims["sub"] != "user-1" || claims["email"] != "alice@example.com" {
				t.Errorf("encrypted claims %v", claims)
			}
		}},
		{name: "signed then encrypted", client: "signed-enc-rp", status: 200, check: func(t *testing.T, v *env, a answer) {
			if len(v.signer.calls) != 1 || len(v.encr.calls) != 1 {
				t.Fatalf("%d signatures, %d encryptions", len(v.signer.calls), len(v.encr.calls))
			}
			s, e := v.signer.calls[0], v.encr.calls[0]
			if s.alg != "EdDSA" || string(e.plaintext) != s.token || e.cty != "JWT" || e.enc != "A256GCM" || string(a.raw) != e.resp {
				t.Errorf("signed %v, encrypted %+v, answer %s", s, e, a.raw)
			}
		}},
		// The client's registration is at fault: an error, never the
		// claims in the clear.
		{name: "no key to encrypt to", client: "enc-no-key", status: 400, code: "invalid_request"},
		{name: "client keys unreachable", client: "enc-rp", setup: func(v *env) { v.keysErr = errors.New("jwks_uri: connection refused") },
			status: 500, code: "server_error"},
		{name: "client deleted", client: "web", setup: func(v *env) { delete(v.clients.clients, "web") }, status: 401, code: "invalid_token"},
		// The token is not known bad: the client must not drop it.
		{name: "client lookup unavailable", client: "web", setup: func(v *env) {
			v.clients.err = fmt.Errorf("directory: get client: %w", persistence.ErrClosed)
		}, status: 503, code: "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, tc.plain)
			tok := v.mint(t, tokenSpec{client: tc.client, scope: "openid email"})
			if tc.setup != nil {
				tc.setup(v)
			}
			a := v.do(t, req{header: "Bearer " + tok})
			if a.status != tc.status {
				t.Fatalf("answer %d %s, want %d", a.status, a.raw, tc.status)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
			if tc.status != 200 {
				if a.body["error"] != tc.code || strings.Contains(string(a.raw), "alice") {
					t.Errorf("answer %s, want %s and no claims", a.raw, tc.code)
				}
				return
			}
			wantType := "application/jwt"
			if v.clients.clients[tc.client].UserinfoSignedResponseAlg == "" && v.clients.clients[tc.client].UserinfoEncryptedResponseAlg == "" || tc.plain {
				wantType = echo.MIMEApplicationJSON
			}
			if ct := a.header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type %q, want %q", ct, wantType)
			}
			tc.check(t, v, a)
		})
	}
}

// TestCheckCannotTell: when the Crypto pool cannot answer, Check says so
// rather than calling the token invalid. Revocation relies on it (RFC 7009
// §2.2 answers 200 for an invalid token): a client told "revoked" while
// the pool was down would go on believing a live token dead.
func TestCheckCannotTell(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		invalid bool
	}{
		{"refused by the pool", fmt.Errorf("%w: crypto: token rejected", messages.ErrInvalid), true},
		{"pool unavailable", fmt.Errorf("%w: crypto: no usable key", messages.ErrUnavailable), false},
		{"pool out of time", context.DeadlineExceeded, false},
		{"pool fault", fmt.Errorf("%w: unexpected reply", messages.ErrInternal), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, false)
			tok := v.mint(t, tokenSpec{})
			v.verifier.err = tc.err
			check := &userinfo.Checker{Issuer: issuer, Alg: atAlg, Verifier: v.verifier, Sessions: v.sessions, Users: v.users,
				Now: func() time.Time { return now }}
			_, _, err := check.Check(context.Background(), tok)
			if err == nil {
				t.Fatal("Check passed a token the pool did not verify")
			}
			if got := errors.Is(err, oauth2.ErrInvalidToken); got != tc.invalid {
				t.Errorf("Check: %v; invalid_token %v, want %v", err, got, tc.invalid)
			}
		})
	}
}
