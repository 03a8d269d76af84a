package token_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
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
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/clientauth"
	"authrim/http/router"
	"authrim/http/token"
)

const (
	issuer   = "https://op.example"
	secret   = "client-secret-0123456789"
	redirect = "https://rp.example/cb"
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	// challenge is S256(verifier) (RFC 7636 Appendix B).
	challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

var (
	now      = time.Unix(1_700_000_000, 0)
	authTime = now.Add(-time.Hour)
	cfg      = token.Config{
		Issuer: issuer, AccessTokenTTL: 5 * time.Minute, IDTokenTTL: 10 * time.Minute,
		RefreshTTL: 24 * time.Hour, AccessTokenAlg: "ES256", Now: func() time.Time { return now },
	}
)

// fakeDir holds the clients clientauth authenticates.
type fakeDir struct{ clients map[string]directory.Client }

func (d fakeDir) Client(_ context.Context, id string) (directory.Client, error) {
	c, ok := d.clients[id]
	if !ok {
		return directory.Client{}, fmt.Errorf("%w: client %q", directory.ErrNotFound, id)
	}
	return c, nil
}

func (fakeDir) UseJTI(context.Context, string, string, time.Time) error { return nil }

// encKey is the public key enc-rp registered for ID token encryption.
var encKey = sync.OnceValue(func() jose.JSONWebKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: "enc-1", Use: "enc"}
})

func newDir(t *testing.T) fakeDir {
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{encKey()}})
	if err != nil {
		t.Fatal(err)
	}
	hash := directory.HashClientSecret(secret)
	all := []string{"authorization_code", "refresh_token", "client_credentials"}
	return fakeDir{clients: map[string]directory.Client{
		"web":       {ID: "web", SecretHash: hash, ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: all}},
		"code-only": {ID: "code-only", SecretHash: hash, ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}}},
		"ed-rp":     {ID: "ed-rp", SecretHash: hash, ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, IDTokenSignedResponseAlg: "EdDSA"}},
		// The registration refuses a public client_credentials client;
		// the endpoint does not rely on that.
		"spa": {ID: "spa", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: all}},
		"enc-rp": {
			ID:         "enc-rp",
			SecretHash: hash,
			ClientMetadata: directory.ClientMetadata{
				IDTokenEncryptedResponseAlg: "ECDH-ES",
				AuthMethod:                  "client_secret_basic",
				GrantTypes:                  []string{"authorization_code"},
				JWKS:                        set,
			},
		},
	}}
}

// fakeCode is an authorization code as the Session grain keeps it.
type fakeCode struct {
	clientID, redirect, challenge string
	grant                         *messages.Grant
	used                          bool
}

// fakeSessions answers Redeem and Refresh the way the Session grain
// does (actors/session: redeem, refresh), from codes and grants the test
// put there, and records every call.
type fakeSessions struct {
	mu      sync.Mutex
	codes   map[string]*fakeCode       // sid "." secret
	refresh map[string]*messages.Grant // sid "." gid "." secret
	calls   []*messages.SessionCall
	sids    []string
	// err, when set, is every call's answer (the grain or store down).
	err error
	n   int
}

func newSessions() *fakeSessions {
	return &fakeSessions{codes: map[string]*fakeCode{}, refresh: map[string]*messages.Grant{}}
}

// Redeem and Refresh are token.Sessions, through Call.
func (s *fakeSessions) Redeem(ctx context.Context, sid string, m *messages.RedeemCode) (*messages.SessionReply, error) {
	return s.Call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Redeem{Redeem: m}})
}

func (s *fakeSessions) Refresh(ctx context.Context, sid string, m *messages.RefreshGrant) (*messages.SessionReply, error) {
	return s.Call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Refresh{Refresh: m}})
}

func invalid(why string) error { return fmt.Errorf("%w: %s", messages.ErrInvalid, why) }

