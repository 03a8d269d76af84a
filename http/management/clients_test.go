package management

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"authrim/directory"
)

func TestClientsAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()

	status, created, hdr := s.call(http.MethodPost, "/admin/clients", testToken, map[string]any{
		"client_id":                  "rp-1",
		"client_name":                "Relying Party",
		"redirect_uris":              []string{"https://rp.example/cb"},
		"post_logout_redirect_uris":  []string{"https://rp.example/bye"},
		"token_endpoint_auth_method": "client_secret_basic",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"skip_consent":               true,
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	secret, _ := created["client_secret"].(string)
	if len(secret) != 43 || created["client_secret_expires_at"] != 0.0 || created["client_id"] != "rp-1" ||
		created["id_token_signed_response_alg"] != "RS256" || created["static"] != false || created["skip_consent"] != true ||
		created["require_pkce"] != true {
		t.Fatalf("create answer %v", created)
	}
	if _, ok := created["client_id_issued_at"].(float64); !ok {
		t.Errorf("client_id_issued_at missing: %v", created)
	}
	if hdr.Get("Location") != "/admin/clients/rp-1" {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	stored, err := s.dir.Client(ctx, "rp-1")
	if err != nil || directory.VerifyClientSecret(stored, secret) != nil {
		t.Fatalf("the returned secret does not verify: %v", err)
	}

	// A public client gets no secret and no secret fields.
	status, pub, _ := s.call(http.MethodPost, "/admin/clients", testToken, map[string]any{
		"redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code"},
	})
	if status != http.StatusCreated || pub["client_id"] == "" {
		t.Fatalf("public client: %d %v", status, pub)
	}
	if _, ok := pub["client_secret"]; ok {
		t.Errorf("public client got a secret: %v", pub)
	}
	if _, ok := pub["client_secret_expires_at"]; ok {
		t.Errorf("public client got client_secret_expires_at: %v", pub)
	}

	valid := `{"client_id":"rp-2","redirect_uris":["https://rp.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}`
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		desc   string
	}{
		{"get", http.MethodGet, "/admin/clients/rp-1", nil, 200, "", ""},
		{"get static", http.MethodGet, "/admin/clients/static-web", nil, 200, "", ""},
		{"get unknown", http.MethodGet, "/admin/clients/nope", nil, 404, "not_found", "no such client"},
		{"duplicate", http.MethodPost, "/admin/clients", map[string]any{"client_id": "rp-1", "token_endpoint_auth_method": "none", "grant_types": []string{"refresh_token"}}, 409, "conflict", "client_id is taken"},
		{"static id", http.MethodPost, "/admin/clients", map[string]any{"client_id": "static-web", "token_endpoint_auth_method": "none", "grant_types": []string{"refresh_token"}}, 409, "conflict", "client_id is taken"},
		{"invalid redirect URI", http.MethodPost, "/admin/clients", map[string]any{"client_id": "rp-2", "redirect_uris": []string{"http://rp.example/cb"}, "token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}}, 400, "invalid_request", "http only for localhost"},
		{"short given secret", http.MethodPost, "/admin/clients", map[string]any{"client_id": "rp-2", "client_secret": "too-short", "token_endpoint_auth_method": "client_secret_post", "grant_types": []string{"client_credentials"}}, 400, "invalid_request", "client_secret: must be"},
		{"malformed JSON", http.MethodPost, "/admin/clients", valid[:40], 400, "invalid_request", "malformed"},
		{"unknown field", http.MethodPost, "/admin/clients", strings.Replace(valid, `"client_id"`, `"scope":"openid","client_id"`, 1), 400, "invalid_request", "unknown field"},
		{"wrong type", http.MethodPost, "/admin/clients", strings.Replace(valid, `["authorization_code"]`, `"authorization_code"`, 1), 400, "invalid_request", "grant_types"},
		{"public client without PKCE", http.MethodPost, "/admin/clients", map[string]any{"client_id": "rp-2", "redirect_uris": []string{"https://rp.example/cb"}, "token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "require_pkce": false}, 400, "invalid_request", "require_pkce"},
		{"delete static", http.MethodDelete, "/admin/clients/static-web", nil, 400, "invalid_request", "config.yaml"},
		{"delete unknown", http.MethodDelete, "/admin/clients/nope", nil, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(tc.method, tc.path, testToken, tc.body)
			if status != tc.status {
				t.Fatalf("got %d %v, want %d", status, out, tc.status)
			}
			if tc.code != "" && out["error"] != tc.code {
				t.Errorf("error %v, want %s", out["error"], tc.code)
			}
			if desc, _ := out["error_description"].(string); !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description %q should mention %q", desc, tc.desc)
			}
			if _, ok := out["client_secret"]; ok && tc.method == http.MethodGet {
				t.Errorf("GET shows client_secret: %v", out)
			}
		})
	}

	// Bad requests changed nothing: static-web, rp-1 and the public one.
	status, list, _ := s.call(http.MethodGet, "/admin/clients", testToken, nil)
	clients, _ := list["clients"].([]any)
	if status != 200 || len(clients) != 3 {
		t.Fatalf("list: %d %v", status, list)
	}
	statics := 0
	for _, c := range clients {
		if c.(map[string]any)["static"] == true {
			statics++
		}
	}
	if statics != 1 {
		t.Errorf("%d static clients listed, want 1", statics)
	}

	if status, out, _ := s.call(http.MethodDelete, "/admin/clients/rp-1", testToken, nil); status != http.StatusNoContent || out != nil {
		t.Fatalf("delete: %d %v", status, out)
	}
	if status, _, _ := s.call(http.MethodGet, "/admin/clients/rp-1", testToken, nil); status != 404 {
		t.Errorf("get after delete: %d", status)
	}
	if _, err := s.dir.Client(ctx, "static-web"); err != nil {
		t.Errorf("static client gone: %v", err)
	}

	// Only the create answer may carry the secret; no answer carries a
	// hash or the static client's secret.
	s.bodies = s.bodies[1:]
	s.noHashes(secret, staticSecret)
}

// A confidential legacy client can opt out of PKCE through the admin API;
// the answer and later reads say so.
func TestClientsAPIPKCEOptOut(t *testing.T) {
	s := newTestServer(t)
	status, created, _ := s.call(http.MethodPost, "/admin/clients", testToken, map[string]any{
		"client_id": "legacy", "redirect_uris": []string{"https://rp.example/cb"}, "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"authorization_code"}, "require_pkce": false,
	})
	if status != http.StatusCreated || created["require_pkce"] != false {
		t.Fatalf("create: %d %v", status, created)
	}
	c, err := s.dir.Client(context.Background(), "legacy")
	if err != nil || c.PKCERequired() {
		t.Fatalf("stored: %+v %v", c, err)
	}
	if status, got, _ := s.call(http.MethodGet, "/admin/clients/legacy", testToken, nil); status != 200 || got["require_pkce"] != false {
		t.Fatalf("get: %d %v", status, got)
	}
}
