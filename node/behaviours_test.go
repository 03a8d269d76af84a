package node_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each test names one behaviour the OIDC core must have; each fails if the
// rule behind it is removed.

func TestMissingResponseType(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	delete(p, "response_type")
	r := get(t, browser(t), o.authorizeURL(p))
	if r.loc == nil || r.loc.Query().Get("error") != "invalid_request" || r.loc.Query().Get("state") != p["state"] {
		t.Fatalf("got %d %v", r.status, r.loc)
	}
	if r.loc.Query().Get("iss") != o.issuer {
		t.Fatal("error response without iss (RFC 9207)")
	}
}

func TestUnsupportedResponseType(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["response_type"] = "token"
	r := get(t, browser(t), o.authorizeURL(p))
	if r.loc == nil || r.loc.Query().Get("error") != "unsupported_response_type" {
		t.Fatalf("got %d %v", r.status, r.loc)
	}
}

func TestUnregisteredRedirectURINeverRedirects(t *testing.T) {
	o := startOP(t)
	for _, uri := range []string{"http://127.0.0.1:9/evil", rpRedirect + "/", rpRedirect + "?x=1", ""} {
		p := baseParams()
		p["redirect_uri"] = uri
		r := get(t, browser(t), o.authorizeURL(p))
		if r.status != http.StatusBadRequest || r.loc != nil {
			t.Fatalf("redirect_uri %q: got %d, Location %v", uri, r.status, r.loc)
		}
	}
	p := baseParams()
	p["client_id"] = "nobody"
	if r := get(t, browser(t), o.authorizeURL(p)); r.status != http.StatusBadRequest || r.loc != nil {
		t.Fatalf("unknown client: %d %v", r.status, r.loc)
	}
}

func TestRequestWithoutNonceSucceedsForCodeFlow(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	delete(p, "nonce")
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	st, tok := o.redeem(t, cb.Query().Get("code"), "")
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	if _, has := idClaims(t, tok["id_token"].(string))["nonce"]; has {
		t.Fatal("nonce in the ID token though none was sent")
	}
}

func TestPromptLoginShowsLoginFormAgain(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	p := baseParams()
	if r := get(t, b, o.authorizeURL(p)); r.status != 302 {
		t.Fatalf("a signed-in session was asked again: %d", r.status)
	}
	p["prompt"] = "login"
	if r := get(t, b, o.authorizeURL(p)); !r.isLogin() {
		t.Fatalf("prompt=login did not show the login form: %d %v", r.status, r.loc)
	}
}

func TestPromptNoneWithoutSessionReturnsLoginRequired(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["prompt"] = "none"
	r := get(t, browser(t), o.authorizeURL(p))
	if r.loc == nil || r.loc.Query().Get("error") != "login_required" || r.loc.Query().Get("state") != p["state"] {
		t.Fatalf("got %d %v %s", r.status, r.loc, r.body)
	}
}

func TestPromptNoneWithSessionReturnsCodeWithoutUI(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	p := baseParams()
	p["prompt"] = "none"
	r := get(t, b, o.authorizeURL(p))
	if r.status != 302 || r.loc.Query().Get("code") == "" {
		t.Fatalf("got %d %v", r.status, r.loc)
	}
	// Scopes not consented yet need UI: consent_required.
	p["scope"] = "openid phone"
	r = get(t, b, o.authorizeURL(p))
	if r.loc == nil || r.loc.Query().Get("error") != "consent_required" {
		t.Fatalf("new scope with prompt=none: %v", r.loc)
	}
}

func TestMaxAgeForcesFreshLoginAndNewerAuthTime(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	cb := o.signIn(t, b, o.authorizeURL(baseParams()))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	first := idClaims(t, tok["id_token"].(string))["auth_time"].(float64)

	o.clock.Advance(2 * time.Second)
	p := baseParams()
	p["max_age"] = "1"
	r := get(t, b, o.authorizeURL(p))
	if !r.isLogin() {
		t.Fatalf("max_age=1 after 2 s did not ask to sign in: %d %v", r.status, r.loc)
	}
	r = o.login(t, b, r, userPassword)
	_, tok = o.redeem(t, r.loc.Query().Get("code"), "")
	second := idClaims(t, tok["id_token"].(string))["auth_time"].(float64)
	if second <= first {
		t.Fatalf("auth_time %v not newer than %v", second, first)
	}
}