func (s *fakeSessions) Call(_ context.Context, sid string, call *messages.SessionCall) (*messages.SessionReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, proto.Clone(call).(*messages.SessionCall))
	s.sids = append(s.sids, sid)
	if s.err != nil {
		return nil, s.err
	}
	switch op := call.Op.(type) {
	case *messages.SessionCall_Redeem:
		m := op.Redeem
		c := s.codes[sid+"."+m.CodeSecret]
		switch {
		case c == nil:
			return nil, invalid("unknown code")
		case c.used:
			return nil, invalid("code already used")
		case c.clientID != m.ClientId:
			return nil, invalid("code was issued to another client")
		// RFC 6749 §4.1.3: redirect_uri as in the authorization request.
		case c.redirect != m.RedirectUri:
			return nil, invalid("redirect_uri does not match")
		// RFC 7636 §4.6; RFC 9700 §2.1.1: a verifier without a
		// challenge is a downgrade.
		case c.challenge != "" && m.CodeVerifier == "":
			return nil, invalid("code_verifier required")
		case c.challenge != "" && s256(m.CodeVerifier) != c.challenge:
			return nil, invalid("code_verifier does not match")
		case c.challenge == "" && m.CodeVerifier != "":
			return nil, invalid("code_verifier sent but no code_challenge was")
		}
		c.used = true
		r := &messages.SessionReply{Grant: proto.Clone(c.grant).(*messages.Grant)}
		if m.RefreshTtlMs > 0 {
			r.RefreshToken = s.newRefresh(sid, c.grant)
		}
		return r, nil
	case *messages.SessionCall_Refresh:
		m := op.Refresh
		k := sid + "." + m.GrantId + "." + m.TokenSecret
		gr := s.refresh[k]
		switch {
		case gr == nil:
			return nil, invalid("unknown refresh token")
		case gr.ClientId != m.ClientId:
			return nil, invalid("refresh token of another client")
		}
		for _, sc := range m.Scopes {
			if !slices.Contains(gr.Scopes, sc) {
				return nil, fmt.Errorf("%w: %s not granted", messages.ErrInvalidScope, sc)
			}
		}
		delete(s.refresh, k)
		out := proto.Clone(gr).(*messages.Grant)
		if len(m.Scopes) > 0 {
			out.Scopes = m.Scopes
		}
		return &messages.SessionReply{Grant: out, RefreshToken: s.newRefresh(sid, gr)}, nil
	}
	return nil, invalid("unexpected call")
}

func s256(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// newRefresh is a refresh token "sid.gid.secret" of gr; s.mu is held.
func (s *fakeSessions) newRefresh(sid string, gr *messages.Grant) string {
	s.n++
	rt := fmt.Sprintf("%s.%s.refresh%025d", sid, gr.Id, s.n)
	s.refresh[rt] = gr
	return rt
}

// addCode stores a code of client for gr and returns it ("sid.secret").
func (s *fakeSessions) addCode(client, challenge string, gr *messages.Grant) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	sid, sec := fmt.Sprintf("sid%013d", s.n), fmt.Sprintf("code%028d", s.n)
	gr = proto.Clone(gr).(*messages.Grant)
	gr.ClientId = client
	s.codes[sid+"."+sec] = &fakeCode{clientID: client, redirect: redirect, challenge: challenge, grant: gr}
	return sid + "." + sec
}

// addRefresh stores a refresh token of client for gr and returns it.
func (s *fakeSessions) addRefresh(client string, gr *messages.Grant) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	gr = proto.Clone(gr).(*messages.Grant)
	gr.ClientId = client
	return s.newRefresh(fmt.Sprintf("sid%013d", s.n), gr)
}

func (s *fakeSessions) recorded() ([]string, []*messages.SessionCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sids), slices.Clone(s.calls)
}

// signed is one Sign call: what the handler asked the Crypto pool for.
type signed struct {
	alg, typ, token string
	claims          map[string]any
}

// fakeSigner stands for the Crypto pool: its "token" carries the
// payload readably, and every call is kept for the test to read.
type fakeSigner struct {
	mu    sync.Mutex
	calls []signed
	err   error
}

func (f *fakeSigner) Sign(_ context.Context, alg string, payload []byte, typ string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", "", f.err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "", err
	}
	tok := fmt.Sprintf("%s-%s.%s.sig%d", typ, alg, base64.RawURLEncoding.EncodeToString(payload), len(f.calls))
	f.calls = append(f.calls, signed{alg: alg, typ: typ, token: tok, claims: claims})
	return tok, "kid-" + alg, nil
}

