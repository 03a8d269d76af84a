package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMalformedInputIsRejectedWithoutStateChange sends every endpoint bad
// or oversized input: each answers with a clear error, and a valid code
// that was in play stays redeemable (nothing changed).
func TestMalformedInputIsRejectedWithoutStateChange(t *testing.T) {
	o := startOP(t)
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	code := cb.Query().Get("code")
	valid := "grant_type=authorization_code&redirect_uri=" + url.QueryEscape(rpRedirect) + "&code=" + url.QueryEscape(code)

	tests := []struct {
		name, method, path, ctype, body string
		auth                            bool
		status                          int
		code                            string
	}{
		{"token: repeated parameter", "POST", "/token", "application/x-www-form-urlencoded", valid + "&code=" + url.QueryEscape(code), true, 400, "invalid_request"},
		{"token: JSON body", "POST", "/token", "application/json", `{"grant_type":"authorization_code"}`, true, 400, "invalid_request"},
		{"token: oversized body", "POST", "/token", "application/x-www-form-urlencoded", valid + "&pad=" + strings.Repeat("a", 70<<10), true, 413, "request_too_large"},
		{"token: overlong parameter", "POST", "/token", "application/x-www-form-urlencoded", valid + "&pad=" + strings.Repeat("a", 5000), true, 400, "invalid_request"},
		{"token: malformed percent-encoding", "POST", "/token", "application/x-www-form-urlencoded", "grant_type=%zz", true, 400, "invalid_request"},
		{"token: missing grant_type", "POST", "/token", "application/x-www-form-urlencoded", "code=" + url.QueryEscape(code), true, 400, "invalid_request"},
		{"token: unknown grant_type", "POST", "/token", "application/x-www-form-urlencoded", "grant_type=password&username=a&password=b", true, 400, "unsupported_grant_type"},
		{"token: garbage code", "POST", "/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=%00%01&redirect_uri=x", true, 400, "invalid_grant"},
		{"token: no client authentication", "POST", "/token", "application/x-www-form-urlencoded", valid, false, 401, "invalid_client"},
		{"token: GET", "GET", "/token", "", "", false, 405, "method_not_allowed"},
		{"revoke: no token", "POST", "/revoke", "application/x-www-form-urlencoded", "token_type_hint=refresh_token", true, 400, "invalid_request"},
		{"introspect: repeated token", "POST", "/introspect", "application/x-www-form-urlencoded", "token=a&token=b", true, 400, "invalid_request"},
		{"userinfo: not a bearer header", "GET", "/userinfo", "", "", false, 400, "invalid_request"},
		{"userinfo: garbage token", "POST", "/userinfo", "application/x-www-form-urlencoded", "access_token=" + strings.Repeat("x", 9000), false, 401, "invalid_token"},
		{"userinfo: token in the query", "GET", "/userinfo?access_token=abc", "", "", false, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var req *http.Request
			if body != nil {
				req, _ = http.NewRequest(tt.method, o.issuer+tt.path, body)
			} else {
				req, _ = http.NewRequest(tt.method, o.issuer+tt.path, nil)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth {
				req.SetBasicAuth("rp", rpSecret)
			}
			if tt.name == "userinfo: not a bearer header" {
				req.Header.Set("Authorization", "Basic abc")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			decodeJSON(resp, &out)
			if resp.StatusCode != tt.status || out["error"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, out, tt.status, tt.code)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("error without Cache-Control: no-store (%q)", cc)
			}
		})
	}
	t.Run("authorize: repeated and overlong parameters show an error page", func(t *testing.T) {
		for _, q := range []string{
			"client_id=rp&client_id=rp&redirect_uri=" + url.QueryEscape(rpRedirect) + "&response_type=code",
			"client_id=rp&redirect_uri=" + url.QueryEscape(rpRedirect) + "&response_type=code&state=" + strings.Repeat("s", 5000),
			"client_id=rp&redirect_uri=%zz",
		} {
			r := get(t, browser(t), o.issuer+"/authorize?"+q)
			if r.status != 400 || r.loc != nil {
				t.Fatalf("%.60s: %d %v", q, r.status, r.loc)
			}
		}
	})
	t.Run("login: forged form changes nothing", func(t *testing.T) {
		if r := postForm(t, browser(t), o.issuer+"/login", url.Values{"rid": {"x"}, "csrf": {"y"}, "username": {"alice"}, "password": {userPassword}}); r.status != 400 {
			t.Fatalf("%d", r.status)
		}
	})
	// None of that touched the code.
	if st, out := o.redeem(t, code, ""); st != 200 {
		t.Fatalf("the code did not survive the bad requests: %d %v", st, out)
	}
}