func TestIDTokenHint(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	cb := o.signIn(t, b, o.authorizeURL(baseParams()))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	hint := tok["id_token"].(string)

	p := baseParams()
	p["prompt"] = "none"
	p["id_token_hint"] = hint
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("code") == "" {
		t.Fatalf("hint of the signed-in user: %v", r.loc)
	}
	// A hint for someone else: prompt=none cannot switch users.
	other, err := o.n.Directory().CreateUser(t.Context(), dirUser("bob"))
	if err != nil {
		t.Fatal(err)
	}
	bob := browser(t)
	r := get(t, bob, o.authorizeURL(baseParams()))
	f := hidden(r.body)
	f.Set("username", "bob")
	f.Set("password", userPassword)
	r = postForm(t, bob, o.issuer+"/login", f)
	r = o.consent(t, bob, r, "allow")
	_, btok := o.redeem(t, r.loc.Query().Get("code"), "")
	if idClaims(t, btok["id_token"].(string))["sub"] != other.Subject {
		t.Fatal("bob's token has another subject")
	}
	p["id_token_hint"] = btok["id_token"].(string)
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "login_required" {
		t.Fatalf("hint of another user with prompt=none: %v", r.loc)
	}
	p["id_token_hint"] = hint[:len(hint)-4] + "AAAA"
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("forged hint: %v", r.loc)
	}
}

func TestClaimsParameterEssentialUserinfoClaim(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["scope"] = "openid"
	p["claims"] = `{"userinfo":{"email":{"essential":true}},"id_token":{"name":null}}`
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	if idClaims(t, tok["id_token"].(string))["name"] != "Alice Liddell" {
		t.Fatal("claims.id_token name not in the ID token")
	}
	_, ui, _ := o.userinfo(t, tok["access_token"].(string))
	if ui["email"] != "alice@example.com" {
		t.Fatalf("essential userinfo claim missing: %v", ui)
	}
	if _, has := ui["name"]; has {
		t.Fatal("userinfo released name without profile scope or claims.userinfo")
	}
}

func TestScopeClaims(t *testing.T) {
	o := startOP(t)
	tests := []struct {
		scope string
		want  []string
		not   []string
	}{
		{"openid profile", []string{"name", "given_name", "family_name", "preferred_username", "locale", "updated_at"}, []string{"email", "address", "phone_number"}},
		{"openid email", []string{"email", "email_verified"}, []string{"name", "address", "updated_at"}},
		{"openid address", []string{"address"}, []string{"email", "name"}},
		{"openid phone", []string{"phone_number"}, []string{"email", "address"}},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			p := baseParams()
			p["scope"] = tt.scope
			cb := o.signIn(t, browser(t), o.authorizeURL(p))
			_, tok := o.redeem(t, cb.Query().Get("code"), "")
			_, ui, _ := o.userinfo(t, tok["access_token"].(string))
			for _, c := range tt.want {
				if _, ok := ui[c]; !ok {
					t.Errorf("%s missing from %v", c, ui)
				}
			}
			for _, c := range tt.not {
				if _, ok := ui[c]; ok {
					t.Errorf("%s released without its scope", c)
				}
			}
			if ui["sub"] != o.user.Subject {
				t.Errorf("sub %v", ui["sub"])
			}
		})
	}
}

// TestUpdatedAtClaim: updated_at, advertised in claims_supported, is the
// user record's last change in seconds since the epoch (OIDC Core §5.1),
// from userinfo with the profile scope and in the ID token when the
// claims parameter asks for it there.
func TestUpdatedAtClaim(t *testing.T) {
	o := startOP(t)
	want := float64(o.user.Updated.Unix())
	if o.user.Updated.IsZero() {
		t.Fatal("a new user has no update time")
	}
	p := baseParams()
	p["scope"] = "openid profile"
	p["claims"] = `{"id_token":{"updated_at":null}}`
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	if _, ui, _ := o.userinfo(t, tok["access_token"].(string)); ui["updated_at"] != want {
		t.Fatalf("userinfo updated_at = %v (%T), want %v", ui["updated_at"], ui["updated_at"], want)
	}
	if got := idClaims(t, tok["id_token"].(string))["updated_at"]; got != want {
		t.Fatalf("ID token updated_at = %v, want %v", got, want)
	}
}