func (f *fakeSigner) recorded() []signed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// byTyp is the one signed token of typ ("at+jwt" or "JWT").
func byTyp(t *testing.T, calls []signed, typ string) signed {
	t.Helper()
	var out []signed
	for _, c := range calls {
		if c.typ == typ {
			out = append(out, c)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d tokens of typ %s signed, want 1: %v", len(out), typ, calls)
	}
	return out[0]
}

type fakeUsers map[string]directory.User

func (u fakeUsers) User(_ context.Context, sub string) (directory.User, error) {
	if x, ok := u[sub]; ok {
		return x, nil
	}
	return directory.User{}, fmt.Errorf("%w: user", directory.ErrNotFound)
}

var users = fakeUsers{"user-1": {Subject: "user-1", Username: "alice", Created: now.Add(-48 * time.Hour),
	Claims: map[string]any{"email": "alice@example.com", "email_verified": true, "name": "Alice"}}}

// encrypted is one Encrypt call.
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

// grant is what the grain stores for a sign-in: the authorization
// request's scopes, nonce and claims, and the login.
func grant(scopes ...string) *messages.Grant {
	return &messages.Grant{
		Id: "grant0123456789AB", Scopes: scopes, Nonce: "n-0S6_WzA2Mj",
		Login: &messages.Login{Subject: "user-1", AuthTimeMs: authTime.UnixMilli(), Acr: "urn:authrim:acr:pwd", Amr: []string{"pwd"}},
	}
}

type env struct {
	e        *echo.Echo
	sessions *fakeSessions
	signer   *fakeSigner
}

// newEnv mounts the token endpoint on echo as node/frontends.go builds
// it, over fakes; h may add encryption.
func newEnv(t *testing.T, h func(*token.Handler) *token.Handler) env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clients := &clientauth.Authenticator{Dir: newDir(t), Issuer: issuer, Now: cfg.Now}
	s, sig := newSessions(), &fakeSigner{}
	handler := token.New(cfg, clients, s, sig, users, logger)
	if h != nil {
		handler = h(handler)
	}
	e := echo.New()
	router.Mount(e, handler)
	return env{e: e, sessions: s, signer: sig}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// post sends form to /token as client (Basic, or client_id alone for a
// public client; "" for no authentication).
func (v env) post(t *testing.T, client string, form url.Values) answer {
	t.Helper()
	return v.send(t, client, "application/x-www-form-urlencoded", form.Encode())
}

func (v env) send(t *testing.T, client, contentType, body string) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, token.Path, strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	// A public client names itself in the form (OIDC Core §9 "none").
	if client != "" && client != "spa" {
		r.SetBasicAuth(client, secret)
	}
	w := httptest.NewRecorder()
	v.e.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", w.Code, w.Body.String())
	}
	return answer{w.Code, w.Header(), out}
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// noStore: RFC 6749 §5.1 and §5.2, token answers and errors are never
// cached.
func (a answer) noStore(t *testing.T) {
	t.Helper()
	if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q, Pragma %q, want no-store, no-cache", a.header.Get("Cache-Control"), a.header.Get("Pragma"))
	}
}

