package node_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"authrim/actors/session"
	"authrim/directory"
	"authrim/node"
)

// The endpoints TestMalformedInputIsRejectedWithoutStateChange leaves
// out: logout, consent, continue, the passkey JSON endpoints, the account
// page and the admin directory API. Each bad request gets a clear error
// and changes nothing: the session stays signed in, the pending request
// and the WebAuthn challenge stay usable, no passkey, user or client
// appears or goes, and a code issued before it all is still redeemable.

// send is one request with an optional content type and extra headers
// (name, value pairs); the answer keeps its headers.
func send(t *testing.T, b *http.Client, method, u, ctype string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, u, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r := do(t, b, req)
	if l := r.header.Get("Location"); l != "" {
		r.loc, _ = url.Parse(l)
	}
	return r
}

// chunked hides a body's length: it goes out without Content-Length, so
// only a limit on what is read can stop it.
func chunked(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

const formType = "application/x-www-form-urlencoded"

// errorPage checks an HTML error answer: the status, no redirect, no code,
// not cached, and the session cookie not cleared.
func (r response) errorPage(t *testing.T, status int) {
	t.Helper()
	if r.status != status || r.loc != nil {
		t.Fatalf("got %d %v, want an error page %d: %.300s", r.status, r.loc, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("error page of type %q", ct)
	}
	if strings.Contains(r.body, "code=") || strings.Contains(r.body, `name="code"`) {
		t.Fatalf("error page carries a code: %s", r.body)
	}
	r.noStoreNoCookie(t)
}

// jsonError checks a JSON error answer.
func (r response) jsonError(t *testing.T, status int, code string) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != status || (code != "" && out["error"] != code) || out["error"] == nil {
		t.Fatalf("got %d %s, want a JSON error %d %s", r.status, r.body, status, code)
	}
	r.noStoreNoCookie(t)
}

func (r response) noStoreNoCookie(t *testing.T) {
	t.Helper()
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("error without Cache-Control: no-store (%q)", cc)
	}
	if sc := r.header.Values("Set-Cookie"); len(sc) > 0 {
		t.Fatalf("error answer sets a cookie: %q", sc)
	}
}

// signedInStill fails unless b's session is signed in (the account page
// needs that; it changes nothing).
func (o *op) signedInStill(t *testing.T, b *http.Client) {
	t.Helper()
	if r := get(t, b, o.issuer+"/account"); r.status != 200 || !strings.Contains(r.body, `id="csrf"`) {
		t.Fatalf("the session is no longer signed in: %d", r.status)
	}
}

