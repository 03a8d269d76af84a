package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
)

// TestPasskeyChangesNeedRecentSignIn: adding or deleting a passkey needs a
// sign-in from the last 5 minutes. An older session (a browser left
// signed in) is refused: registration answers login_required, a begun
// registration cannot be finished late, a delete shows the sign-in page
// instead. After signing in again (password or passkey) the user is back
// on the account page and the change goes through.
func TestPasskeyChangesNeedRecentSignIn(t *testing.T) {
	o := startOP(t)
	alice := o.user.Subject
	b := o.signedIn(t)
	auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	if st, raw := o.register(t, b, o.rp(), auth, cred); st != 200 {
		t.Fatalf("register on a fresh sign-in: %d %s", st, raw)
	}
	keys := o.passkeyIDs(t, alice)

	// A registration begun in time (the sign-in is 4 minutes old) but
	// finished when the sign-in is 6 minutes old.
	o.clock.Advance(4 * time.Minute)
	csrf := o.accountCSRF(t, b)
	ao := o.beginRegister(t, b, csrf)
	o.clock.Advance(2 * time.Minute)
	late, lateCred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
	o.finishRegister(t, b, csrf, virtualwebauthn.CreateAttestationResponse(o.rp(), late, lateCred, ao)).refusedWith(t, 401, "sign in again")

	// The old session: no new registration, no delete.
	a := postPasskey(t, b, o.issuer+"/webauthn/register/begin", csrf, "", nil)
	a.refusedWith(t, 401, "sign in again")
	if a.out["error"] != "login_required" {
		t.Fatalf("error %v, want login_required (the page script signs in again on it)", a.out["error"])
	}
	del := url.Values{"csrf": {csrf}, "id": {keys[0]}}
	p := postForm(t, b, o.issuer+"/account/passkeys/delete", del)
	if !p.isLogin() || !strings.Contains(p.body, `value="alice"`) {
		t.Fatalf("delete on an old session: %d %v, want the sign-in page for alice", p.status, p.loc)
	}
	o.samePasskeys(t, alice, keys)

	// The sign-in page it showed is a real one: a wrong password does
	// not count, the right one brings the user back to the account page.
	f := hidden(p.body)
	f.Set("username", "alice")
	f.Set("password", "wrong password")
	if r := postForm(t, b, o.issuer+"/login", f); r.status != http.StatusUnauthorized || r.loc != nil {
		t.Fatalf("wrong password: %d %v", r.status, r.loc)
	}
	if r := o.login(t, b, p, userPassword); r.status != http.StatusSeeOther || r.loc == nil || r.loc.Path != "/account" || r.loc.RawQuery != "" {
		t.Fatalf("after signing in again: %d %v %s", r.status, r.loc, r.body)
	}
	csrf = o.accountCSRF(t, b)
	if r := postForm(t, b, o.issuer+"/account/passkeys/delete", url.Values{"csrf": {csrf}, "id": {keys[0]}}); r.status != http.StatusSeeOther || r.loc.Path != "/account" {
		t.Fatalf("delete after signing in again: %d %v %s", r.status, r.loc, r.body)
	}
	o.samePasskeys(t, alice, nil)
	if st, raw := o.register(t, b, o.rp(), auth, cred); st != 200 {
		t.Fatalf("register after signing in again: %d %s", st, raw)
	}
	keys = o.passkeyIDs(t, alice)

	// Later again, the page's own "sign in again" form, answered with the
	// passkey this time.
	o.clock.Advance(6 * time.Minute)
	p = postForm(t, b, o.issuer+"/account/reauth", url.Values{"csrf": {o.accountCSRF(t, b)}})
	if !p.isLogin() {
		t.Fatalf("reauth form: %d %s", p.status, p.body)
	}
	if r := postForm(t, browser(t), o.issuer+"/account/reauth", url.Values{"csrf": {csrf}}); r.isLogin() {
		t.Fatal("reauth form without the session's cookie showed a sign-in page")
	}
	f = hidden(p.body)
	pl := passkeyLogin{b: b, rid: f.Get("rid"), csrf: f.Get("csrf")}
	st, _, raw := fetchJSON(t, b, o.issuer+"/webauthn/login/begin?rid="+url.QueryEscape(pl.rid), pl.csrf, "")
	if st != 200 {
		t.Fatalf("passkey sign-in begin: %d %s", st, raw)
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	cred.Counter++
	st, out := o.finishPasskeyLogin(t, pl, virtualwebauthn.CreateAssertionResponse(o.rp(), auth, cred, *opts))
	if st != 200 {
		t.Fatalf("passkey sign-in: %d %v", st, out)
	}
	r := postForm(t, b, o.issuer+"/login/continue", url.Values{"rid": {pl.rid}, "csrf": {out["csrf"].(string)}})
	if r.status != http.StatusSeeOther || r.loc == nil || r.loc.Path != "/account" {
		t.Fatalf("continue after a passkey sign-in: %d %v %s", r.status, r.loc, r.body)
	}
	if r := postForm(t, b, o.issuer+"/account/passkeys/delete", url.Values{"csrf": {o.accountCSRF(t, b)}, "id": {keys[0]}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete after a passkey sign-in: %d %s", r.status, r.body)
	}
	o.samePasskeys(t, alice, nil)

	// The re-authentication request never turns into a code: its consent
	// form is refused.
	o.clock.Advance(6 * time.Minute)
	p = postForm(t, b, o.issuer+"/account/reauth", url.Values{"csrf": {o.accountCSRF(t, b)}})
	f = hidden(p.body)
	f.Set("decision", "allow")
	if r := postForm(t, b, o.issuer+"/consent", f); r.loc != nil || r.status != http.StatusBadRequest {
		t.Fatalf("consent on the account's sign-in: %d %v", r.status, r.loc)
	}
}
