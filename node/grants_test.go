package node_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// grantOf signs alice in for client "rp" and returns the token response.
func (o *op) grantOf(t *testing.T) map[string]any {
	t.Helper()
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	st, tok := o.redeem(t, cb.Query().Get("code"), "")
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	return tok
}

// alive reports whether the grant behind tok still works: its access
// token at userinfo and introspection.
func (o *op) alive(t *testing.T, tok map[string]any) bool {
	t.Helper()
	st, _, _ := o.userinfo(t, tok["access_token"].(string))
	_, in := o.clientPost(t, "/introspect", "rp", url.Values{"token": {tok["access_token"].(string)}})
	if (st == 200) != (in["active"] == true) {
		t.Fatalf("userinfo %d but introspection active=%v", st, in["active"])
	}
	return st == 200
}

// TestRevokeNeedsTheToken: /revoke ends a grant only for the token
// itself (RFC 7009 §2.1): the current refresh token, or an access token
// whose signature verifies. The session and grant ids are in every
// access token and ID token, so a refresh-token-shaped value built from
// them, a tampered access token or a rotated-away refresh token get 200
// and change nothing (§2.2).
func TestRevokeNeedsTheToken(t *testing.T) {
	o := startOP(t)
	tok := o.grantOf(t)
	at := idClaims(t, tok["access_token"].(string))
	sid, gid := at["sid"].(string), at["gid"].(string)
	parts := strings.Split(tok["access_token"].(string), ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	// Rotate once: the first refresh token is used up.
	old := tok["refresh_token"].(string)
	st, rotated := o.tokenRequest(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}})
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, rotated)
	}
	for _, tc := range []struct{ name, token string }{
		{"forged refresh token from sid and gid", sid + "." + gid + "." + strings.Repeat("x", 43)},
		{"access token with a bad signature", tampered},
		{"rotated-away refresh token", old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, out := o.clientPost(t, "/revoke", "rp", url.Values{"token": {tc.token}}); st != 200 {
				t.Fatalf("revoke: %d %v", st, out)
			}
			if !o.alive(t, rotated) {
				t.Fatal("the grant was revoked without its token")
			}
		})
	}
	// The genuine access token does revoke the grant.
	if st, out := o.clientPost(t, "/revoke", "rp", url.Values{"token": {rotated["access_token"].(string)}}); st != 200 {
		t.Fatalf("revoke: %d %v", st, out)
	}
	if o.alive(t, rotated) {
		t.Fatal("a verified access token did not revoke its grant")
	}
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated["refresh_token"].(string)}}
	if st, _ := o.tokenRequest(t, "rp", v); st != 400 {
		t.Fatalf("refresh after revocation: %d", st)
	}
}