// TestTokenErrors: every refusal of the token endpoint (RFC 6749 §5.2)
// and how Session grain and Crypto pool failures are answered.
func TestTokenErrors(t *testing.T) {
	unavailable := fmt.Errorf("session: %w: store timeout", messages.ErrUnavailable)
	for _, tc := range []struct {
		name string
		// build puts what the request needs into the fakes and returns
		// the client and the form.
		build func(v env) (client string, form url.Values)
		// contentType, when set, replaces the form content type.
		contentType string
		status      int
		code, desc  string
		// calls is the number of Session grain calls made.
		calls int
	}{
		{name: "not a form", contentType: "application/json", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "client_credentials")
		}, status: 400, code: "invalid_request", desc: "x-www-form-urlencoded"},
		// RFC 6749 §3.2: request parameters MUST NOT be included more
		// than once.
		{name: "repeated parameter", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "client_credentials", "grant_type", "authorization_code")
		}, status: 400, code: "invalid_request", desc: "repeated"},
		{name: "no client authentication", build: func(env) (string, url.Values) {
			return "", formOf("grant_type", "client_credentials")
		}, status: 401, code: "invalid_client"},
		// RFC 6749 §5.2: invalid_request for a missing parameter,
		// unsupported_grant_type for an unknown grant, unauthorized_client
		// for one the client may not use.
		{name: "grant_type missing", build: func(env) (string, url.Values) { return "web", formOf("scope", "openid") },
			status: 400, code: "invalid_request", desc: "grant_type"},
		{name: "grant_type password", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "password", "username", "alice", "password", "x")
		}, status: 400, code: "unsupported_grant_type"},
		{name: "grant_type implicit", build: func(env) (string, url.Values) { return "web", formOf("grant_type", "implicit") },
			status: 400, code: "unsupported_grant_type"},
		{name: "grant type not registered", build: func(v env) (string, url.Values) {
			return "code-only", formOf("grant_type", "refresh_token", "refresh_token", v.sessions.addRefresh("code-only", grant("openid")))
		}, status: 400, code: "unauthorized_client", desc: "refresh_token"},

		// RFC 6749 §4.1.3 and §5.2: a code that is not valid, not the
		// client's, not for this redirect_uri, or already used, is
		// invalid_grant; the Session grain decides, the endpoint maps.
		{name: "code missing", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "redirect_uri", redirect)
		}, status: 400, code: "invalid_request", desc: "code"},
		{name: "code malformed", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", "../../etc", "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant"},
		{name: "code unknown", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", "sid0000000000099.code0000000000000000000000000099", "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "code of another client", build: func(v env) (string, url.Values) {
			return "code-only", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "redirect_uri differs", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect+"/other")
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "redirect_uri missing", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")))
		}, status: 400, code: "invalid_grant", calls: 1},
		// RFC 7636 §4.6.
		{name: "code_verifier missing", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", challenge, grant("openid")), "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "code_verifier wrong", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", challenge, grant("openid")), "redirect_uri", redirect,
				"code_verifier", strings.Repeat("x", 43))
		}, status: 400, code: "invalid_grant", calls: 1},
		// RFC 9700 §2.1.1: PKCE downgrade.
		{name: "code_verifier without a challenge", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect,
				"code_verifier", verifier)
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "code used twice", build: func(v env) (string, url.Values) {
			code := v.sessions.addCode("web", "", grant("openid"))
			v.sessions.codes[code].used = true
			return "web", formOf("grant_type", "authorization_code", "code", code, "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "code's session gone", build: func(v env) (string, url.Values) {
			v.sessions.err = fmt.Errorf("%w: session", messages.ErrNotFound)
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},

		// RFC 6749 §6.
		{name: "refresh_token missing", build: func(env) (string, url.Values) { return "web", formOf("grant_type", "refresh_token") },
			status: 400, code: "invalid_request", desc: "refresh_token"},
		{name: "refresh_token malformed", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "refresh_token", "refresh_token", "a.b")
		}, status: 400, code: "invalid_grant"},
		{name: "refresh_token unknown", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "refresh_token", "refresh_token", "sid0000000000099.grant0123456789AB.refresh0000000000000000000000099")
		}, status: 400, code: "invalid_grant", calls: 1},
		{name: "refresh_token of another client", build: func(v env) (string, url.Values) {
			return "spa", formOf("grant_type", "refresh_token", "client_id", "spa", "refresh_token", v.sessions.addRefresh("web", grant("openid")))
		}, status: 400, code: "invalid_grant", calls: 1},
		// RFC 6749 §6: the scope may not exceed the original grant.
		{name: "refresh wider scope", build: func(v env) (string, url.Values) {
			return "web", formOf("grant_type", "refresh_token", "refresh_token", v.sessions.addRefresh("web", grant("openid")), "scope", "openid email")
		}, status: 400, code: "invalid_scope", calls: 1},

		// RFC 6749 §4.4: only confidential clients.
		{name: "client_credentials public client", build: func(env) (string, url.Values) {
			return "spa", formOf("grant_type", "client_credentials", "client_id", "spa")
		}, status: 400, code: "unauthorized_client", desc: "public"},
		{name: "client_credentials with a scope", build: func(env) (string, url.Values) {
			return "web", formOf("grant_type", "client_credentials", "scope", "openid")
		}, status: 400, code: "invalid_scope"},

		// A grain or store that cannot answer in time is a retry, not a
		// server error (RFC 6749 §5.2 has no code for it;
		// temporarily_unavailable with Retry-After, RFC 9110 §10.2.3).
		{name: "session grain unavailable, code", build: func(v env) (string, url.Values) {
			v.sessions.err = unavailable
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect)
		}, status: 503, code: "temporarily_unavailable", calls: 1},
		{name: "session grain unavailable, refresh", build: func(v env) (string, url.Values) {
			v.sessions.err = unavailable
			return "web", formOf("grant_type", "refresh_token", "refresh_token", v.sessions.addRefresh("web", grant("openid")))
		}, status: 503, code: "temporarily_unavailable", calls: 1},
		{name: "session call out of time", build: func(v env) (string, url.Values) {
			v.sessions.err = fmt.Errorf("cluster: request grain: %w", context.DeadlineExceeded)
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect)
		}, status: 503, code: "temporarily_unavailable", calls: 1},
		{name: "crypto pool unavailable", build: func(v env) (string, url.Values) {
			v.signer.err = fmt.Errorf("crypto: %w", messages.ErrUnavailable)
			return "web", formOf("grant_type", "client_credentials")
		}, status: 503, code: "temporarily_unavailable"},
		{name: "session grain fault", build: func(v env) (string, url.Values) {
			v.sessions.err = fmt.Errorf("%w: state of sid0001 is corrupt", messages.ErrInternal)
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", grant("openid")), "redirect_uri", redirect)
		}, status: 500, code: "server_error", calls: 1},
		// The grain checks the user at redemption; one deleted in the
		// moment after is a grant that no longer stands (RFC 9700
		// §4.14), not a missing resource.
		{name: "user deleted after redemption", build: func(v env) (string, url.Values) {
			g := grant("openid")
			g.Login.Subject = "deleted-user"
			g.ClaimsJson = `{"id_token":{"email":null}}`
			return "web", formOf("grant_type", "authorization_code", "code", v.sessions.addCode("web", "", g), "redirect_uri", redirect)
		}, status: 400, code: "invalid_grant", calls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, nil)
			client, form := tc.build(v)
			ct := cmp.Or(tc.contentType, "application/x-www-form-urlencoded")
			a := v.send(t, client, ct, form.Encode())
			if a.status != tc.status || a.body["error"] != tc.code {
				t.Fatalf("answer %d %v, want %d %s", a.status, a.body, tc.status, tc.code)
			}
			a.noStore(t)
			desc, _ := a.body["error_description"].(string)
			if !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description %q should mention %q", desc, tc.desc)
			}
			for _, leak := range []string{"corrupt", "store timeout", "deadline", "sid0"} {
				if strings.Contains(desc, leak) {
					t.Errorf("error_description %q shows the cause", desc)
				}
			}
			if tc.status == 503 && a.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q, want 1", a.header.Get("Retry-After"))
			}
			if _, ok := a.body["access_token"]; ok {
				t.Errorf("an error carries an access token: %v", a.body)
			}
			if _, calls := v.sessions.recorded(); len(calls) != tc.calls {
				t.Errorf("%d Session grain calls, want %d", len(calls), tc.calls)
			}
		})
	}
}

