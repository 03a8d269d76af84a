package management

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
)

func rsaPublicJWK(t *testing.T) json.RawMessage {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey, Use: "enc"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The admin API creates, shows, patches and deletes resource servers,
// audits every change, and refuses bad input without changing anything.
func TestResourcesAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	const api = "https://api.example/v1"
	path := "/admin/resources/" + url.PathEscape(api)

	if _, _, err := s.dir.CreateClient(ctx, clientFor("gateway")); err != nil {
		t.Fatal(err)
	}
	status, created, hdr := s.call(http.MethodPost, "/admin/resources", testToken, map[string]any{
		"resource": api, "name": "Orders API", "scopes": []string{"orders:read", "orders:write"},
		"access_token_ttl": "5m", "access_token_signing_alg": "ES256", "introspection_client": "gateway",
	})
	if status != http.StatusCreated || created["resource"] != api || created["access_token_ttl"] != "5m0s" || created["static"] != false {
		t.Fatalf("create: %d %v", status, created)
	}
	if hdr.Get("Location") != path {
		t.Errorf("Location %q, want %q", hdr.Get("Location"), path)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: resource created"`) {
		t.Errorf("create not audited: %s", s.logs.String())
	}
	before, err := s.dir.Resource(ctx, api)
	if err != nil {
		t.Fatal(err)
	}

	valid := map[string]any{"resource": "https://other.example/", "scopes": []string{"x"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range valid {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		desc   string
	}{
		{"get", http.MethodGet, path, nil, 200, ""},
		{"get static", http.MethodGet, "/admin/resources/" + url.PathEscape("https://static-api.example/"), nil, 200, ""},
		{"get unknown", http.MethodGet, "/admin/resources/" + url.PathEscape("https://nope.example/"), nil, 404, "no such resource"},
		{"duplicate", http.MethodPost, "/admin/resources", map[string]any{"resource": api, "scopes": []string{"a"}}, 409, "identifier"},
		{"static identifier", http.MethodPost, "/admin/resources", map[string]any{"resource": "https://static-api.example/", "scopes": []string{"a"}}, 409, "identifier"},
		{"relative identifier", http.MethodPost, "/admin/resources", with("resource", "/api"), 400, "absolute URI"},
		{"fragment", http.MethodPost, "/admin/resources", with("resource", "https://a.example/#x"), 400, "fragment"},
		{"issuer", http.MethodPost, "/admin/resources", with("resource", "https://op.example/"), 400, "issuer"},
		{"provider scope", http.MethodPost, "/admin/resources", with("scopes", []string{"openid"}), 400, "provider"},
		{"bad scope token", http.MethodPost, "/admin/resources", with("scopes", []string{"a b"}), 400, "scope token"},
		{"duplicate scope", http.MethodPost, "/admin/resources", with("scopes", []string{"a", "a"}), 400, "twice"},
		{"ttl too long", http.MethodPost, "/admin/resources", with("access_token_ttl", "48h"), 400, "access_token_ttl"},
		{"ttl not a duration", http.MethodPost, "/admin/resources", with("access_token_ttl", "soon"), 400, "malformed"},
		{"unknown alg", http.MethodPost, "/admin/resources", with("access_token_signing_alg", "HS256"), 400, "access_token_signing_alg"},
		{"alg without key", http.MethodPost, "/admin/resources", with("access_token_encryption_alg", "RSA-OAEP"), 400, "access_token_encryption_jwk"},
		{"key for other alg", http.MethodPost, "/admin/resources", with("access_token_encryption_jwk", rsaPublicJWK(t)), 400, "access_token_encryption_alg"},
		{"unknown introspection client", http.MethodPost, "/admin/resources", with("introspection_client", "ghost"), 400, "introspection_client"},
		{"unknown field", http.MethodPost, "/admin/resources", with("audience", "x"), 400, "unknown field"},
		{"patch identifier", http.MethodPatch, path, map[string]any{"resource": "https://else.example/"}, 400, "cannot change"},
		{"patch bad scope", http.MethodPatch, path, map[string]any{"scopes": []string{"profile"}}, 400, "provider"},
		{"patch unknown field", http.MethodPatch, path, map[string]any{"aud": "x"}, 400, "unknown field"},
		{"patch wrong type", http.MethodPatch, path, map[string]any{"scopes": "read"}, 400, "scopes"},
		{"patch nothing", http.MethodPatch, path, map[string]any{}, 400, "nothing"},
		{"patch static", http.MethodPatch, "/admin/resources/" + url.PathEscape("https://static-api.example/"), map[string]any{"name": "x"}, 400, "static"},
		{"delete static", http.MethodDelete, "/admin/resources/" + url.PathEscape("https://static-api.example/"), nil, 400, "static"},
		{"delete unknown", http.MethodDelete, "/admin/resources/" + url.PathEscape("https://nope.example/"), nil, 404, ""},
		{"no token", http.MethodGet, "/admin/resources", nil, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := testToken
			if tc.status == 401 {
				tok = ""
			}
			status, out, _ := s.call(tc.method, tc.path, tok, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if d, _ := out["error_description"].(string); !strings.Contains(d, tc.desc) {
				t.Errorf("description %q, want it to mention %q", d, tc.desc)
			}
		})
	}
	after, err := s.dir.Resource(ctx, api)
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Fatalf("refused requests changed the resource: %+v -> %+v (%v)", before, after, err)
	}
	if _, err := s.dir.Resource(ctx, "https://other.example/"); err == nil {
		t.Fatal("a refused create was stored")
	}

	// A patch changes the members given; null resets one.
	status, patched, _ := s.call(http.MethodPatch, path, testToken, `{"scopes":["orders:read"],"access_token_ttl":null,"name":"Orders"}`)
	if status != 200 || patched["name"] != "Orders" || !reflect.DeepEqual(patched["scopes"], []any{"orders:read"}) || patched["access_token_ttl"] != nil ||
		patched["introspection_client"] != "gateway" {
		t.Fatalf("patch: %d %v", status, patched)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: resource updated"`) {
		t.Error("update not audited")
	}
	// An encryption key that fits its alg is taken.
	if status, out, _ := s.call(http.MethodPatch, path, testToken, map[string]any{
		"access_token_encryption_jwk": rsaPublicJWK(t), "access_token_encryption_alg": "RSA-OAEP-256",
	}); status != 200 || out["access_token_encryption_enc"] != "A128CBC-HS256" {
		t.Fatalf("patch with key: %d %v", status, out)
	}

	status, list, _ := s.call(http.MethodGet, "/admin/resources", testToken, nil)
	if rs, _ := list["resources"].([]any); status != 200 || len(rs) != 2 {
		t.Fatalf("list: %d %v", status, list)
	}
	if status, out, _ := s.call(http.MethodDelete, path, testToken, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, out)
	}
	if status, _, _ := s.call(http.MethodGet, path, testToken, nil); status != 404 {
		t.Fatalf("deleted resource still served: %d", status)
	}
	if !strings.Contains(s.logs.String(), `"msg":"admin: resource deleted"`) {
		t.Error("delete not audited")
	}
}

func clientFor(id string) directory.NewClient {
	return directory.NewClient{ID: id, ClientMetadata: directory.ClientMetadata{
		AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
	}}
}
