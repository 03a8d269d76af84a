package node_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/node"
)

// logoutFields are the logout metadata of a client registered with all of
// them (Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2).
func logoutFields(bc, fc string, session bool) map[string]any {
	return map[string]any{
		"redirect_uris": []string{"https://rp.example/cb"}, "token_endpoint_auth_method": "none",
		"grant_types":            []string{"authorization_code"},
		"backchannel_logout_uri": bc, "backchannel_logout_session_required": session,
		"frontchannel_logout_uri": fc, "frontchannel_logout_session_required": session,
	}
}

// withMember is m with one more member.
func withMember(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// checkLogoutFields fails unless a client view carries the given logout
// metadata.
func checkLogoutFields(t *testing.T, where string, v map[string]any, bc, fc string, session bool) {
	t.Helper()
	if v["backchannel_logout_uri"] != bc || v["frontchannel_logout_uri"] != fc {
		t.Errorf("%s: uris %v %v, want %s %s", where, v["backchannel_logout_uri"], v["frontchannel_logout_uri"], bc, fc)
	}
	for _, k := range []string{"backchannel_logout_session_required", "frontchannel_logout_session_required"} {
		if got, _ := v[k].(bool); got != session {
			t.Errorf("%s: %s %v, want %v", where, k, v[k], session)
		}
	}
}

// TestLogoutMetadataRefused: a backchannel_logout_uri over http, with a
// fragment or on a private address (10.0.0.1, 127.0.0.1, localhost), and
// a frontchannel_logout_uri on another origin than the redirect URIs, are
// refused with the field named by config validation, the admin API and
// dynamic registration (and its update), and nothing is stored or
// changed.
func TestLogoutMetadataRefused(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Registration.Open = true; c.RateLimit.Enabled = false })
	cfg := testConfig(t, t.TempDir())
	good := logoutFields("https://rp.example/bc", "https://rp.example/fc", true)

	st, reg := jsonCall(t, http.MethodPost, o.issuer+"/register", "", good)
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, reg)
	}
	regURI, regToken, regID := reg["registration_client_uri"].(string), reg["registration_access_token"].(string), reg["client_id"].(string)

	for _, tc := range []struct {
		name, bc, fc, field, want string
	}{
		{"backchannel over http", "http://rp.example/bc", "https://rp.example/fc", "backchannel_logout_uri", "https"},
		{"backchannel with a fragment", "https://rp.example/bc#x", "https://rp.example/fc", "backchannel_logout_uri", "fragment"},
		{"backchannel on 10.0.0.1", "https://10.0.0.1/bc", "https://rp.example/fc", "backchannel_logout_uri", "private"},
		{"backchannel on 127.0.0.1", "https://127.0.0.1:8443/bc", "https://rp.example/fc", "backchannel_logout_uri", "private"},
		{"backchannel on localhost", "https://localhost/bc", "https://rp.example/fc", "backchannel_logout_uri", "private"},
		{"frontchannel on another origin", "https://rp.example/bc", "https://evil.example/fc", "frontchannel_logout_uri", "redirect_uris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := logoutFields(tc.bc, tc.fc, true)
			wantProblem := func(where string, st int, out map[string]any, code string) {
				t.Helper()
				desc, _ := out["error_description"].(string)
				if st != http.StatusBadRequest || out["error"] != code || !strings.Contains(desc, tc.field+": ") || !strings.Contains(desc, tc.want) {
					t.Errorf("%s: %d %v, want %s about %s (%s)", where, st, out, code, tc.field, tc.want)
				}
			}

			c := cfg
			c.Clients = []node.ClientConfig{{ID: "static-lo", ClientMetadata: directory.ClientMetadata{
				RedirectURIs: []string{"https://rp.example/cb"}, AuthMethod: "none", GrantTypes: []string{"authorization_code"},
				BackchannelLogoutURI: tc.bc, FrontchannelLogoutURI: tc.fc}}}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("config: %v, want a problem with %s", err, tc.field)
			}

			st, out := jsonCall(t, http.MethodPost, o.issuer+"/admin/clients", adminToken, withMember(meta, "client_id", "admin-lo"))
			wantProblem("admin create", st, out, "invalid_request")
			if st, _ := jsonCall(t, http.MethodGet, o.issuer+"/admin/clients/admin-lo", adminToken, nil); st != http.StatusNotFound {
				t.Errorf("admin: a refused client was stored (%d)", st)
			}

			st, out = jsonCall(t, http.MethodPost, o.issuer+"/register", "", meta)
			wantProblem("register", st, out, "invalid_client_metadata")

			st, out = jsonCall(t, http.MethodPut, regURI, regToken, withMember(meta, "client_id", regID))
			wantProblem("register update", st, out, "invalid_client_metadata")
			st, out = jsonCall(t, http.MethodGet, regURI, regToken, nil)
			if st != http.StatusOK {
				t.Fatalf("read: %d %v", st, out)
			}
			checkLogoutFields(t, "after a refused update", out, "https://rp.example/bc", "https://rp.example/fc", true)
		})
	}
}