// leftHalf is at_hash: the left half of the hash of the access token,
// with the hash of the ID token's JWS alg (OIDC Core §3.1.3.6); EdDSA
// (Ed25519) uses SHA-512.
func leftHalf(alg, v string) string {
	var sum []byte
	if alg == "EdDSA" {
		s := sha512.Sum512([]byte(v))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(v))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// num reads a JSON number claim as an int64.
func num(t *testing.T, claims map[string]any, name string) int64 {
	t.Helper()
	f, ok := claims[name].(float64)
	if !ok {
		t.Fatalf("claim %s is %v, want a number", name, claims[name])
	}
	return int64(f)
}

// TestAuthorizationCode: the code is redeemed through its Session grain
// with what the client sent, and the endpoint signs an RFC 9068 access
// token and an OIDC Core §2 ID token of the grant.
func TestAuthorizationCode(t *testing.T) {
	v := newEnv(t, nil)
	gr := grant("openid", "offline_access")
	// OIDC Core §5.5: claims requested for the ID token are released in
	// it; others stay out.
	gr.ClaimsJson = `{"id_token":{"email":{"essential":true},"nonce":null}}`
	code := v.sessions.addCode("web", challenge, gr)
	a := v.post(t, "web", formOf("grant_type", "authorization_code", "code", code, "redirect_uri", redirect, "code_verifier", verifier))
	if a.status != 200 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	a.noStore(t)

	sid, secretPart, _ := strings.Cut(code, ".")
	sids, calls := v.sessions.recorded()
	if len(calls) != 1 || sids[0] != sid {
		t.Fatalf("Session calls %v to %v, want one to %s", calls, sids, sid)
	}
	redeem := calls[0].GetRedeem()
	want := &messages.RedeemCode{CodeSecret: secretPart, ClientId: "web", RedirectUri: redirect, CodeVerifier: verifier,
		RefreshTtlMs: cfg.RefreshTTL.Milliseconds()}
	if !proto.Equal(redeem, want) {
		t.Errorf("Redeem %v, want %v", redeem, want)
	}

	signedCalls := v.signer.recorded()
	if len(signedCalls) != 2 {
		t.Fatalf("%d Sign calls, want the access token and the ID token", len(signedCalls))
	}
	at, idt := byTyp(t, signedCalls, "at+jwt"), byTyp(t, signedCalls, "JWT")

	// RFC 6749 §5.1.
	for name, w := range map[string]any{
		"access_token": at.token, "token_type": "Bearer", "expires_in": 300.0, "id_token": idt.token,
		"scope": "openid offline_access",
	} {
		if a.body[name] != w {
			t.Errorf("response %s = %v, want %v", name, a.body[name], w)
		}
	}
	if rt, _ := a.body["refresh_token"].(string); !strings.HasPrefix(rt, sid+"."+gr.Id+".") {
		t.Errorf("refresh_token %q is not the grain's", rt)
	}

	// RFC 9068 §2.2; sid and gid let userinfo and introspection ask
	// the grain whether the grant still stands.
	if at.alg != cfg.AccessTokenAlg {
		t.Errorf("access token signed with %s, want %s", at.alg, cfg.AccessTokenAlg)
	}
	for name, w := range map[string]any{
		"iss": issuer, "sub": "user-1", "aud": issuer, "client_id": "web", "scope": "openid offline_access",
		"sid": sid, "gid": gr.Id, "acr": "urn:authrim:acr:pwd",
	} {
		if at.claims[name] != w {
			t.Errorf("access token %s = %v, want %v", name, at.claims[name], w)
		}
	}
	if num(t, at.claims, "iat") != now.Unix() || num(t, at.claims, "nbf") != now.Unix() ||
		num(t, at.claims, "exp") != now.Add(cfg.AccessTokenTTL).Unix() || num(t, at.claims, "auth_time") != authTime.Unix() {
		t.Errorf("access token times %v", at.claims)
	}
	if jti, _ := at.claims["jti"].(string); len(jti) < 16 {
		t.Errorf("access token jti %q", jti)
	}
	if fmt.Sprint(at.claims["amr"]) != "[pwd]" {
		t.Errorf("access token amr %v", at.claims["amr"])
	}

	// OIDC Core §2, §3.1.3.6 and §3.1.3.7; RS256 unless the client
	// registered another alg.
	if idt.alg != "RS256" {
		t.Errorf("ID token signed with %s, want RS256", idt.alg)
	}
	for name, w := range map[string]any{
		"iss": issuer, "sub": "user-1", "aud": "web", "azp": "web", "sid": sid, "nonce": gr.Nonce,
		"acr": "urn:authrim:acr:pwd", "at_hash": leftHalf("RS256", at.token), "email": "alice@example.com",
	} {
		if idt.claims[name] != w {
			t.Errorf("ID token %s = %v, want %v", name, idt.claims[name], w)
		}
	}
	if num(t, idt.claims, "iat") != now.Unix() || num(t, idt.claims, "exp") != now.Add(cfg.IDTokenTTL).Unix() ||
		num(t, idt.claims, "auth_time") != authTime.Unix() {
		t.Errorf("ID token times %v", idt.claims)
	}
	if fmt.Sprint(idt.claims["amr"]) != "[pwd]" {
		t.Errorf("ID token amr %v", idt.claims["amr"])
	}
	for _, absent := range []string{"name", "email_verified", "client_id", "scope"} {
		if _, ok := idt.claims[absent]; ok {
			t.Errorf("ID token carries %s: %v", absent, idt.claims)
		}
	}

	// RFC 6749 §4.1.2: a code is used once.
	if again := v.post(t, "web", formOf("grant_type", "authorization_code", "code", code, "redirect_uri", redirect, "code_verifier", verifier)); again.status != 400 || again.body["error"] != "invalid_grant" {
		t.Errorf("code used twice: %d %v", again.status, again.body)
	}
}

// TestAuthorizationCodeVariants: what the response holds depends on the
// grant's scopes, the client's grant types and its ID token alg.
func TestAuthorizationCodeVariants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		client    string
		challenge string
		grant     *messages.Grant
		// check reads the answer, the Redeem call and the signed tokens.
		check func(t *testing.T, a answer, redeem *messages.RedeemCode, signed []signed)
	}{
		{name: "no openid scope: no ID token", client: "web", grant: grant("profile"),
			check: func(t *testing.T, a answer, _ *messages.RedeemCode, signed []signed) {
				if _, ok := a.body["id_token"]; ok || len(signed) != 1 || signed[0].typ != "at+jwt" {
					t.Errorf("answer %v after %d signatures, want an access token only", a.body, len(signed))
				}
				if a.body["scope"] != "profile" {
					t.Errorf("scope %v", a.body["scope"])
				}
			}},
		{name: "client without refresh_token grant: no refresh token", client: "code-only", grant: grant("openid"),
			check: func(t *testing.T, a answer, redeem *messages.RedeemCode, _ []signed) {
				if redeem.RefreshTtlMs != 0 {
					t.Errorf("asked the grain for a refresh family of %d ms", redeem.RefreshTtlMs)
				}
				if _, ok := a.body["refresh_token"]; ok {
					t.Errorf("refresh_token issued: %v", a.body)
				}
			}},
		{name: "EdDSA client: at_hash with SHA-512", client: "ed-rp", grant: grant("openid"),
			check: func(t *testing.T, _ answer, _ *messages.RedeemCode, signed []signed) {
				at, idt := byTyp(t, signed, "at+jwt"), byTyp(t, signed, "JWT")
				if idt.alg != "EdDSA" || idt.claims["at_hash"] != leftHalf("EdDSA", at.token) {
					t.Errorf("ID token alg %s at_hash %v, want EdDSA %s", idt.alg, idt.claims["at_hash"], leftHalf("EdDSA", at.token))
				}
			}},
		{name: "public client with PKCE", client: "spa", challenge: challenge, grant: grant("openid"),
			check: func(t *testing.T, a answer, redeem *messages.RedeemCode, signed []signed) {
				if redeem.ClientId != "spa" || redeem.CodeVerifier != verifier {
					t.Errorf("Redeem %v", redeem)
				}
				if byTyp(t, signed, "JWT").claims["aud"] != "spa" {
					t.Errorf("ID token aud %v", byTyp(t, signed, "JWT").claims["aud"])
				}
			}},
		{name: "no nonce, acr or amr in the grant", client: "web", grant: func() *messages.Grant {
			g := grant("openid")
			g.Nonce, g.Login.Acr, g.Login.Amr = "", "", nil
			return g
		}(), check: func(t *testing.T, _ answer, _ *messages.RedeemCode, signed []signed) {
			idt := byTyp(t, signed, "JWT")
			for _, absent := range []string{"nonce", "acr", "amr"} {
				if _, ok := idt.claims[absent]; ok {
					t.Errorf("ID token carries %s: %v", absent, idt.claims)
				}
			}
		}},
		{name: "claims request cannot replace protocol claims", client: "web", grant: func() *messages.Grant {
			g := grant("openid", "email")
			g.ClaimsJson = `{"id_token":{"sub":null,"iss":null,"aud":null,"email_verified":null}}`
			return g
		}(), check: func(t *testing.T, _ answer, _ *messages.RedeemCode, signed []signed) {
			idt := byTyp(t, signed, "JWT")
			if idt.claims["sub"] != "user-1" || idt.claims["iss"] != issuer || idt.claims["aud"] != "web" || idt.claims["email_verified"] != true {
				t.Errorf("ID token %v", idt.claims)
			}
			// OIDC Core §5.4: scope claims go to userinfo when an
			// access token is issued; the ID token gets what was asked.
			if _, ok := idt.claims["email"]; ok {
				t.Errorf("ID token carries email though only email_verified was asked: %v", idt.claims)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, nil)
			code := v.sessions.addCode(tc.client, tc.challenge, tc.grant)
			form := formOf("grant_type", "authorization_code", "code", code, "redirect_uri", redirect)
			if tc.challenge != "" {
				form.Set("code_verifier", verifier)
			}
			if tc.client == "spa" {
				form.Set("client_id", "spa")
			}
			a := v.post(t, tc.client, form)
			if a.status != 200 {
				t.Fatalf("answer %d %v", a.status, a.body)
			}
			a.noStore(t)
			_, calls := v.sessions.recorded()
			tc.check(t, a, calls[0].GetRedeem(), v.signer.recorded())
		})
	}
}

