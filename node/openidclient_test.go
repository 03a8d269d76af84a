package node_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/http/dpop"
	"authrim/node"
)

// openIDClientDir holds the openid-client package (npm) and the scripts
// that drive it; .ci/run installs it (npm ci).
const openIDClientDir = "testdata/openid-client"

// needOpenIDClient skips without node or the installed package, except
// under CI, where it fails: CI must run the real library.
func needOpenIDClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(openIDClientDir, "node_modules", "openid-client"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openid-client is not installed (run npm ci in node/%s): %v", openIDClientDir, err)
		}
		t.Skipf("openid-client is not installed (npm ci in node/%s): %v", openIDClientDir, err)
	}
	return node
}

// TestOpenIDClientDPoP: openid-client (a real RP library with its own
// DPoP support) redeems a public client's code with a DPoP proof, calls
// userinfo with the bound token, and refreshes with the same key; the
// tokens it got are bound to the key it generated. With server nonces
// on, the library's own use_dpop_nonce retry at /token and the nonce it
// keeps from DPoP-Nonce get it through.
func TestOpenIDClientDPoP(t *testing.T) {
	nodeBin := needOpenIDClient(t)
	for _, nonces := range []bool{false, true} {
		t.Run(map[bool]string{false: "without nonces", true: "with nonces"}[nonces], func(t *testing.T) {
			openIDClientDPoP(t, nodeBin, startOPWith(t, func(c *node.Config) { c.DPoP.RequireNonce = nonces }))
		})
	}
}

func openIDClientDPoP(t *testing.T, nodeBin string, o *op) {
	p := baseParams()
	p["client_id"] = "spa"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "dpop.mjs")
	cmd.Dir = openIDClientDir
	cmd.Env = append(os.Environ(), "ISSUER="+o.issuer, "CALLBACK="+cb.String(), "VERIFIER="+pkceVerifier,
		"STATE="+p["state"], "NONCE="+p["nonce"])
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("openid-client: %v\n%s\n%s", err, out, stderr)
	}
	var r struct {
		JWK                  json.RawMessage `json:"jwk"`
		TokenType            string          `json:"token_type"`
		AccessToken          string          `json:"access_token"`
		UserinfoSub          string          `json:"userinfo_sub"`
		Sub                  string          `json:"sub"`
		RefreshedTokenType   string          `json:"refreshed_token_type"`
		RefreshedAccessToken string          `json:"refreshed_access_token"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(r.JWK); err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(r.TokenType, "DPoP") || !strings.EqualFold(r.RefreshedTokenType, "DPoP") {
		t.Fatalf("token types %q %q", r.TokenType, r.RefreshedTokenType)
	}
	for _, tok := range []string{r.AccessToken, r.RefreshedAccessToken} {
		if cnf, _ := idClaims(t, tok)["cnf"].(map[string]any); cnf["jkt"] != jkt {
			t.Fatalf("cnf %v, want the library's key %s", cnf, jkt)
		}
	}
	if r.UserinfoSub != o.user.Subject || r.Sub != o.user.Subject {
		t.Fatalf("userinfo sub %q, id token sub %q, want %q", r.UserinfoSub, r.Sub, o.user.Subject)
	}
	// The bound token is no bearer token.
	if st, _, _ := o.userinfo(t, r.RefreshedAccessToken); st != 401 {
		t.Fatalf("bound token as Bearer: %d", st)
	}
}