// TestLogoutMetadataPrivateAllowed: with
// requests.fetch.allow_private_addresses the config accepts a static
// client's backchannel_logout_uri on a private address (the fetcher will
// reach it), and the node starts with it; https is still required.
func TestLogoutMetadataPrivateAllowed(t *testing.T) {
	static := func(bc string) node.ClientConfig {
		return node.ClientConfig{ID: "static-lo", ClientMetadata: directory.ClientMetadata{
			RedirectURIs: []string{"https://rp.example/cb"}, AuthMethod: "none", GrantTypes: []string{"authorization_code"},
			BackchannelLogoutURI: bc, BackchannelLogoutSessionRequired: true}}
	}
	cfg := testConfig(t, t.TempDir())
	cfg.Requests.Fetch.AllowPrivateAddresses = true
	for _, bc := range []string{"https://10.0.0.1/bc", "https://127.0.0.1:8443/bc", "https://localhost/bc"} {
		c := cfg
		c.Clients = []node.ClientConfig{static(bc)}
		if err := c.Validate(); err != nil {
			t.Errorf("%s with private addresses allowed: %v", bc, err)
		}
	}
	c := cfg
	c.Clients = []node.ClientConfig{static("http://127.0.0.1/bc")}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "backchannel_logout_uri") {
		t.Errorf("http with private addresses allowed: %v", err)
	}
	o := startOPWith(t, func(c *node.Config) {
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Clients = append(c.Clients, static("https://127.0.0.1:8443/bc"))
	})
	if cl, err := o.n.Directory().Client(t.Context(), "static-lo"); err != nil || cl.BackchannelLogoutURI != "https://127.0.0.1:8443/bc" {
		t.Fatalf("static client: %+v %v", cl.ClientMetadata, err)
	}
}

