package discovery

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

type noKeys struct{}

func (noKeys) JWKS() ([]byte, string, bool) { return nil, "", false }

// TestOAuthPathFollowsIssuerPath: RFC 8414 §3.1 puts the well-known
// segment between the host and the issuer's path, unlike OpenID
// Connect Discovery §4, which appends to the issuer.
func TestOAuthPathFollowsIssuerPath(t *testing.T) {
	for _, tc := range []struct{ name, issuer, want string }{
		{"no path", "https://op.example", "/.well-known/oauth-authorization-server"},
		{"trailing slash", "https://op.example/", "/.well-known/oauth-authorization-server"},
		{"path", "https://op.example/tenant/a", "/.well-known/oauth-authorization-server/tenant/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Config{Issuer: tc.issuer}, noKeys{})
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, r := range h.Routes() {
				if r.Method == http.MethodGet {
					paths = append(paths, r.Path)
				}
			}
			found := false
			for _, p := range paths {
				found = found || p == tc.want
			}
			if !found {
				t.Fatalf("routes %v lack %s", paths, tc.want)
			}
		})
	}
}

// TestOAuthViewDropsOnlyOpenIDMembers: every member tagged view:"oidc"
// is gone from the OAuth view and everything else stays.
func TestOAuthViewDropsOnlyOpenIDMembers(t *testing.T) {
	m := Metadata{
		Issuer: "https://op.example", TokenEndpoint: "https://op.example/token",
		UserinfoEndpoint: "https://op.example/userinfo", SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{"RS256"}, GrantTypesSupported: []string{"authorization_code"},
		BackchannelLogoutSupported: true,
	}
	full, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	view, err := OAuthView(full)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	_ = json.Unmarshal(full, &a)
	_ = json.Unmarshal(view, &b)
	for _, k := range oidcOnly {
		if _, ok := b[k]; ok {
			t.Errorf("%s in the OAuth view", k)
		}
		delete(a, k)
	}
	if len(a) != len(b) {
		t.Fatalf("OAuth view %v, want %v", b, a)
	}
	for _, k := range []string{"issuer", "token_endpoint", "grant_types_supported", "jwks_uri"} {
		if _, ok := b[k]; !ok {
			t.Errorf("%s missing from the OAuth view", k)
		}
	}
}

// TestProtectedResourcesFollowRegistrations: a resource server added
// while the node runs appears in both views at the next request.
func TestProtectedResourcesFollowRegistrations(t *testing.T) {
	var list []string
	h, err := New(Config{Issuer: "https://op.example", ProtectedResources: func() []string { return list }}, noKeys{})
	if err != nil {
		t.Fatal(err)
	}
	read := func() (openid, oauth map[string]any) {
		d, err := h.current()
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(d.openid, &openid)
		_ = json.Unmarshal(d.oauth, &oauth)
		return
	}
	if a, b := read(); a["protected_resources"] != nil || b["protected_resources"] != nil {
		t.Fatalf("no resources yet, documents say %v / %v", a["protected_resources"], b["protected_resources"])
	}
	list = []string{"https://b.example/api", "https://a.example/api"}
	a, b := read()
	want := []any{"https://a.example/api", "https://b.example/api"}
	if !reflect.DeepEqual(a["protected_resources"], want) || !reflect.DeepEqual(b["protected_resources"], want) {
		t.Fatalf("documents say %v / %v, want %v", a["protected_resources"], b["protected_resources"], want)
	}
}