func TestClientSecretPost(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["client_id"] = "rp-post"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	v := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
	// The same client using Basic is refused: it registered post.
	if st, out := o.tokenRequest(t, "rp-post", v); st != 401 || out["error"] != "invalid_client" {
		t.Fatalf("basic for a post client: %d %v", st, out)
	}
	st, out := o.post(t, "/token", "rp-post", v)
	if st != 200 || out["access_token"] == nil {
		t.Fatalf("client_secret_post: %d %v", st, out)
	}
}

func TestBadClientCredentialsGet401WithChallenge(t *testing.T) {
	o := startOP(t)
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
}

func TestCodeReuseFailsAndRevokesTokensFromFirstUse(t *testing.T) {
	o := startOP(t)
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	code := cb.Query().Get("code")
	st, first := o.redeem(t, code, "")
	if st != 200 {
		t.Fatalf("first redemption %d %v", st, first)
	}
	if st, _, _ := o.userinfo(t, first["access_token"].(string)); st != 200 {
		t.Fatalf("userinfo before reuse: %d", st)
	}
	st, second := o.redeem(t, code, "")
	if st != 400 || second["error"] != "invalid_grant" {
		t.Fatalf("second redemption %d %v", st, second)
	}
	if st, _, _ := o.userinfo(t, first["access_token"].(string)); st != 401 {
		t.Fatalf("access token from the first redemption still works: %d", st)
	}
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}
	if st, out := o.tokenRequest(t, "rp", v); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh token from the first redemption still works: %d %v", st, out)
	}
}

func TestWrongPKCEVerifier(t *testing.T) {
	o := startOP(t)
	verifier, challenge := pkce()
	p := baseParams()
	p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	code := cb.Query().Get("code")
	for _, bad := range []string{noVerifier, pkceVerifier, verifier + "x"} {
		if st, out := o.redeem(t, code, bad); st != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("verifier %q: %d %v", bad, st, out)
		}
	}
	// The right verifier still works: a wrong guess does not burn the code.
	if st, out := o.redeem(t, code, verifier); st != 200 {
		t.Fatalf("right verifier: %d %v", st, out)
	}
}

func TestPublicClientMustUsePKCE(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["client_id"] = "spa"
	delete(p, "code_challenge")
	delete(p, "code_challenge_method")
	r := get(t, browser(t), o.authorizeURL(p))
	if r.loc == nil || r.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("public client without PKCE: %v", r.loc)
	}
	p["code_challenge_method"] = "plain"
	p["code_challenge"] = strings.Repeat("a", 43)
	if r := get(t, browser(t), o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %v", r.loc)
	}
	verifier, challenge := pkce()
	p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	v := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {rpRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier}}
	st, out := o.post(t, "/token", "", v)
	if st != 200 {
		t.Fatalf("public client token: %d %v", st, out)
	}
	if h := idClaims(t, out["id_token"].(string)); h["aud"] != "spa" {
		t.Fatalf("aud %v", h["aud"])
	}
}

func TestRefreshRotationAndReuseDetectionRevokesFamily(t *testing.T) {
	o := startOP(t)
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	_, t0 := o.redeem(t, cb.Query().Get("code"), "")
	rt0 := t0["refresh_token"].(string)
	refresh := func(rt, scope string) (int, map[string]any) {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			v.Set("scope", scope)
		}
		return o.tokenRequest(t, "rp", v)
	}
	// Scope may narrow, never widen.
	if st, out := refresh(rt0, "openid profile email phone"); st != 400 || out["error"] != "invalid_scope" {
		t.Fatalf("widening refresh: %d %v", st, out)
	}
	st, t1 := refresh(rt0, "openid email")
	if st != 200 || t1["scope"] != "openid email" || t1["refresh_token"] == rt0 {
		t.Fatalf("rotation: %d %v", st, t1)
	}
	rt1 := t1["refresh_token"].(string)
	// Presenting the used token again revokes the whole family.
	if st, out := refresh(rt0, ""); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", st, out)
	}
	if st, out := refresh(rt1, ""); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("the family survived reuse detection: %d %v", st, out)
	}
	if st, _, _ := o.userinfo(t, t1["access_token"].(string)); st != 401 {
		t.Fatalf("access token of a revoked family works: %d", st)
	}
}