// TestRefresh: RFC 6749 §6 through the Session grain; the new ID token
// has no nonce (OIDC Core §12.2).
func TestRefresh(t *testing.T) {
	for _, tc := range []struct {
		name       string
		scope      string
		wantScopes []string
		wantID     bool
	}{
		{"same scope", "", []string{"openid", "profile", "offline_access"}, true},
		{"narrower scope", "openid offline_access", []string{"openid", "offline_access"}, true},
		{"without openid", "profile", []string{"profile"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, nil)
			rt := v.sessions.addRefresh("web", grant("openid", "profile", "offline_access"))
			form := formOf("grant_type", "refresh_token", "refresh_token", rt)
			if tc.scope != "" {
				form.Set("scope", tc.scope)
			}
			a := v.post(t, "web", form)
			if a.status != 200 {
				t.Fatalf("answer %d %v", a.status, a.body)
			}
			a.noStore(t)
			parts := strings.Split(rt, ".")
			sids, calls := v.sessions.recorded()
			ref := calls[0].GetRefresh()
			if sids[0] != parts[0] || ref.GrantId != parts[1] || ref.TokenSecret != parts[2] || ref.ClientId != "web" ||
				fmt.Sprint(ref.Scopes) != fmt.Sprint(strings.Fields(tc.scope)) {
				t.Errorf("Refresh to %s: %v", sids[0], ref)
			}
			if nrt, _ := a.body["refresh_token"].(string); nrt == "" || nrt == rt {
				t.Errorf("refresh_token %q, want the rotated one", nrt)
			}
			signed := v.signer.recorded()
			at := byTyp(t, signed, "at+jwt")
			if at.claims["scope"] != strings.Join(tc.wantScopes, " ") || a.body["scope"] != at.claims["scope"] ||
				at.claims["gid"] != parts[1] || at.claims["sid"] != parts[0] {
				t.Errorf("access token %v, response scope %v", at.claims, a.body["scope"])
			}
			_, hasID := a.body["id_token"]
			if hasID != tc.wantID {
				t.Fatalf("id_token present %v, want %v", hasID, tc.wantID)
			}
			if tc.wantID {
				idt := byTyp(t, signed, "JWT")
				if _, ok := idt.claims["nonce"]; ok {
					t.Errorf("refreshed ID token carries a nonce: %v", idt.claims)
				}
				if idt.claims["sub"] != "user-1" || idt.claims["at_hash"] != leftHalf("RS256", at.token) {
					t.Errorf("refreshed ID token %v", idt.claims)
				}
			}
		})
	}
}