// signAccessToken signs claims as an access token with the node's own
// key: what a token would look like if the OP ever signed one whose
// claims disagree with its grant.
func (o *op) signAccessToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := o.n.Crypto().Sign(t.Context(), "ES256", b, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAccessTokenMustMatchItsGrant: userinfo and introspection answer
// for an access token only when its sub and client_id are those of the
// grant it names (sid, gid): a token naming alice's live grant cannot
// read bob's claims, nor be introspected by another client as its own.
func TestAccessTokenMustMatchItsGrant(t *testing.T) {
	o := startOP(t)
	bob, err := o.n.Directory().CreateUser(t.Context(), dirUser("bob"))
	if err != nil {
		t.Fatal(err)
	}
	tok := o.grantOf(t)
	genuine := idClaims(t, tok["access_token"].(string))
	for _, tc := range []struct {
		name, client string
		change       map[string]any
	}{
		{"another subject", "rp", map[string]any{"sub": bob.Subject}},
		{"another client", "rp-post", map[string]any{"client_id": "rp-post"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := maps.Clone(genuine)
			maps.Copy(claims, tc.change)
			claims["jti"] = "forged-" + tc.client
			forged := o.signAccessToken(t, claims)
			if st, out, _ := o.userinfo(t, forged); st != 401 {
				t.Fatalf("userinfo answered a token that does not match its grant: %d %v", st, out)
			}
			if _, in := o.clientPost(t, "/introspect", tc.client, url.Values{"token": {forged}}); in["active"] != false {
				t.Fatalf("introspection: %v", in)
			}
		})
	}
	if !o.alive(t, tok) {
		t.Fatal("the genuine token stopped working")
	}
}

// TestDeletedOrDisabledUserLosesEverything: deleting a user, or
// disabling them (authrim users disable), ends what they had at once: a
// silent authorization with their cookie gets login_required, a code
// issued before cannot be redeemed, their refresh token (offline_access
// too) fails, their access token stops at userinfo and introspection,
// and they cannot sign in again. Enabling a disabled user lets them sign
// in anew but brings none of the old sessions or tokens back.
func TestDeletedOrDisabledUserLosesEverything(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		signIn             string // what the sign-in page says afterwards
	}{
		{"deleted", "DELETE", "/admin/users/alice", "not correct"},
		{"disabled", "POST", "/admin/users/alice/disable", "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startOP(t)
			b := browser(t)
			p := baseParams()
			p["scope"] = "openid profile offline_access"
			cb := o.signIn(t, b, o.authorizeURL(p))
			st, tok := o.redeem(t, cb.Query().Get("code"), "")
			if st != 200 || tok["refresh_token"] == nil {
				t.Fatalf("redeem: %d %v", st, tok)
			}
			p["prompt"] = "none"
			silent := get(t, b, o.authorizeURL(p))
			unredeemed := silent.loc.Query().Get("code")
			if unredeemed == "" {
				t.Fatalf("silent authorization before: %v", silent.loc)
			}

			if st, body := admin(t, o.n, tc.method, tc.path, adminToken, ""); st >= 300 {
				t.Fatalf("%s %s: %d %s", tc.method, tc.path, st, body)
			}

			o.checkAllEnded(t, b, p, tok, unredeemed)
			page := o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword)
			if page.loc != nil || !strings.Contains(page.body, tc.signIn) {
				t.Fatalf("sign-in afterwards: %d %v", page.status, page.loc)
			}
			if tc.name != "disabled" {
				return
			}
			if st, body := admin(t, o.n, "POST", "/admin/users/alice/enable", adminToken, ""); st != 200 {
				t.Fatalf("enable: %d %s", st, body)
			}
			o.checkAllEnded(t, b, p, tok, "")
			fresh := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
			if st, _ := o.redeem(t, fresh.Query().Get("code"), ""); st != 200 {
				t.Fatalf("a new sign-in after enable: %d", st)
			}
		})
	}
}

// checkAllEnded checks that nothing of an earlier sign-in works: the
// cookie in b, the code (if any), and the tokens of tok. The read-only
// checks (userinfo, introspection) go first: they must refuse on their
// own, before a refresh or authorization has ended the grant.
func (o *op) checkAllEnded(t *testing.T, b *http.Client, silent map[string]string, tok map[string]any, code string) {
	t.Helper()
	if st, _, _ := o.userinfo(t, tok["access_token"].(string)); st != 401 {
		t.Errorf("userinfo: %d", st)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if _, in := o.clientPost(t, "/introspect", "rp", url.Values{"token": {tok[k].(string)}}); in["active"] != false {
			t.Errorf("introspection of the %s: %v", k, in)
		}
	}
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	if st, out := o.tokenRequest(t, "rp", v); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh: %d %v", st, out)
	}
	if code != "" {
		if st, out := o.redeem(t, code, ""); st != 400 || out["error"] != "invalid_grant" {
			t.Errorf("code issued before: %d %v", st, out)
		}
	}
	if r := get(t, b, o.authorizeURL(silent)); r.loc == nil || r.loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none with the old cookie: %d %v", r.status, r.loc)
	}
}