func TestExpiredCode(t *testing.T) {
	o := startOP(t)
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	o.clock.Advance(61 * time.Second)
	if st, out := o.redeem(t, cb.Query().Get("code"), ""); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("expired code: %d %v", st, out)
	}
}

func TestPostToAuthorize(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	v := url.Values{}
	for k, val := range baseParams() {
		v.Set(k, val)
	}
	r := postForm(t, b, o.issuer+"/authorize", v)
	r = o.login(t, b, r, userPassword)
	r = o.consent(t, b, r, "allow")
	if r.status != 302 || r.loc.Query().Get("code") == "" || r.loc.Query().Get("state") != v.Get("state") {
		t.Fatalf("POST /authorize: %d %v", r.status, r.loc)
	}
}

func TestUnknownParameterIgnored(t *testing.T) {
	o := startOP(t)
	p := baseParams()
	p["frobnicate"] = "yes"
	p["scope"] = "openid unknown_scope email"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	if tok["scope"] != "openid email" {
		t.Fatalf("scope %v", tok["scope"])
	}
}

func TestWrongPasswordShowsGenericErrorAndNoCode(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	r := get(t, b, o.authorizeURL(baseParams()))
	bad := o.login(t, b, r, "wrong password")
	if !bad.isLogin() || bad.loc != nil || !strings.Contains(bad.body, "username or password is not correct") {
		t.Fatalf("wrong password: %d %v", bad.status, bad.loc)
	}
	// An unknown user gets the very same page text.
	f := hidden(r.body)
	f.Set("username", "nobody")
	f.Set("password", "whatever-password")
	unknown := postForm(t, b, o.issuer+"/login", f)
	if !strings.Contains(unknown.body, "username or password is not correct") {
		t.Fatal("unknown user answered differently")
	}
}

func TestLoginFormNeedsCSRFToken(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	r := get(t, b, o.authorizeURL(baseParams()))
	f := hidden(r.body)
	f.Set("csrf", "forged")
	f.Set("username", "alice")
	f.Set("password", userPassword)
	if r := postForm(t, b, o.issuer+"/login", f); r.status != 400 || r.loc != nil {
		t.Fatalf("forged CSRF: %d %v", r.status, r.loc)
	}
	// Another browser (no cookie) with the right-looking form fails too.
	if r := postForm(t, browser(t), o.issuer+"/login", hidden(get(t, b, o.authorizeURL(baseParams())).body)); r.status != 400 {
		t.Fatalf("form posted without the session cookie: %d", r.status)
	}
}

func TestConsentDenyReturnsAccessDenied(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	p := baseParams()
	r := o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword)
	r = o.consent(t, b, r, "deny")
	if r.loc == nil || r.loc.Query().Get("error") != "access_denied" || r.loc.Query().Get("state") != p["state"] {
		t.Fatalf("deny: %d %v", r.status, r.loc)
	}
	// Consent is remembered per client and scope set.
	b2 := browser(t)
	o.signIn(t, b2, o.authorizeURL(baseParams()))
	if r := get(t, b2, o.authorizeURL(baseParams())); r.status != 302 || r.loc.Query().Get("code") == "" {
		t.Fatalf("asked again for consent already given: %d", r.status)
	}
}

func TestFormPostResponseMode(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	p := baseParams()
	p["response_mode"] = "form_post"
	r := o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword)
	r = o.consent(t, b, r, "allow")
	f := hidden(r.body)
	if r.status != 200 || !strings.Contains(r.body, `action="`+rpRedirect+`"`) || f.Get("code") == "" || f.Get("state") != p["state"] {
		t.Fatalf("form_post: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "<script>") {
		t.Fatal("inline script in the form_post page")
	}
}

