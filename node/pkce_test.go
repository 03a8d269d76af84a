package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/node"
)

// TestPKCERequiredByDefault: RFC 9700 §2.1.1, every client's code request
// needs an S256 code_challenge, confidential clients included (PKCE is
// what stops an injected stolen code from being redeemed); a
// confidential client can opt out with require_pkce: false, and then a
// challenge it does send is still checked.
func TestPKCERequiredByDefault(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID:     "legacy",
			Secret: rpSecret,
			ClientMetadata: directory.ClientMetadata{
				Name:         "Legacy RP",
				RedirectURIs: []string{rpRedirect},
				AuthMethod:   "client_secret_basic",
				GrantTypes:   []string{"authorization_code"},
				RequirePKCE:  new(false),
			},
		})
	})
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	without := func(client string) map[string]string {
		p := baseParams()
		p["client_id"] = client
		delete(p, "code_challenge")
		delete(p, "code_challenge_method")
		return p
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string // error, or "" for a code
	}{
		{"confidential client without a challenge", without("rp"), "invalid_request"},
		{"client_secret_post client without a challenge", without("rp-post"), "invalid_request"},
		{"public client without a challenge", without("spa"), "invalid_request"},
		{"plain method", func() map[string]string {
			p := baseParams()
			p["code_challenge_method"] = "plain"
			return p
		}(), "invalid_request"},
		{"opted-out confidential client", without("legacy"), ""},
		{"confidential client with a challenge", baseParams(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := get(t, b, o.authorizeURL(tc.params))
			if p.isConsent() {
				p = o.consent(t, b, p, "allow")
			}
			if p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) {
				t.Fatalf("no redirect to the client: %d %s", p.status, p.body)
			}
			if got := p.loc.Query().Get("error"); got != tc.want || (tc.want == "") != p.loc.Query().Has("code") {
				t.Fatalf("got %v, want error %q", p.loc, tc.want)
			}
			if tc.want == "invalid_request" && !strings.Contains(p.loc.Query().Get("error_description"), "code_challenge") {
				t.Errorf("description %q does not name code_challenge", p.loc.Query().Get("error_description"))
			}
		})
	}

	// The opted-out client redeems without a verifier; when it does send
	// a challenge, the verifier is checked as for anyone.
	redeem := func(code, verifier string) (int, map[string]any) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}}
		if verifier != "" {
			v.Set("code_verifier", verifier)
		}
		return o.tokenRequestAs(t, "legacy", rpSecret, v)
	}
	cb := o.signIn(t, b, o.authorizeURL(without("legacy")))
	if st, out := redeem(cb.Query().Get("code"), ""); st != http.StatusOK {
		t.Fatalf("opted-out client without PKCE: %d %v", st, out)
	}
	p := without("legacy")
	p["code_challenge"], p["code_challenge_method"] = s256(pkceVerifier), "S256"
	cb = o.signIn(t, b, o.authorizeURL(p))
	if st, out := redeem(cb.Query().Get("code"), ""); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("opted-out client's challenge not checked: %d %v", st, out)
	}
}

// TestPKCEOptOutOnlyForConfidentialClients: require_pkce false is refused
// for a public client wherever clients are defined (config, registration)
// and kept for a confidential one; the registration answer says what
// applies.
func TestPKCEOptOutOnlyForConfidentialClients(t *testing.T) {
	bad := node.Default()
	bad.Clients = []node.ClientConfig{{
		ID: "spa",
		ClientMetadata: directory.ClientMetadata{
			RedirectURIs: []string{rpRedirect},
			AuthMethod:   "none",
			GrantTypes:   []string{"authorization_code"},
			RequirePKCE:  new(false),
		},
	}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "require_pkce") {
		t.Fatalf("config with a public client opting out: %v", err)
	}

	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	for _, tc := range []struct {
		name   string
		md     map[string]any
		status int
		want   any // require_pkce in the answer, or the error code
	}{
		{"public client opting out", map[string]any{"redirect_uris": []string{rpRedirect}, "token_endpoint_auth_method": "none", "require_pkce": false}, 400, "invalid_client_metadata"},
		{"not a boolean", map[string]any{"redirect_uris": []string{rpRedirect}, "require_pkce": "no"}, 400, "invalid_client_metadata"},
		{"confidential client opting out", map[string]any{"redirect_uris": []string{rpRedirect}, "require_pkce": false}, 201, false},
		{"default", map[string]any{"redirect_uris": []string{rpRedirect}}, 201, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r := o.registerClient(t, initialToken, tc.md)
			got := r.raw["require_pkce"]
			if status >= 400 {
				got = r.raw["error"]
			}
			if status != tc.status || got != tc.want {
				t.Fatalf("got %d %v, want %d %v", status, r.raw, tc.status, tc.want)
			}
		})
	}
}
