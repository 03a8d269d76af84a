package management

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/router"
)

// The edit routes are behind the bearer token like every admin route.
func TestEditRoutesRequireToken(t *testing.T) {
	s := newTestServer(t)
	u, err := s.dir.CreateUser(context.Background(), directory.NewUser{Username: "gina", Password: "the password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"update user", http.MethodPatch, "/admin/users/gina", map[string]any{"claims": map[string]any{"name": "Mallory"}}},
		{"set password", http.MethodPut, "/admin/users/gina/password", map[string]any{"password": "mallory's password"}},
		{"update client", http.MethodPatch, "/admin/clients/static-web", map[string]any{"client_name": "x"}},
		{"rotate secret", http.MethodPost, "/admin/clients/static-web/rotate-secret", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, token := range []string{"", "wrong-token-0123456789"} {
				if status, out, _ := s.call(tc.method, tc.path, token, tc.body); status != http.StatusUnauthorized {
					t.Fatalf("token %q: %d %v", token, status, out)
				}
			}
		})
	}
	got, _ := s.dir.User(context.Background(), u.Subject)
	if got.Claims != nil || got.PasswordHash != u.PasswordHash {
		t.Fatalf("an unauthenticated edit changed the user: %+v", got)
	}
}

// PATCH /admin/users/{id} merges claims, answers the stored user and is
// audited by claim names (not values); refused input stores nothing.
func TestUpdateUserAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	u, err := s.dir.CreateUser(ctx, directory.NewUser{Username: "gina", Password: "the password",
		Claims: map[string]any{"email": "gina@example.com", "name": "Gina"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		desc   string
	}{
		{"unknown claim", "/admin/users/gina", map[string]any{"claims": map[string]any{"role": "admin"}}, 400, "unknown claim"},
		{"bad email", "/admin/users/gina", map[string]any{"claims": map[string]any{"email": "nope"}}, 400, "email"},
		{"no claims", "/admin/users/gina", map[string]any{}, 400, "nothing to change"},
		{"unknown field", "/admin/users/gina", `{"claims":{"name":"x"},"username":"root"}`, 400, "unknown field"},
		{"claims not an object", "/admin/users/gina", `{"claims":["name"]}`, 400, "claims"},
		{"unknown user", "/admin/users/nobody", map[string]any{"claims": map[string]any{"name": "x"}}, 404, "no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(http.MethodPatch, tc.path, testToken, tc.body)
			if desc, _ := out["error_description"].(string); status != tc.status || !strings.Contains(desc, tc.desc) {
				t.Fatalf("got %d %v, want %d mentioning %q", status, out, tc.status, tc.desc)
			}
			if got, _ := s.dir.User(ctx, u.Subject); got.Claims["email"] != "gina@example.com" || got.Claims["name"] != "Gina" || !got.Updated.Equal(u.Updated) {
				t.Fatalf("a refused update changed the user: %+v", got)
			}
		})
	}

	status, out, _ := s.call(http.MethodPatch, "/admin/users/GINA", testToken, map[string]any{
		"claims": map[string]any{"email": "gina@example.org", "email_verified": true, "name": nil},
	})
	if status != 200 || out["sub"] != u.Subject {
		t.Fatalf("update: %d %v", status, out)
	}
	claims := out["claims"].(map[string]any)
	if claims["email"] != "gina@example.org" || claims["email_verified"] != true || claims["name"] != nil {
		t.Fatalf("claims %v", claims)
	}
	got, _ := s.dir.User(ctx, u.Subject)
	if got.Claims["email"] != "gina@example.org" || got.Updated.Before(u.Updated) {
		t.Fatalf("stored %+v", got)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: user updated","audit":true,"sub":"`+u.Subject+`","username":"gina","claims":"email,email_verified,name"`) {
		t.Fatalf("no audit event:\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), "gina@example.org") {
		t.Fatal("a claim value reached the log")
	}
	s.noHashes()
}

// PUT /admin/users/{id}/password sets a new argon2id hash, is audited
// without the password, and refuses a password outside the policy.
func TestSetPasswordAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	u, err := s.dir.CreateUser(ctx, directory.NewUser{Username: "hank", Password: "the old password"})
	if err != nil {
		t.Fatal(err)
	}
	const newPassword = "the new password, long"
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		desc   string
	}{
		{"too short", "/admin/users/hank/password", map[string]any{"password": "short"}, 400, "at least"},
		{"missing", "/admin/users/hank/password", map[string]any{}, 400, "at least"},
		{"wrong type", "/admin/users/hank/password", `{"password": 12345678}`, 400, "password"},
		{"unknown field", "/admin/users/hank/password", `{"password": "long enough pw", "hash": "x"}`, 400, "unknown field"},
		{"unknown user", "/admin/users/nobody/password", map[string]any{"password": newPassword}, 404, "no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(http.MethodPut, tc.path, testToken, tc.body)
			if desc, _ := out["error_description"].(string); status != tc.status || !strings.Contains(desc, tc.desc) {
				t.Fatalf("got %d %v, want %d mentioning %q", status, out, tc.status, tc.desc)
			}
			if got, _ := s.dir.User(ctx, u.Subject); got.PasswordHash != u.PasswordHash {
				t.Fatal("a refused password changed the hash")
			}
		})
	}
	status, out, _ := s.call(http.MethodPut, "/admin/users/"+u.Subject+"/password", testToken, map[string]any{"password": newPassword})
	if status != 200 || out["sub"] != u.Subject {
		t.Fatalf("set password: %d %v", status, out)
	}
	if _, err := s.dir.Authenticate(ctx, "hank", newPassword); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := s.dir.Authenticate(ctx, "hank", "the old password"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the old password: %v", err)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: user password set","audit":true,"sub":"`+u.Subject+`"`) {
		t.Fatalf("no audit event:\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), newPassword) {
		t.Fatal("the password reached the log")
	}
	s.noHashes(newPassword)
}

// PATCH /admin/clients/{id} changes the named metadata through the
// registration rules; refused input stores nothing.
func TestUpdateClientAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	_, secret, err := s.dir.CreateClient(ctx, directory.NewClient{ID: "rp", ClientMetadata: directory.ClientMetadata{Name: "RP", AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() directory.Client {
		c, err := s.dir.Client(ctx, "rp")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := stored()
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		desc   string
	}{
		{"invalid redirect URI", "/admin/clients/rp", map[string]any{"redirect_uris": []string{"http://rp.example/cb"}}, 400, "http only for localhost"},
		{"no redirect URI left", "/admin/clients/rp", map[string]any{"redirect_uris": nil}, 400, "redirect URI"},
		{"unknown grant", "/admin/clients/rp", map[string]any{"grant_types": []string{"password"}}, 400, "unknown grant type"},
		{"unknown field", "/admin/clients/rp", map[string]any{"scope": "openid"}, 400, "unknown field"},
		{"unknown field set to null", "/admin/clients/rp", `{"scope": null}`, 400, "unknown field"},
		{"wrong type", "/admin/clients/rp", `{"redirect_uris": "https://rp.example/cb"}`, 400, "redirect_uris"},
		{"client_id change", "/admin/clients/rp", map[string]any{"client_id": "other"}, 400, "client_id cannot change"},
		{"client_secret", "/admin/clients/rp", map[string]any{"client_secret": strings.Repeat("x", 40)}, 400, "rotate-secret"},
		{"nothing", "/admin/clients/rp", map[string]any{}, 400, "nothing to change"},
		{"not an object", "/admin/clients/rp", `["client_name"]`, 400, "malformed"},
		{"static client", "/admin/clients/static-web", map[string]any{"client_name": "x"}, 400, "config.yaml"},
		{"unknown client", "/admin/clients/nope", map[string]any{"client_name": "x"}, 404, "no such client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(http.MethodPatch, tc.path, testToken, tc.body)
			if desc, _ := out["error_description"].(string); status != tc.status || !strings.Contains(desc, tc.desc) {
				t.Fatalf("got %d %v, want %d mentioning %q", status, out, tc.status, tc.desc)
			}
			after, _ := json.Marshal(stored())
			was, _ := json.Marshal(before)
			if !bytes.Equal(after, was) {
				t.Fatalf("a refused update changed the client:\n%s\n%s", was, after)
			}
		})
	}

	status, out, _ := s.call(http.MethodPatch, "/admin/clients/rp", testToken, map[string]any{
		"client_name":   "Renamed",
		"redirect_uris": []string{"https://rp.example/cb", "https://rp.example/cb2"},
		"skip_consent":  true,
	})
	if status != 200 || out["client_name"] != "Renamed" || len(out["redirect_uris"].([]any)) != 2 || out["skip_consent"] != true {
		t.Fatalf("update: %d %v", status, out)
	}
	if _, ok := out["client_secret"]; ok {
		t.Fatalf("an update that keeps the secret answered one: %v", out)
	}
	c := stored()
	if c.Name != "Renamed" || !c.SkipConsent || len(c.GrantTypes) != 2 || directory.VerifyClientSecret(c, secret) != nil || !c.Created.Equal(before.Created) {
		t.Fatalf("stored %+v", c)
	}
	// null resets a member to its default.
	if status, out, _ := s.call(http.MethodPatch, "/admin/clients/rp", testToken, `{"client_name": null, "skip_consent": null}`); status != 200 || out["client_name"] != nil || (out["skip_consent"] != nil && out["skip_consent"] != false) {
		t.Fatalf("reset: %d %v", status, out)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: client updated","audit":true,"client_id":"rp","auth_method":"client_secret_basic","fields":"client_name,redirect_uris,skip_consent","new_secret":false`) {
		t.Fatalf("no audit event:\n%s", s.logs)
	}
	s.noHashes(secret, staticSecret)
}