func TestClientCredentials(t *testing.T) {
	o := startOP(t)
	st, out := o.post(t, "/token", "rp-post", url.Values{"grant_type": {"client_credentials"}})
	if st != 200 || out["id_token"] != nil || out["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", st, out)
	}
	if c := idClaims(t, out["access_token"].(string)); c["sub"] != "rp-post" || c["client_id"] != "rp-post" {
		t.Fatalf("claims %v", c)
	}
	// Not a user's token: no userinfo.
	if st, _, _ := o.userinfo(t, out["access_token"].(string)); st == 200 {
		t.Fatal("userinfo accepted a client_credentials token")
	}
	// A client not registered for the grant is refused.
	if st, out := o.tokenRequest(t, "rp", url.Values{"grant_type": {"client_credentials"}}); st != 400 || out["error"] != "unauthorized_client" {
		t.Fatalf("unregistered grant: %d %v", st, out)
	}
}

func TestLogoutWithoutHintAsksForConfirmation(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	r := get(t, b, o.issuer+"/logout")
	if r.status != 200 || !strings.Contains(r.body, `name="confirm"`) {
		t.Fatalf("logout without hint: %d %s", r.status, r.body)
	}
	// Still signed in until confirmed.
	p := baseParams()
	p["prompt"] = "none"
	if g := get(t, b, o.authorizeURL(p)); g.loc.Query().Get("code") == "" {
		t.Fatal("an unconfirmed logout ended the session")
	}
	f := hidden(r.body)
	if r := postForm(t, b, o.issuer+"/logout", f); r.status != 200 || !strings.Contains(r.body, "signed out") {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	if g := get(t, b, o.authorizeURL(p)); g.loc.Query().Get("error") != "login_required" {
		t.Fatal("session survived a confirmed logout")
	}
	// An unregistered post_logout_redirect_uri is never followed.
	bad := get(t, b, o.issuer+"/logout?"+url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {"http://127.0.0.1:9/evil"}}.Encode())
	if bad.status != 400 || bad.loc != nil {
		t.Fatalf("unregistered post-logout URI: %d %v", bad.status, bad.loc)
	}
}

func TestDiscoveryListsWhatIsSupported(t *testing.T) {
	o := startOP(t)
	resp, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	decodeJSON(resp, &md)
	resp.Body.Close()
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint",
		"revocation_endpoint", "introspection_endpoint"} {
		u, _ := md[k].(string)
		if !strings.HasPrefix(u, o.issuer+"/") {
			t.Errorf("%s = %v", k, md[k])
		}
	}
	list := func(k string) []string {
		var out []string
		for _, v := range md[k].([]any) {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	if !slices.Equal(list("code_challenge_methods_supported"), []string{"S256"}) {
		t.Error("code_challenge_methods_supported")
	}
	if !slices.Equal(list("response_types_supported"), []string{"code", "none"}) {
		t.Error("response_types_supported")
	}
	if md["request_parameter_supported"] != true || md["claims_parameter_supported"] != true {
		t.Error("request/claims parameter flags")
	}
	// Request objects are supported, unsigned ones too (none is listed)
	// from a client that pinned no alg: the sign-in page follows.
	if !slices.Contains(list("request_object_signing_alg_values_supported"), "none") || md["require_signed_request_object"] != nil {
		t.Error("request_object_signing_alg_values_supported lacks none")
	}
	p := baseParams()
	p["request"] = b64([]byte(`{"alg":"none"}`)) + "." + b64(mustJSON(t, map[string]string{"redirect_uri": rpRedirect, "state": "s", "nonce": "n",
		"code_challenge": s256(pkceVerifier), "code_challenge_method": "S256"})) + "."
	if r := get(t, browser(t), o.authorizeURL(p)); !r.isLogin() {
		t.Fatalf("unsigned request object: %d %v %s", r.status, r.loc, r.body)
	}
}

// TestReauthenticationCannotBeSkipped: a request that showed the login
// page (prompt=login, max_age, acr_values=phr) gets no code by posting its
// consent or continue form on the old sign-in.
func TestReauthenticationCannotBeSkipped(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	o.clock.Advance(2 * time.Second)
	cases := map[string]map[string]string{
		"prompt=login":    {"prompt": "login"},
		"max_age=1":       {"max_age": "1"},
		"acr_values=phr":  {"acr_values": "phr"},
		"prompt=login+id": {"prompt": "login", "scope": "openid email"},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			p := baseParams()
			for k, v := range extra {
				p[k] = v
			}
			r := get(t, b, o.authorizeURL(p))
			if !strings.Contains(r.body, `id="passkey-login"`) {
				t.Fatalf("no login page: %d %v", r.status, r.loc)
			}
			f := hidden(r.body)
			f.Set("decision", "allow")
			if r := postForm(t, b, o.issuer+"/consent", f); r.loc != nil && r.loc.Query().Get("code") != "" {
				t.Fatalf("consent form skipped the sign-in: %v", r.loc)
			}
			if r := postForm(t, b, o.issuer+"/login/continue", url.Values{"rid": {f.Get("rid")}, "csrf": {f.Get("csrf")}}); r.loc != nil && r.loc.Query().Get("code") != "" {
				t.Fatalf("continue form skipped the sign-in: %v", r.loc)
			}
		})
	}
	// Signing in again satisfies prompt=login.
	p := baseParams()
	p["prompt"] = "login"
	r := o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword)
	if r.loc == nil || r.loc.Query().Get("code") == "" {
		t.Fatalf("a fresh sign-in did not satisfy prompt=login: %d %v", r.status, r.loc)
	}
}