// TestLogoutMetadataRoundTrip: each logout field goes in and comes back
// out through dynamic registration (create, read, update: RFC 7591, RFC
// 7592) and the admin API (create, get, list, patch), and a static client
// carries them from config.
func TestLogoutMetadataRoundTrip(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Registration.Open = true
		c.RateLimit.Enabled = false
		c.Clients = append(c.Clients, node.ClientConfig{ID: "static-lo", ClientMetadata: directory.ClientMetadata{
			RedirectURIs: []string{"https://rp.example/cb"}, AuthMethod: "none", GrantTypes: []string{"authorization_code"},
			BackchannelLogoutURI: "https://rp.example/static-bc", BackchannelLogoutSessionRequired: true,
			FrontchannelLogoutURI: "https://rp.example/static-fc", FrontchannelLogoutSessionRequired: true}})
	})
	st, out := jsonCall(t, http.MethodGet, o.issuer+"/admin/clients/static-lo", adminToken, nil)
	if st != http.StatusOK {
		t.Fatalf("static: %d %v", st, out)
	}
	checkLogoutFields(t, "static", out, "https://rp.example/static-bc", "https://rp.example/static-fc", true)

	// Dynamic registration.
	st, reg := jsonCall(t, http.MethodPost, o.issuer+"/register", "", logoutFields("https://rp.example/bc?x=1", "https://rp.example/fc?y=2", true))
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, reg)
	}
	checkLogoutFields(t, "register", reg, "https://rp.example/bc?x=1", "https://rp.example/fc?y=2", true)
	regURI, regToken, regID := reg["registration_client_uri"].(string), reg["registration_access_token"].(string), reg["client_id"].(string)
	st, out = jsonCall(t, http.MethodGet, regURI, regToken, nil)
	if st != http.StatusOK {
		t.Fatalf("read: %d %v", st, out)
	}
	checkLogoutFields(t, "register read", out, "https://rp.example/bc?x=1", "https://rp.example/fc?y=2", true)
	st, out = jsonCall(t, http.MethodPut, regURI, regToken, withMember(logoutFields("https://rp.example/bc2", "https://rp.example/fc2", false), "client_id", regID))
	if st != http.StatusOK {
		t.Fatalf("update: %d %v", st, out)
	}
	checkLogoutFields(t, "register update", out, "https://rp.example/bc2", "https://rp.example/fc2", false)
	st, out = jsonCall(t, http.MethodGet, regURI, regToken, nil)
	if st != http.StatusOK {
		t.Fatalf("read: %d %v", st, out)
	}
	checkLogoutFields(t, "register read after update", out, "https://rp.example/bc2", "https://rp.example/fc2", false)

	// Admin API.
	st, out = jsonCall(t, http.MethodPost, o.issuer+"/admin/clients", adminToken, withMember(logoutFields("https://rp.example/bc", "https://rp.example/fc", true), "client_id", "admin-lo"))
	if st != http.StatusCreated {
		t.Fatalf("admin create: %d %v", st, out)
	}
	checkLogoutFields(t, "admin create", out, "https://rp.example/bc", "https://rp.example/fc", true)
	st, out = jsonCall(t, http.MethodGet, o.issuer+"/admin/clients/admin-lo", adminToken, nil)
	if st != http.StatusOK {
		t.Fatalf("admin get: %d %v", st, out)
	}
	checkLogoutFields(t, "admin get", out, "https://rp.example/bc", "https://rp.example/fc", true)
	st, out = jsonCall(t, http.MethodPatch, o.issuer+"/admin/clients/admin-lo", adminToken, map[string]any{
		"backchannel_logout_uri": "https://rp.example/bc3", "frontchannel_logout_session_required": false})
	if st != http.StatusOK {
		t.Fatalf("admin patch: %d %v", st, out)
	}
	if out["backchannel_logout_uri"] != "https://rp.example/bc3" || out["frontchannel_logout_uri"] != "https://rp.example/fc" ||
		out["backchannel_logout_session_required"] != true || out["frontchannel_logout_session_required"] != nil {
		t.Errorf("admin patch: %v", out)
	}
	st, out = jsonCall(t, http.MethodPatch, o.issuer+"/admin/clients/admin-lo", adminToken, map[string]any{"frontchannel_logout_uri": "https://other.example/fc"})
	if st != http.StatusBadRequest || !strings.Contains(out["error_description"].(string), "frontchannel_logout_uri") {
		t.Fatalf("admin patch to another origin: %d %v", st, out)
	}
	if c, err := o.n.Directory().Client(t.Context(), "admin-lo"); err != nil || c.FrontchannelLogoutURI != "https://rp.example/fc" || c.BackchannelLogoutURI != "https://rp.example/bc3" {
		t.Fatalf("stored after a refused patch: %+v %v", c.ClientMetadata, err)
	}
}