// TestClientCredentials: RFC 6749 §4.4, an access token of the client
// itself, with no grain, user, refresh token or ID token.
func TestClientCredentials(t *testing.T) {
	v := newEnv(t, nil)
	a := v.post(t, "web", formOf("grant_type", "client_credentials"))
	if a.status != 200 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	a.noStore(t)
	for _, absent := range []string{"refresh_token", "id_token", "scope"} {
		if _, ok := a.body[absent]; ok {
			t.Errorf("response carries %s: %v", absent, a.body)
		}
	}
	if a.body["token_type"] != "Bearer" || a.body["expires_in"] != 300.0 {
		t.Errorf("response %v", a.body)
	}
	signed := v.signer.recorded()
	at := byTyp(t, signed, "at+jwt")
	if len(signed) != 1 || at.token != a.body["access_token"] || at.alg != cfg.AccessTokenAlg {
		t.Fatalf("signed %v", signed)
	}
	for name, w := range map[string]any{"iss": issuer, "sub": "web", "aud": issuer, "client_id": "web"} {
		if at.claims[name] != w {
			t.Errorf("access token %s = %v, want %v", name, at.claims[name], w)
		}
	}
	// No gid: the resource endpoints know it has no grant behind it.
	for _, absent := range []string{"sid", "gid", "scope", "auth_time", "acr", "amr"} {
		if _, ok := at.claims[absent]; ok {
			t.Errorf("access token carries %s: %v", absent, at.claims)
		}
	}
	if num(t, at.claims, "exp") != now.Add(cfg.AccessTokenTTL).Unix() {
		t.Errorf("exp %v", at.claims["exp"])
	}
	if _, calls := v.sessions.recorded(); len(calls) != 0 {
		t.Errorf("client_credentials called the Session grain: %v", calls)
	}
}