// TestTokenTypesAreNotInterchangeable: an ID token is no access token and
// an access token is no id_token_hint (RFC 8725 §3.11, RFC 9068 §4).
func TestTokenTypesAreNotInterchangeable(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	cb := o.signIn(t, b, o.authorizeURL(baseParams()))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	if st, _, _ := o.userinfo(t, tok["id_token"].(string)); st != 401 {
		t.Fatalf("an ID token worked as an access token: %d", st)
	}
	p := baseParams()
	p["prompt"] = "none"
	p["id_token_hint"] = tok["access_token"].(string)
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("an access token worked as id_token_hint: %v", r.loc)
	}
}

// TestDeletedUserGetsNoMoreTokens: refresh fails once the user is gone.
func TestDeletedUserGetsNoMoreTokens(t *testing.T) {
	o := startOP(t)
	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	_, tok := o.redeem(t, cb.Query().Get("code"), "")
	if err := o.n.Directory().DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	if st, out := o.tokenRequest(t, "rp", v); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh for a deleted user: %d %v", st, out)
	}
	if st, _, _ := o.userinfo(t, tok["access_token"].(string)); st == 200 {
		t.Fatal("userinfo answered for a deleted user")
	}
}

// TestClaimsNeedTheirOwnConsent: consent to scopes does not cover a claim
// asked for by name that those scopes do not release; a claims sub value
// for another user gets no code.
func TestClaimsNeedTheirOwnConsent(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	p := baseParams()
	p["scope"] = "openid profile"
	o.signIn(t, b, o.authorizeURL(p))
	p["claims"] = `{"userinfo":{"name":null}}`
	if r := get(t, b, o.authorizeURL(p)); r.status != 302 || r.loc.Query().Get("code") == "" {
		t.Fatalf("a claim the consented profile scope releases asked again: %d", r.status)
	}
	p["claims"] = `{"userinfo":{"email":{"essential":true}}}`
	if r := get(t, b, o.authorizeURL(p)); !r.isConsent() {
		t.Fatalf("email claim released without consent: %d %v", r.status, r.loc)
	}
	p["prompt"] = "none"
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none with an unconsented claim: %v", r.loc)
	}
	p["claims"] = `{"id_token":{"sub":{"value":"someone-else"}}}`
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "login_required" {
		t.Fatalf("claims sub value of another user: %v", r.loc)
	}
	p["claims"] = `{"id_token":{"sub":{"value":"` + o.user.Subject + `"}}}`
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("code") == "" {
		t.Fatalf("claims sub value of the signed-in user: %v", r.loc)
	}
}