// unsignedJWT is a JWS with alg "none" carrying claims.
func unsignedJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	p, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func TestMalformedMoreInputIsRejectedWithoutStateChange(t *testing.T) {
	o := startOP(t)
	alice := o.user.Subject
	if _, err := o.n.Directory().CreateUser(t.Context(), dirUser("bob")); err != nil {
		t.Fatal(err)
	}
	// The victim: a signed-in browser with a code in play. Ending its
	// session would also void the code.
	victim := browser(t)
	code := o.signIn(t, victim, o.authorizeURL(baseParams())).Query().Get("code")
	issued := time.Now()
	victimSID, _, _ := strings.Cut(o.sessionCookie(t, victim), ".")

	// A passkey for alice.
	auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	if st, raw := o.register(t, o.signedIn(t), o.rp(), auth, cred); st != 200 {
		t.Fatalf("register: %d %s", st, raw)
	}
	passkeys := o.passkeyIDs(t, alice)

	t.Run("logout", func(t *testing.T) {
		// A real ID token of another session, to tamper with.
		_, tok := o.redeem(t, o.signIn(t, browser(t), o.authorizeURL(baseParams())).Query().Get("code"), "")
		idt, _ := tok["id_token"].(string)
		parts := strings.Split(idt, ".")
		if len(parts) != 3 {
			t.Fatalf("no ID token: %v", tok)
		}
		claims := idClaims(t, idt)
		claims["sid"] = victimSID
		b, _ := json.Marshal(claims)
		retargeted := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		forged := unsignedJWT(map[string]any{"iss": o.issuer, "sub": alice, "aud": "rp", "sid": victimSID})

		q := func(v url.Values) string { return o.issuer + "/logout?" + v.Encode() }
		back := url.Values{"post_logout_redirect_uri": {rpLogout}, "client_id": {"rp"}}
		with := func(v url.Values, k, val string) url.Values {
			w := url.Values{}
			for kk, vv := range v {
				w[kk] = vv
			}
			w.Set(k, val)
			return w
		}
		for _, tc := range []struct{ name, method, u, ctype, body string }{
			{"repeated parameter", "GET", o.issuer + "/logout?state=a&state=b&" + back.Encode(), "", ""},
			{"repeated hint", "GET", o.issuer + "/logout?id_token_hint=a&id_token_hint=b", "", ""},
			{"overlong parameter", "GET", q(with(back, "state", strings.Repeat("s", 5000))), "", ""},
			{"overlong hint", "GET", q(url.Values{"id_token_hint": {strings.Repeat("e", 9000)}}), "", ""},
			{"malformed query", "GET", o.issuer + "/logout?post_logout_redirect_uri=%zz", "", ""},
			{"garbage hint", "GET", q(url.Values{"id_token_hint": {"not.a.jwt"}}), "", ""},
			{"garbage hint with redirect", "GET", q(with(back, "id_token_hint", "garbage")), "", ""},
			{"unsigned hint naming the session", "GET", q(with(back, "id_token_hint", forged)), "", ""},
			{"hint retargeted at the session", "GET", q(with(back, "id_token_hint", retargeted)), "", ""},
			{"POST: JSON body", "POST", o.issuer + "/logout", "application/json", `{"confirm":"yes"}`},
			{"POST: repeated parameter", "POST", o.issuer + "/logout", formType, "confirm=yes&confirm=yes"},
			{"POST: garbage hint", "POST", o.issuer + "/logout", formType, "id_token_hint=" + url.QueryEscape(forged)},
			{"POST: malformed form", "POST", o.issuer + "/logout", formType, "confirm=%zz"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				send(t, victim, tc.method, tc.u, tc.ctype, body).errorPage(t, 400)
				o.signedInStill(t, victim)
			})
		}
		t.Run("POST: oversized body", func(t *testing.T) {
			send(t, victim, "POST", o.issuer+"/logout", formType, strings.NewReader("confirm=yes&pad="+strings.Repeat("a", 70<<10))).jsonError(t, 413, "request_too_large")
			o.signedInStill(t, victim)
		})
		// A confirmation without this session's token is asked again.
		other := o.signedIn(t)
		for name, csrf := range map[string]string{
			"forged":            "forged",
			"missing":           "",
			"another purpose":   csrfFor(o.cookieSecret(t, victim), "account"),
			"another session's": csrfFor(o.cookieSecret(t, other), "logout"),
		} {
			t.Run("confirmation with "+name+" token", func(t *testing.T) {
				r := send(t, victim, "POST", o.issuer+"/logout", formType, strings.NewReader(url.Values{"confirm": {"yes"}, "csrf": {csrf}}.Encode()))
				if r.status != 200 || r.loc != nil || !strings.Contains(r.body, `name="confirm"`) || len(r.header.Values("Set-Cookie")) > 0 {
					t.Fatalf("got %d %v %v", r.status, r.loc, r.header.Values("Set-Cookie"))
				}
				o.signedInStill(t, victim)
			})
		}
	})

	t.Run("consent", func(t *testing.T) {
		consentPage := func(b *http.Client) url.Values {
			t.Helper()
			p := baseParams()
			p["prompt"] = "consent"
			r := get(t, b, o.authorizeURL(p))
			if !r.isConsent() {
				t.Fatalf("expected the consent page: %d %v", r.status, r.loc)
			}
			return hidden(r.body)
		}
		b, other := o.signedIn(t), o.signedIn(t)
		f, fo := consentPage(b), consentPage(other)
		secret := o.cookieSecret(t, b)
		form := func(rid, csrf, decision string) url.Values {
			v := url.Values{"decision": {decision}}
			if rid != "" {
				v.Set("rid", rid)
			}
			if csrf != "" {
				v.Set("csrf", csrf)
			}
			return v
		}
		rid, csrf := f.Get("rid"), f.Get("csrf")
		for _, tc := range []struct {
			name  string
			b     *http.Client
			ctype string
			form  url.Values
		}{
			{"missing rid", b, formType, form("", csrf, "allow")},
			{"forged rid", b, formType, form("AAAAAAAAAAAAAAAAAAAAAA", csrf, "allow")},
			{"missing csrf", b, formType, form(rid, "", "allow")},
			{"forged csrf", b, formType, form(rid, "forged", "allow")},
			{"csrf of another purpose", b, formType, form(rid, csrfFor(secret, "account"), "allow")},
			{"another session's rid and csrf", b, formType, form(fo.Get("rid"), fo.Get("csrf"), "allow")},
			{"another session's rid, own csrf for it", b, formType, form(fo.Get("rid"), csrfFor(secret, fo.Get("rid")), "allow")},
			{"no cookie", &http.Client{}, formType, form(rid, csrf, "allow")},
			{"not a form", b, "application/json", form(rid, csrf, "allow")},
			{"no decision", b, formType, form(rid, csrf, "")},
			{"unknown decision", b, formType, form(rid, csrf, "maybe")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				send(t, tc.b, "POST", o.issuer+"/consent", tc.ctype, strings.NewReader(tc.form.Encode())).errorPage(t, 400)
			})
		}
		t.Run("oversized body", func(t *testing.T) {
			v := form(rid, csrf, "allow")
			v.Set("pad", strings.Repeat("a", 70<<10))
			send(t, b, "POST", o.issuer+"/consent", formType, strings.NewReader(v.Encode())).jsonError(t, 413, "request_too_large")
		})
		// The request is still pending, for its own page only.
		r := postForm(t, b, o.issuer+"/consent", form(rid, csrf, "allow"))
		if r.status != 302 || r.loc == nil || r.loc.Query().Get("code") == "" {
			t.Fatalf("the genuine consent after the bad ones: %d %v %s", r.status, r.loc, r.body)
		}
	})

	t.Run("login continue", func(t *testing.T) {
		// A session that has not signed in, with its own valid form.
		fresh := browser(t)
		pf := get(t, fresh, o.authorizeURL(baseParams()))
		if !pf.isLogin() {
			t.Fatalf("expected the login page: %d", pf.status)
		}
		ff := hidden(pf.body)
		send(t, fresh, "POST", o.issuer+"/login/continue", formType, strings.NewReader(url.Values{"rid": {ff.Get("rid")}, "csrf": {ff.Get("csrf")}}.Encode())).errorPage(t, 400)

		// A passkey sign-in, done but not continued.
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		cred.Counter++
		st, out := o.finishPasskeyLogin(t, pl, virtualwebauthn.CreateAssertionResponse(o.rp(), auth, cred, *pl.options))
		if st != 200 {
			t.Fatalf("passkey sign-in: %d %v", st, out)
		}
		csrf, _ := out["csrf"].(string)
		secret := o.cookieSecret(t, pl.b)
		for _, tc := range []struct {
			name string
			b    *http.Client
			form url.Values
		}{
			{"missing rid", pl.b, url.Values{"csrf": {csrf}}},
			{"missing csrf", pl.b, url.Values{"rid": {pl.rid}}},
			{"forged rid", pl.b, url.Values{"rid": {"AAAAAAAAAAAAAAAAAAAAAA"}, "csrf": {csrfFor(secret, "AAAAAAAAAAAAAAAAAAAAAA")}}},
			{"forged csrf", pl.b, url.Values{"rid": {pl.rid}, "csrf": {"forged"}}},
			{"csrf of the cookie before sign-in", pl.b, url.Values{"rid": {pl.rid}, "csrf": {pl.csrf}}},
			{"csrf of another purpose", pl.b, url.Values{"rid": {pl.rid}, "csrf": {csrfFor(secret, "account")}}},
			{"another session posts it", fresh, url.Values{"rid": {pl.rid}, "csrf": {csrf}}},
			{"another session, own csrf for its rid", fresh, url.Values{"rid": {pl.rid}, "csrf": {csrfFor(o.cookieSecret(t, fresh), pl.rid)}}},
			{"no cookie", &http.Client{}, url.Values{"rid": {pl.rid}, "csrf": {csrf}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				send(t, tc.b, "POST", o.issuer+"/login/continue", formType, strings.NewReader(tc.form.Encode())).errorPage(t, 400)
			})
		}
		t.Run("not a form", func(t *testing.T) {
			send(t, pl.b, "POST", o.issuer+"/login/continue", "text/plain", strings.NewReader(url.Values{"rid": {pl.rid}, "csrf": {csrf}}.Encode())).errorPage(t, 400)
		})
		if r := o.continueLogin(t, pl, csrf); r.status != 302 || r.loc == nil || r.loc.Query().Get("code") == "" {
			t.Fatalf("the genuine continue after the bad ones: %d %v %s", r.status, r.loc, r.body)
		}
	})

	t.Run("passkey endpoints", func(t *testing.T) {
		big := `{"id":"` + strings.Repeat("A", 70<<10) + `"}`
		// padded is a good answer made oversized with whitespace: only the
		// size limits refuse it.
		padded := func(good string) string { return good[:1] + strings.Repeat(" ", 70<<10) + good[1:] }
		mid := `{"id":"` + strings.Repeat("A", 40<<10) + `"}` // under the router's limit, over the handler's
		garbage := map[string]string{
			"not JSON":     `{"id":`,
			"empty object": `{}`,
			"array":        `[]`,
			"null":         `null`,
			"number":       `12`,
			"wrong types":  `{"id":1,"rawId":[],"type":{},"response":"x"}`,
			"40 KiB":       mid,
		}

		t.Run("login", func(t *testing.T) {
			pl := o.beginPasskeyLogin(t, browser(t), baseParams())
			begin := o.issuer + "/webauthn/login/begin?rid=" + url.QueryEscape(pl.rid)
			finish := o.issuer + "/webauthn/login/finish?rid=" + url.QueryEscape(pl.rid)
			postPasskey(t, pl.b, o.issuer+"/webauthn/login/begin", pl.csrf, "", nil).refusedWith(t, 403)
			postPasskey(t, pl.b, o.issuer+"/webauthn/login/finish", pl.csrf, "", strings.NewReader(`{}`)).refusedWith(t, 403)
			postPasskey(t, pl.b, begin, pl.csrf, "", strings.NewReader(big)).refusedWith(t, 413)
			cred.Counter++
			good := virtualwebauthn.CreateAssertionResponse(o.rp(), auth, cred, *pl.options)
			postPasskey(t, pl.b, finish, pl.csrf, "", strings.NewReader(big)).refusedWith(t, 413)
			postPasskey(t, pl.b, finish, pl.csrf, "", strings.NewReader(padded(good))).refusedWith(t, 413)
			postPasskey(t, pl.b, finish, pl.csrf, "", chunked(padded(good))).refusedWith(t, 400)
			postPasskey(t, pl.b, finish, pl.csrf, "", nil).refusedWith(t, 400)
			for name, body := range garbage {
				a := postPasskey(t, pl.b, finish, pl.csrf, "", strings.NewReader(body))
				if a.status != 400 {
					t.Fatalf("%s: %d %s", name, a.status, a.raw)
				}
				a.refusedWith(t, 400)
			}
			// None of it used up the challenge.
			if st, out := o.finishPasskeyLogin(t, pl, good); st != 200 {
				t.Fatalf("the genuine answer after the bad ones: %d %v", st, out)
			}
		})

		t.Run("register", func(t *testing.T) {
			b := o.signedIn(t)
			csrf := o.accountCSRF(t, b)
			begin, finish := o.issuer+"/webauthn/register/begin", o.issuer+"/webauthn/register/finish"
			postPasskey(t, b, begin, csrf, "", strings.NewReader(big)).refusedWith(t, 413)
			ao := o.beginRegister(t, b, csrf)
			k, kc := o.newKey(virtualwebauthn.AuthenticatorOptions{})
			good := virtualwebauthn.CreateAttestationResponse(o.rp(), k, kc, ao)
			postPasskey(t, b, finish, csrf, "", strings.NewReader(big)).refusedWith(t, 413)
			postPasskey(t, b, finish, csrf, "", strings.NewReader(padded(good))).refusedWith(t, 413)
			postPasskey(t, b, finish, csrf, "", chunked(padded(good))).refusedWith(t, 400)
			postPasskey(t, b, finish, csrf, "", nil).refusedWith(t, 400)
			for name, body := range garbage {
				a := postPasskey(t, b, finish, csrf, "", strings.NewReader(body))
				if a.status != 400 {
					t.Fatalf("%s: %d %s", name, a.status, a.raw)
				}
				a.refusedWith(t, 400)
			}
			o.samePasskeys(t, alice, passkeys)
			if a := o.finishRegister(t, b, csrf, good); a.status != 200 {
				t.Fatalf("the genuine answer after the bad ones: %d %s", a.status, a.raw)
			}
			passkeys = o.onePasskeyMore(t, alice, passkeys)
		})
	})

	t.Run("account page", func(t *testing.T) {
		fresh := browser(t)
		get(t, fresh, o.authorizeURL(baseParams())) // a session, not signed in
		vsid, vsecret, _ := strings.Cut(o.sessionCookie(t, victim), ".")
		other := o.signedIn(t)
		_, osecret, _ := strings.Cut(o.sessionCookie(t, other), ".")
		unknownSID, unknownSecret := session.NewSessionID()
		for name, cookie := range map[string]string{
			"no cookie":                      "",
			"garbage cookie":                 "x",
			"unknown session":                unknownSID + "." + unknownSecret,
			"session not signed in":          o.sessionCookie(t, fresh),
			"session id with another secret": vsid + "." + osecret,
			"secret alone":                   vsecret,
		} {
			t.Run(name, func(t *testing.T) {
				var hdr []string
				if cookie != "" {
					hdr = []string{"Cookie", node.Default().Session.CookieName + "=" + cookie}
				}
				r := send(t, &http.Client{}, "GET", o.issuer+"/account", "", nil, hdr...)
				r.errorPage(t, 401)
				if strings.Contains(r.body, `id="csrf"`) || strings.Contains(r.body, "passkey-register") {
					t.Fatalf("the 401 page offers the account: %s", r.body)
				}
			})
		}
	})

	t.Run("delete passkey", func(t *testing.T) {
		b := o.signedIn(t)
		csrf := o.accountCSRF(t, b)
		secret := o.cookieSecret(t, b)
		id := passkeys[0]
		bob := browser(t)
		o.signInUser(t, bob, "bob")
		fresh := browser(t)
		get(t, fresh, o.authorizeURL(baseParams()))
		del := o.issuer + "/account/passkeys/delete"
		form := func(csrf, id string) io.Reader {
			return strings.NewReader(url.Values{"csrf": {csrf}, "id": {id}}.Encode())
		}
		for _, tc := range []struct {
			name   string
			b      *http.Client
			ctype  string
			body   io.Reader
			status int
		}{
			{"forged csrf", b, formType, form("forged", id), 400},
			{"missing csrf", b, formType, strings.NewReader("id=" + id), 400},
			{"csrf of another purpose", b, formType, form(csrfFor(secret, "logout"), id), 400},
			{"another session's csrf", b, formType, form(o.accountCSRF(t, victim), id), 400},
			{"no cookie", &http.Client{}, formType, form(csrf, id), 400},
			{"session not signed in", fresh, formType, form(csrfFor(o.cookieSecret(t, fresh), "account"), id), 400},
			{"another user's passkey", bob, formType, form(o.accountCSRF(t, bob), id), 400},
			{"garbage id", b, formType, form(csrf, "!!not base64!!"), 400},
			{"empty id", b, formType, form(csrf, ""), 400},
			{"JSON body", b, "application/json", strings.NewReader(`{"csrf":"` + csrf + `","id":"` + id + `"}`), 400},
			{"oversized body", b, formType, strings.NewReader(url.Values{"csrf": {csrf}, "id": {id}, "pad": {strings.Repeat("a", 70<<10)}}.Encode()), 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := send(t, tc.b, "POST", del, tc.ctype, tc.body)
				if tc.status == 413 {
					r.jsonError(t, 413, "request_too_large")
				} else {
					r.errorPage(t, tc.status)
				}
				o.samePasskeys(t, alice, passkeys)
			})
		}
		t.Run("GET", func(t *testing.T) {
			r := send(t, b, "GET", del+"?"+url.Values{"csrf": {csrf}, "id": {id}}.Encode(), "", nil)
			if r.status != 405 {
				t.Fatalf("GET: %d", r.status)
			}
			o.samePasskeys(t, alice, passkeys)
		})
		// The genuine form deletes it.
		if r := send(t, b, "POST", del, formType, form(csrf, id)); r.status != 303 {
			t.Fatalf("the genuine delete: %d %s", r.status, r.body)
		}
		if ids := o.passkeyIDs(t, alice); len(ids) != len(passkeys)-1 {
			t.Fatalf("after the genuine delete: %v", ids)
		}
	})

	t.Run("admin directory", func(t *testing.T) {
		const password = "SECRET-pw-0123456789-abcdefghijklmnopqrstuvwxyz"
		adminSend := func(t *testing.T, path, token, ctype string, body io.Reader) response {
			t.Helper()
			var hdr []string
			if token != "" {
				hdr = []string{"Authorization", "Bearer " + token}
			}
			return send(t, &http.Client{}, "POST", o.issuer+path, ctype, body, hdr...)
		}
		type badCase struct {
			name, token, ctype string
			body               io.Reader
			status             int
			code, desc         string
		}
		common := func(valid string) []badCase {
			j := "application/json"
			// The good body made oversized with whitespace: only the size
			// limits refuse it.
			padded := valid[:1] + strings.Repeat(" ", 70<<10) + valid[1:]
			return []badCase{
				{"malformed JSON", adminToken, j, strings.NewReader(valid[:len(valid)-1]), 400, "invalid_request", "malformed"},
				{"two objects", adminToken, j, strings.NewReader(valid + valid), 400, "invalid_request", "exactly one"},
				{"trailing garbage", adminToken, j, strings.NewReader(valid + "]"), 400, "invalid_request", "exactly one"},
				{"array", adminToken, j, strings.NewReader("[" + valid + "]"), 400, "invalid_request", ""},
				{"empty body", adminToken, j, nil, 400, "invalid_request", "empty"},
				{"not JSON", adminToken, "text/plain", strings.NewReader(valid), 400, "invalid_request", "application/json"},
				{"form", adminToken, formType, strings.NewReader("x=" + url.QueryEscape(valid)), 400, "invalid_request", "application/json"},
				{"oversized body", adminToken, j, strings.NewReader(padded), 413, "request_too_large", ""},
				{"oversized chunked body", adminToken, j, chunked(padded), 400, "invalid_request", ""},
				{"no token", "", j, strings.NewReader(valid), 401, "", ""},
				{"wrong token", adminToken + "x", j, strings.NewReader(valid), 401, "", ""},
			}
		}
		run := func(t *testing.T, path string, cases []badCase, count func() int, exists func() bool) {
			before := count()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := adminSend(t, path, tc.token, tc.ctype, tc.body)
					if tc.status == 400 && r.status == 413 && strings.Contains(tc.name, "oversized") {
						tc.status, tc.code = 413, "request_too_large" // either limit may stop it
					}
					r.jsonError(t, tc.status, tc.code)
					var out map[string]any
					json.Unmarshal([]byte(r.body), &out)
					if d := fmt.Sprint(out["error_description"]); tc.desc != "" && !strings.Contains(d, tc.desc) {
						t.Fatalf("error_description %q, want %q", d, tc.desc)
					}
					if strings.Contains(r.body, password) {
						t.Fatalf("the answer quotes the body: %s", r.body)
					}
					if n := count(); n != before || exists() {
						t.Fatalf("created: %d, was %d", n, before)
					}
				})
			}
		}

		t.Run("users", func(t *testing.T) {
			valid := `{"username":"mallory","password":"` + password + `","claims":{"name":"Mallory"}}`
			cases := append(common(valid),
				badCase{"unknown field", adminToken, "application/json", strings.NewReader(`{"username":"mallory","password":"` + password + `","role":"admin"}`), 400, "invalid_request", `unknown field "role"`},
				badCase{"misspelt field", adminToken, "application/json", strings.NewReader(`{"username":"mallory","passwd":"` + password + `"}`), 400, "invalid_request", `unknown field "passwd"`},
				badCase{"wrong type", adminToken, "application/json", strings.NewReader(`{"username":"mallory","password":["` + password + `"]}`), 400, "invalid_request", "wrong type"},
				badCase{"claims not an object", adminToken, "application/json", strings.NewReader(`{"username":"mallory","password":"` + password + `","claims":["` + password + `"]}`), 400, "invalid_request", "wrong type"},
			)
			count := func() int {
				us, err := o.n.Directory().ListUsers(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return len(us)
			}
			exists := func() bool {
				_, err := o.n.Directory().FindUser(t.Context(), "mallory")
				if err != nil && !errors.Is(err, directory.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}
			run(t, "/admin/users", cases, count, exists)
			// The same body, well formed, is accepted: the refusals above
			// were for the faults alone.
			if r := adminSend(t, "/admin/users", adminToken, "application/json", strings.NewReader(valid)); r.status != 201 || !exists() {
				t.Fatalf("a good body: %d %s", r.status, r.body)
			}
		})

		t.Run("clients", func(t *testing.T) {
			valid := `{"client_id":"evil","client_name":"Evil","client_secret":"` + password + `","redirect_uris":["https://evil.example/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code"]}`
			cases := append(common(valid),
				badCase{"unknown field", adminToken, "application/json", strings.NewReader(`{"client_id":"evil","client_secret":"` + password + `","redirect_uris":["https://evil.example/cb"],"scope":"openid"}`), 400, "invalid_request", `unknown field "scope"`},
				badCase{"misspelt field", adminToken, "application/json", strings.NewReader(`{"client_id":"evil","client_secret":"` + password + `","redirect_uri":["https://evil.example/cb"]}`), 400, "invalid_request", `unknown field "redirect_uri"`},
				badCase{"wrong type", adminToken, "application/json", strings.NewReader(`{"client_id":"evil","client_secret":"` + password + `","redirect_uris":"https://evil.example/cb"}`), 400, "invalid_request", "wrong type"},
				badCase{"secret of the wrong type", adminToken, "application/json", strings.NewReader(`{"client_id":"evil","client_secret":{"v":"` + password + `"},"redirect_uris":["https://evil.example/cb"]}`), 400, "invalid_request", "wrong type"},
			)
			count := func() int {
				cs, err := o.n.Directory().ListClients(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return len(cs)
			}
			exists := func() bool {
				_, err := o.n.Directory().Client(t.Context(), "evil")
				if err != nil && !errors.Is(err, directory.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}
			run(t, "/admin/clients", cases, count, exists)
			if r := adminSend(t, "/admin/clients", adminToken, "application/json", strings.NewReader(valid)); r.status != 201 || !exists() {
				t.Fatalf("a good body: %d %s", r.status, r.body)
			}
		})
	})

	// The victim is still signed in, and its code survived all of it.
	// The node's clock goes back to when the code was issued: on a
	// loaded machine the bad requests can outlast the code's lifetime,
	// which says nothing of what they changed.
	o.signedInStill(t, victim)
	o.clock.Advance(-time.Since(issued))
	if st, out := o.redeem(t, code, ""); st != 200 {
		t.Fatalf("the code did not survive the bad requests: %d %v", st, out)
	}
}
