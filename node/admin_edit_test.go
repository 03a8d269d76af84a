package node_test

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/node"
)

// TestPasswordResetEndsEverySignIn: an operator's password reset
// (PUT /admin/users/{id}/password) locks out whoever knew the old
// password: the old password is refused, and their cookie, unredeemed
// code, access token and refresh token all stop working at once. The
// new password signs in.
func TestPasswordResetEndsEverySignIn(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
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

	const newPassword = "a brand new passphrase"
	if st, body := admin(t, o.n, "PUT", "/admin/users/alice/password", adminToken, `{"password":"`+newPassword+`"}`); st != 200 {
		t.Fatalf("set password: %d %s", st, body)
	}
	o.checkAllEnded(t, b, p, tok, unredeemed)
	old := browser(t)
	if page := o.login(t, old, get(t, old, o.authorizeURL(baseParams())), userPassword); page.loc != nil || page.isConsent() || !page.isLogin() {
		t.Fatalf("the old password still signs in: %d %v", page.status, page.loc)
	}
	fresh := browser(t)
	page := o.login(t, fresh, get(t, fresh, o.authorizeURL(baseParams())), newPassword)
	if page.isConsent() {
		page = o.consent(t, fresh, page, "allow")
	}
	if page.loc == nil || page.loc.Query().Get("code") == "" {
		t.Fatalf("the new password does not sign in: %d %v", page.status, page.loc)
	}
}

// TestAdminShowKey: GET /admin/keys/{kid} shows one key of the real
// KeyManager with its public JWK, the one the JWKS publishes, and never
// private key material; an unknown kid is 404.
func TestAdminShowKey(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	st, body := admin(t, o.n, "GET", "/admin/keys", adminToken, "")
	if st != 200 {
		t.Fatalf("list: %d %s", st, body)
	}
	var list struct {
		Keys []struct{ Kid, Alg, Status string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Keys) == 0 {
		t.Fatalf("list: %v %s", err, body)
	}
	resp, err := http.Get(o.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var published jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&published); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range list.Keys {
		t.Run(k.Kid, func(t *testing.T) {
			st, body := admin(t, o.n, "GET", "/admin/keys/"+url.PathEscape(k.Kid), adminToken, "")
			if st != 200 {
				t.Fatalf("show: %d %s", st, body)
			}
			var got struct {
				Kid, Alg, Status string
				PublicJWK        json.RawMessage `json:"public_jwk"`
			}
			if err := json.Unmarshal(body, &got); err != nil || got.Kid != k.Kid || got.Alg != k.Alg || got.Status != k.Status {
				t.Fatalf("show: %v %s", err, body)
			}
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(got.PublicJWK); err != nil || !jwk.IsPublic() || jwk.KeyID != k.Kid {
				t.Fatalf("public_jwk %s: %v", got.PublicJWK, err)
			}
			for _, private := range []string{`"d"`, `"p"`, `"q"`, "wrapped", "private"} {
				if strings.Contains(string(body), private) {
					t.Fatalf("the answer holds %s: %s", private, body)
				}
			}
			if pub := published.Key(k.Kid); len(pub) == 1 {
				a, _ := pub[0].Thumbprint(crypto.SHA256)
				b, _ := jwk.Thumbprint(crypto.SHA256)
				if string(a) != string(b) {
					t.Fatal("public_jwk is not the key the JWKS publishes")
				}
			}
		})
	}
	if st, body := admin(t, o.n, "GET", "/admin/keys/no-such-kid", adminToken, ""); st != 404 || !strings.Contains(string(body), "no such key") {
		t.Fatalf("unknown kid: %d %s", st, body)
	}
	if st, _ := admin(t, o.n, "GET", "/admin/keys/"+url.PathEscape(list.Keys[0].Kid), "", ""); st != 401 {
		t.Fatalf("without the token: %d", st)
	}
}

// TestDemoOnlyOnLoopback: demo mode, which prints a password and serves
// a client on the issuer, is refused for a node reachable from elsewhere
// or part of a cluster.
func TestDemoOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*node.Config)
		want   string
	}{
		{"loopback", func(*node.Config) {}, ""},
		{"localhost", func(c *node.Config) { c.HTTP.Listen = "localhost:8080" }, ""},
		{"IPv6 loopback", func(c *node.Config) { c.HTTP.Listen = "[::1]:8080"; c.Issuer = "http://[::1]:8080" }, ""},
		{"every interface", func(c *node.Config) { c.HTTP.Listen = ":8080" }, "http.listen"},
		{"a LAN address", func(c *node.Config) { c.HTTP.Listen = "192.0.2.10:8080" }, "http.listen"},
		{"public issuer", func(c *node.Config) { c.Issuer = "https://id.example.com" }, "issuer"},
		{"cluster", func(c *node.Config) { c.Cluster.Peers = []string{"node2@127.0.0.1:7001"} }, "single node"},
		{"etcd", func(c *node.Config) { c.Storage.Backend = node.BackendEtcd }, "single node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.Default()
			tc.adjust(&cfg)
			err := node.CheckDemo(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	// node.Start checks too, whoever calls it.
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.HTTP.Listen = "0.0.0.0:0"
	if _, err := node.Start(context.Background(), cfg, node.Options{Demo: true}); err == nil || !strings.Contains(err.Error(), "--demo refused") {
		t.Fatalf("a demo node on every interface started: %v", err)
	}
}