// TestIDTokenEncryption: OIDC Core §10.2, a client that registered
// id_token_encrypted_response_alg gets the signed ID token encrypted to
// its key (a nested JWT), and never a plain one.
func TestIDTokenEncryption(t *testing.T) {
	keyOf := func(_ context.Context, c directory.Client) ([]byte, error) { return c.JWKS, nil }
	for _, tc := range []struct {
		name   string
		enc    *fakeEncrypter // nil: no WithEncryption
		keys   func(context.Context, directory.Client) ([]byte, error)
		status int
	}{
		{"encrypted", &fakeEncrypter{}, keyOf, 200},
		{"encryption not configured", nil, nil, 500},
		{"client keys unreachable", &fakeEncrypter{}, func(context.Context, directory.Client) ([]byte, error) {
			return nil, errors.New("jwks_uri: connection refused")
		}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, func(h *token.Handler) *token.Handler {
				if tc.enc == nil {
					return h
				}
				return h.WithEncryption(tc.enc, tc.keys)
			})
			code := v.sessions.addCode("enc-rp", "", grant("openid"))
			a := v.post(t, "enc-rp", formOf("grant_type", "authorization_code", "code", code, "redirect_uri", redirect))
			if a.status != tc.status {
				t.Fatalf("answer %d %v, want %d", a.status, a.body, tc.status)
			}
			if tc.status != 200 {
				if _, ok := a.body["id_token"]; ok || a.body["error"] != "server_error" {
					t.Errorf("answer %v, want server_error and no token", a.body)
				}
				return
			}
			idt := byTyp(t, v.signer.recorded(), "JWT")
			if len(tc.enc.calls) != 1 {
				t.Fatalf("%d Encrypt calls", len(tc.enc.calls))
			}
			c := tc.enc.calls[0]
			if a.body["id_token"] != c.resp || string(c.plaintext) != idt.token {
				t.Errorf("id_token %v is not the signed ID token encrypted", a.body["id_token"])
			}
			wantKey, _ := json.Marshal(encKey())
			if c.alg != "ECDH-ES" || c.enc != directory.DefaultEncryptionEnc || c.cty != "JWT" || string(c.jwk) != string(wantKey) {
				t.Errorf("encrypted with %s/%s cty %s to %s", c.alg, c.enc, c.cty, c.jwk)
			}
		})
	}
}