// POST /admin/clients/{id}/rotate-secret answers a new secret once; the
// old one stops working; only a hash is kept.
func TestRotateSecretAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	_, old, err := s.dir.CreateClient(ctx, directory.NewClient{ID: "rp", ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.dir.CreateClient(ctx, directory.NewClient{ID: "spa", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example/cb"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id string
		status   int
		desc     string
	}{
		{"static", "static-web", 400, "config.yaml"},
		{"public client", "spa", 400, "no secret"},
		{"unknown", "nope", 404, "no such client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(http.MethodPost, "/admin/clients/"+tc.id+"/rotate-secret", testToken, nil)
			if desc, _ := out["error_description"].(string); status != tc.status || !strings.Contains(desc, tc.desc) {
				t.Fatalf("got %d %v", status, out)
			}
		})
	}
	status, out, _ := s.call(http.MethodPost, "/admin/clients/rp/rotate-secret", testToken, nil)
	secret, _ := out["client_secret"].(string)
	if status != 200 || len(secret) != 43 || out["client_secret_expires_at"] != 0.0 || out["client_id"] != "rp" {
		t.Fatalf("rotate: %d %v", status, out)
	}
	c, _ := s.dir.Client(ctx, "rp")
	if directory.VerifyClientSecret(c, secret) != nil || directory.VerifyClientSecret(c, old) == nil {
		t.Fatal("after rotation the new secret must verify and the old one not")
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: client secret rotated","audit":true,"client_id":"rp"`) {
		t.Fatalf("no audit event:\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Fatal("the secret reached the log")
	}
	if status, out, _ := s.call(http.MethodGet, "/admin/clients/rp", testToken, nil); status != 200 || out["client_secret"] != nil {
		t.Fatalf("get after rotate: %d %v", status, out)
	}
	s.bodies = s.bodies[:0]
	s.noHashes(old, staticSecret)
}

// fakeKeys is a KeyManager answer with a sealed private half, to check
// that GET /admin/keys/{kid} never shows it.
type fakeKeys struct{ set *messages.KeySet }

func (f fakeKeys) List(context.Context) (*messages.KeySet, error) { return f.set, nil }
func (f fakeKeys) Rotate(context.Context, string) (*messages.KeySet, error) {
	return nil, errors.New("not here")
}
func (f fakeKeys) Revoke(context.Context, string, string) (*messages.KeySet, error) {
	return nil, errors.New("not here")
}

func TestShowKeyAPI(t *testing.T) {
	set := &messages.KeySet{Version: 7, Keys: []*messages.Key{
		{Kid: "-dash", Alg: "ES256", Use: "sig", Status: "active", CreatedMs: 1, ActivatedMs: 2,
			PublicJwk: []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"BB","kid":"-dash"}`), WrappedPrivate: []byte("SEALED-PRIVATE")},
		{Kid: "old", Alg: "RS256", Use: "sig", Status: "revoked", RevokedMs: 3, RevokeReason: "lost"},
	}}
	e := echo.New()
	router.Mount(e, NewAdmin(testToken, fakeKeys{set}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path, token string
		status            int
		want              []string
	}{
		{"active key, kid with a dash", "/admin/keys/-dash", testToken, 200, []string{`"kid":"-dash"`, `"status":"active"`, `"public_jwk":{"kty":"EC"`}},
		{"revoked key", "/admin/keys/old", testToken, 200, []string{`"status":"revoked"`, `"revoke_reason":"lost"`}},
		{"unknown", "/admin/keys/nope", testToken, 404, []string{"no such key"}},
		{"no token", "/admin/keys/-dash", "", 401, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.path, tc.token)
			if status != tc.status {
				t.Fatalf("%d %s", status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
			if strings.Contains(body, "SEALED") || strings.Contains(body, "wrapped") {
				t.Fatalf("the private half is shown: %s", body)
			}
		})
	}
}
