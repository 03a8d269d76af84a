package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// A software authenticator (virtualwebauthn) against the real node over
// HTTP: the same requests the page script makes.

func (o *op) rp() virtualwebauthn.RelyingParty {
	u, _ := url.Parse(o.issuer)
	return virtualwebauthn.RelyingParty{ID: u.Hostname(), Name: "Authrim", Origin: o.issuer}
}

var csrfInputRE = regexp.MustCompile(`id="csrf" value="([^"]+)"`)

// fetchJSON posts to a passkey endpoint the way passkey.js does.
func fetchJSON(t *testing.T, b *http.Client, u, csrf, body string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest("POST", u, rd)
	req.Header.Set("X-CSRF-Token", csrf)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// signedIn returns a browser signed in with the password.
func (o *op) signedIn(t *testing.T) *http.Client {
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	return b
}

// register adds a passkey for the signed-in browser; it returns the
// finish status and body.
func (o *op) register(t *testing.T, b *http.Client, rp virtualwebauthn.RelyingParty, auth virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) (int, string) {
	t.Helper()
	acct := get(t, b, o.issuer+"/account")
	m := csrfInputRE.FindStringSubmatch(acct.body)
	if acct.status != 200 || m == nil {
		t.Fatalf("account page: %d %s", acct.status, acct.body)
	}
	csrf := m[1]
	st, _, raw := fetchJSON(t, b, o.issuer+"/webauthn/register/begin", csrf, "")
	if st != 200 {
		t.Fatalf("register begin: %d %s", st, raw)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	resp := virtualwebauthn.CreateAttestationResponse(rp, auth, cred, *opts)
	st, _, raw = fetchJSON(t, b, o.issuer+"/webauthn/register/finish?name=test", csrf, resp)
	return st, raw
}

// passkeyLogin is one usernameless sign-in attempt from a fresh
// authorization request.
type passkeyLogin struct {
	b         *http.Client
	rid, csrf string
	options   *virtualwebauthn.AssertionOptions
}

func (o *op) beginPasskeyLogin(t *testing.T, b *http.Client, params map[string]string) passkeyLogin {
	t.Helper()
	p := get(t, b, o.authorizeURL(params))
	if !strings.Contains(p.body, `id="passkey-login"`) || !strings.Contains(p.body, `autocomplete="username webauthn"`) && !strings.Contains(p.body, "asks you to sign in with a passkey") {
		t.Fatalf("login page without passkey sign-in: %s", p.body)
	}
	f := hidden(p.body)
	pl := passkeyLogin{b: b, rid: f.Get("rid"), csrf: f.Get("csrf")}
	st, _, raw := fetchJSON(t, b, o.issuer+"/webauthn/login/begin?rid="+url.QueryEscape(pl.rid), pl.csrf, "")
	if st != 200 {
		t.Fatalf("login begin: %d %s", st, raw)
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	pl.options = opts
	return pl
}

func (o *op) finishPasskeyLogin(t *testing.T, pl passkeyLogin, assertion string) (int, map[string]any) {
	t.Helper()
	st, out, _ := fetchJSON(t, pl.b, o.issuer+"/webauthn/login/finish?rid="+url.QueryEscape(pl.rid), pl.csrf, assertion)
	return st, out
}

// continueLogin posts the continue form and returns the RP redirect.
func (o *op) continueLogin(t *testing.T, pl passkeyLogin, csrf string) page {
	t.Helper()
	r := postForm(t, pl.b, o.issuer+"/login/continue", url.Values{"rid": {pl.rid}, "csrf": {csrf}})
	if r.isConsent() {
		r = o.consent(t, pl.b, r, "allow")
	}
	return r
}

// newKey is an authenticator holding one credential for alice.
func (o *op) newKey(opts virtualwebauthn.AuthenticatorOptions) (virtualwebauthn.Authenticator, virtualwebauthn.Credential) {
	opts.UserHandle = []byte(o.user.Subject)
	auth := virtualwebauthn.NewAuthenticatorWithOptions(opts)
	cred := newEC2Credential() // not NewCredential: see newEC2Credential
	auth.AddCredential(cred)
	return auth, cred
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	o := startOP(t)
	auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	if st, raw := o.register(t, o.signedIn(t), o.rp(), auth, cred); st != 200 {
		t.Fatalf("register: %d %s", st, raw)
	}
	// The same authenticator cannot be registered twice.
	if st, _ := o.register(t, o.signedIn(t), o.rp(), auth, cred); st == 200 {
		t.Fatal("the same credential was registered twice")
	}

	b := browser(t)
	params := baseParams()
	params["acr_values"] = "phr"
	pl := o.beginPasskeyLogin(t, b, params)
	cred.Counter++
	st, out := o.finishPasskeyLogin(t, pl, virtualwebauthn.CreateAssertionResponse(o.rp(), auth, cred, *pl.options))
	if st != 200 {
		t.Fatalf("passkey finish: %d %v", st, out)
	}
	r := o.continueLogin(t, pl, out["csrf"].(string))
	if r.status != 302 || r.loc.Query().Get("code") == "" {
		t.Fatalf("continue: %d %v %s", r.status, r.loc, r.body)
	}
	_, tok := o.redeem(t, r.loc.Query().Get("code"), "")
	c := idClaims(t, tok["id_token"].(string))
	amr := []string{}
	for _, v := range c["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	if !slices.Contains(amr, "hwk") || !slices.Contains(amr, "user") || c["acr"] != "phr" || c["sub"] != o.user.Subject {
		t.Fatalf("id token after passkey sign-in: amr %v acr %v sub %v", amr, c["acr"], c["sub"])
	}
	// The sign counter and last use were recorded.
	pks, err := o.n.Directory().Passkeys(t.Context(), o.user.Subject)
	if err != nil || len(pks) != 1 || pks[0].Credential.Authenticator.SignCount != cred.Counter || pks[0].LastUsed.IsZero() {
		t.Fatalf("stored passkey: %+v %v", pks, err)
	}
}

func TestACRPhishingResistantRefusesPassword(t *testing.T) {
	o := startOP(t)
	b := o.signedIn(t) // with the password
	p := baseParams()
	p["acr_values"] = "phr"
	r := get(t, b, o.authorizeURL(p))
	if !strings.Contains(r.body, `id="passkey-login"`) || r.loc != nil {
		t.Fatalf("a password session satisfied acr_values=phr: %d %v", r.status, r.loc)
	}
	f := hidden(r.body)
	f.Set("username", "alice")
	f.Set("password", userPassword)
	if r := postForm(t, b, o.issuer+"/login", f); r.loc != nil || r.status != http.StatusForbidden {
		t.Fatalf("password sign-in for acr_values=phr: %d %v", r.status, r.loc)
	}
	p["prompt"] = "none"
	if r := get(t, b, o.authorizeURL(p)); r.loc == nil || r.loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none with a password session and acr_values=phr: %v", r.loc)
	}
}

func TestPasskeyRefusals(t *testing.T) {
	o := startOP(t)
	auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	if st, raw := o.register(t, o.signedIn(t), o.rp(), auth, cred); st != 200 {
		t.Fatalf("register: %d %s", st, raw)
	}
	assert := func(pl passkeyLogin, rp virtualwebauthn.RelyingParty, a virtualwebauthn.Authenticator, c virtualwebauthn.Credential) string {
		return virtualwebauthn.CreateAssertionResponse(rp, a, c, *pl.options)
	}
	refused := func(t *testing.T, st int, out map[string]any) {
		t.Helper()
		if st == 200 {
			t.Fatalf("accepted: %v", out)
		}
	}
	t.Run("wrong origin", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		rp := o.rp()
		rp.Origin = "http://evil.localhost:1234"
		cred.Counter++
		st, out := o.finishPasskeyLogin(t, pl, assert(pl, rp, auth, cred))
		refused(t, st, out)
	})
	t.Run("wrong RP ID", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		rp := o.rp()
		rp.ID = "example.com"
		cred.Counter++
		st, out := o.finishPasskeyLogin(t, pl, assert(pl, rp, auth, cred))
		refused(t, st, out)
	})
	t.Run("replayed challenge", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		cred.Counter++
		resp := assert(pl, o.rp(), auth, cred)
		st, out := o.finishPasskeyLogin(t, pl, resp)
		if st != 200 {
			t.Fatalf("first use: %d %v", st, out)
		}
		// Same session, the CSRF token of its new cookie: only the
		// one-time challenge can refuse this.
		pl.csrf = out["csrf"].(string)
		st, out = o.finishPasskeyLogin(t, pl, resp)
		if st != 400 || !strings.Contains(fmt.Sprint(out["error_description"]), "challenge") {
			t.Fatalf("replay: %d %v", st, out)
		}
	})
	t.Run("challenge from another session", func(t *testing.T) {
		a := o.beginPasskeyLogin(t, browser(t), baseParams())
		b := o.beginPasskeyLogin(t, browser(t), baseParams())
		cred.Counter++
		st, out := o.finishPasskeyLogin(t, b, assert(a, o.rp(), auth, cred))
		if st != 400 || !strings.Contains(fmt.Sprint(out["error_description"]), "challenge") {
			t.Fatalf("cross-session challenge: %d %v", st, out)
		}
	})
	t.Run("user verification missing", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		noUV := auth
		noUV.Options.UserNotVerified = true
		cred.Counter++
		st, out := o.finishPasskeyLogin(t, pl, assert(pl, o.rp(), noUV, cred))
		refused(t, st, out)
	})
	t.Run("unknown credential", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		other, otherCred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		st, out := o.finishPasskeyLogin(t, pl, assert(pl, o.rp(), other, otherCred))
		refused(t, st, out)
	})
	t.Run("counter going backwards flags the passkey", func(t *testing.T) {
		pl := o.beginPasskeyLogin(t, browser(t), baseParams())
		cred.Counter += 10
		if st, out := o.finishPasskeyLogin(t, pl, assert(pl, o.rp(), auth, cred)); st != 200 {
			t.Fatalf("good sign-in: %d %v", st, out)
		}
		clone := cred
		clone.Counter -= 5
		pl = o.beginPasskeyLogin(t, browser(t), baseParams())
		st, out := o.finishPasskeyLogin(t, pl, assert(pl, o.rp(), auth, clone))
		refused(t, st, out)
		pks, _ := o.n.Directory().Passkeys(t.Context(), o.user.Subject)
		if len(pks) != 1 || !pks[0].Flagged {
			t.Fatalf("passkey not flagged: %+v", pks)
		}
		// A flagged passkey is refused even with a good counter.
		pl = o.beginPasskeyLogin(t, browser(t), baseParams())
		cred.Counter += 10
		st, out = o.finishPasskeyLogin(t, pl, assert(pl, o.rp(), auth, cred))
		refused(t, st, out)
	})
}

// A disabled user's passkey does not sign them in, and their session
// cannot add passkeys.
func TestPasskeyOfDisabledUserIsRefused(t *testing.T) {
	o := startOP(t)
	auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	signedIn := o.signedIn(t)
	if st, raw := o.register(t, signedIn, o.rp(), auth, cred); st != 200 {
		t.Fatalf("register: %d %s", st, raw)
	}
	if _, err := o.n.Directory().SetUserDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	pl := o.beginPasskeyLogin(t, browser(t), baseParams())
	cred.Counter++
	if st, out := o.finishPasskeyLogin(t, pl, virtualwebauthn.CreateAssertionResponse(o.rp(), auth, cred, *pl.options)); st != 403 || out["error_description"] != "This account is disabled." {
		t.Fatalf("passkey sign-in of a disabled user: %d %v", st, out)
	}
	if acct := get(t, signedIn, o.issuer+"/account"); acct.status != 401 {
		t.Fatalf("account page of a disabled user's session: %d", acct.status)
	}
}
