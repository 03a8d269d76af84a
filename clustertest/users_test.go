package clustertest

import (
	"net/http"
	"net/url"
	"testing"
)

// A user disabled through one node loses everything at once on every
// node, with no wait: the session cookie made on node 1, the grain that
// holds the grant wherever it lives, the access token at any node's
// userinfo. Enabled again (through another node), they sign in anew.
func TestDisabledUserEndsOnEveryNode(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	b := newBrowser()
	code, verifier, err := signIn(b, tc, n1)
	if err != nil {
		t.Fatal(err)
	}
	status, tok, err := redeem(n2, code, verifier)
	if err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v %v", status, tok, err)
	}

	tc.cli(n3, nil, "users", "disable", "alice")

	for _, m := range tc.members {
		if status, _, err := userinfo(m, tok["access_token"].(string)); err != nil || status != http.StatusUnauthorized {
			t.Errorf("userinfo on %s: %d %v", m.name, status, err)
		}
	}
	if status, out, err := refresh(n1, tok["refresh_token"].(string)); err != nil || status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh on node1: %d %v %v", status, out, err)
	}
	// Every client sends PKCE: the request is otherwise refused before the
	// session is looked at.
	silent := url.Values{"client_id": {"rp"}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "prompt": {"none"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", n2.url()+"/authorize?"+silent.Encode(), nil)
	if p, err := do(b, req); err != nil || p.loc == nil || p.loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none on node2 with the session from node1: %v %v", p.loc, err)
	}
	if _, _, err := signIn(newBrowser(), tc, n3); err == nil {
		t.Error("a disabled user signed in on node3")
	}

	tc.cli(n1, nil, "users", "enable", "alice")
	code, verifier, err = signIn(newBrowser(), tc, n2)
	if err != nil {
		t.Fatalf("sign-in after enable: %v", err)
	}
	if status, _, err := redeem(n3, code, verifier); err != nil || status != http.StatusOK {
		t.Fatalf("redeem after enable: %d %v", status, err)
	}
	if status, _, _ := refresh(n3, tok["refresh_token"].(string)); status != http.StatusBadRequest {
		t.Fatalf("the refresh token from before the disable works again: %d", status)
	}
}
