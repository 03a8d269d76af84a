package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"authrim/audit"
	"authrim/directory"
	"authrim/http/console"
	"authrim/http/management"
	"authrim/internal/docexample"
	"authrim/internal/eventually"
	"authrim/internal/freeport"
	"authrim/node"
)

// consoleSignIn signs username in to the console through the node's own
// login page with a cookie-jar client and returns the page the callback
// answered (the signed-in page, or a refusal).
func consoleSignIn(t *testing.T, o *op, b *http.Client, username, password string) page {
	t.Helper()
	return consoleSignInAt(t, o, b, o.issuer, username, password)
}

// consoleSignInAt is consoleSignIn with the console at origin at.
func consoleSignInAt(t *testing.T, o *op, b *http.Client, at, username, password string) page {
	t.Helper()
	p := get(t, b, at+console.Base+"/login")
	if p.status != http.StatusSeeOther || p.loc == nil || !strings.HasPrefix(p.loc.String(), o.issuer+"/authorize?") {
		t.Fatalf("console login: %d %v", p.status, p.loc)
	}
	q := p.loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || q.Get("client_id") != console.ClientID {
		t.Fatalf("the console's authorization request lacks PKCE, state or nonce: %v", q)
	}
	p = get(t, b, p.loc.String())
	for p.status == http.StatusSeeOther || p.status == http.StatusFound {
		if strings.HasPrefix(p.loc.Path, console.CallbackPath) {
			break
		}
		p = get(t, b, p.loc.String())
	}
	if p.isLogin() {
		f := hidden(p.body)
		f.Set("username", username)
		f.Set("password", password)
		p = postForm(t, b, o.issuer+"/login", f)
	}
	for p.status == http.StatusSeeOther || p.status == http.StatusFound {
		u := p.loc
		if !u.IsAbs() {
			u = mustParse(t, o.issuer).ResolveReference(u)
		}
		p = get(t, b, u.String())
	}
	return p
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in %s", body)
	}
	return m[1]
}

func grantAdmin(t *testing.T, o *op, ref string, grant bool) {
	t.Helper()
	method := http.MethodPost
	if !grant {
		method = http.MethodDelete
	}
	if status, body := admin(t, o.n, method, "/admin/users/"+ref+"/admin", adminToken, ""); status != http.StatusOK {
		t.Fatalf("admin role %s: %d %s", ref, status, body)
	}
}

// A user without the admin role signs in at the OP and is refused by the
// console; the admin token grants the role (the bootstrap) and the same
// user gets in; revoking the role refuses their very next request.
func TestConsoleAdminRole(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	p := consoleSignIn(t, o, b, "alice", userPassword)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "may not use the admin console") {
		t.Fatalf("a non-admin's sign-in: %d %s", p.status, p.body)
	}
	if p := get(t, b, o.issuer+console.Base+"/users"); p.status != http.StatusSeeOther {
		t.Fatalf("a non-admin reaches the users page: %d", p.status)
	}

	grantAdmin(t, o, "alice", true)
	p = consoleSignIn(t, o, b, "alice", userPassword)
	if p.status != http.StatusOK || !strings.Contains(p.body, console.Base+"/users") {
		t.Fatalf("an admin's sign-in: %d %s", p.status, p.body)
	}
	p = get(t, b, o.issuer+console.Base+"/users")
	if p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
		t.Fatalf("users page: %d %s", p.status, p.body)
	}

	grantAdmin(t, o, "alice", false)
	if p := get(t, b, o.issuer+console.Base+"/users"); p.status != http.StatusForbidden {
		t.Fatalf("a revoked admin's next request: %d %s", p.status, p.body)
	}
}

// signedInAdmin is a cookie-jar client of an admin (alice) signed in to
// the console, and the CSRF token of their session.
func signedInAdmin(t *testing.T, o *op) (*http.Client, string) {
	t.Helper()
	grantAdmin(t, o, "alice", true)
	b := browser(t)
	if p := consoleSignIn(t, o, b, "alice", userPassword); p.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	p := get(t, b, o.issuer+console.Base+"/users")
	return b, csrfOf(t, p.body)
}

// A form posted without the session's CSRF token (or with another's)
// changes nothing.
func TestConsoleCSRF(t *testing.T) {
	o := startOP(t)
	b, token := signedInAdmin(t, o)
	for _, tc := range []struct{ name, csrf string }{
		{"none", ""},
		{"wrong", token + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := postForm(t, b, o.issuer+console.Base+"/users", url.Values{"csrf": {tc.csrf}, "username": {"mallory"}, "password": {"a long enough password"}})
			if p.status != http.StatusForbidden {
				t.Fatalf("%d %s", p.status, p.body)
			}
			if _, err := o.n.Directory().FindUser(context.Background(), "mallory"); err == nil {
				t.Fatal("a user was created without a valid CSRF token")
			}
		})
	}
	p := postForm(t, b, o.issuer+console.Base+"/users", url.Values{"csrf": {token}, "username": {"mallory"}, "password": {"a long enough password"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("with the token: %d %s", p.status, p.body)
	}
	if _, err := o.n.Directory().FindUser(context.Background(), "mallory"); err != nil {
		t.Fatal("the user was not created with a valid token")
	}
}

// A console cookie that was changed, or a sealed value made for another
// purpose (the sign-in cookie), is not a session.
func TestConsoleCookieTampering(t *testing.T) {
	o := startOP(t)
	b, _ := signedInAdmin(t, o)
	u := mustParse(t, o.issuer+console.Base)
	var session, flowValue string
	for _, ck := range b.Jar.Cookies(u) {
		if ck.Name == "authrim-console" {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no console cookie")
	}
	// A sign-in cookie, sealed by the node for the callback.
	fb := browser(t)
	get(t, fb, o.issuer+console.Base+"/login")
	for _, ck := range fb.Jar.Cookies(u) {
		if ck.Name == "authrim-console-flow" {
			flowValue = ck.Value
		}
	}
	flip := []byte(session)
	i := len(flip) / 2
	flip[i] = map[bool]byte{true: 'A', false: 'B'}[flip[i] != 'A']
	for _, tc := range []struct{ name, value string }{
		{"one character changed", string(flip)},
		{"truncated", session[:len(session)-4]},
		{"sign-in cookie as session", flowValue},
		{"garbage", "not-base64!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, o.issuer+console.Base+"/users", nil)
			req.AddCookie(&http.Cookie{Name: "authrim-console", Value: tc.value})
			p := fetch(t, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
			if p.status != http.StatusSeeOther || p.loc.Path != console.Base+"/login" {
				t.Fatalf("%d %v", p.status, p.loc)
			}
		})
	}
	// The untouched cookie still works.
	req, _ := http.NewRequest(http.MethodGet, o.issuer+console.Base+"/users", nil)
	req.AddCookie(&http.Cookie{Name: "authrim-console", Value: session})
	if p := fetch(t, http.DefaultClient, req); p.status != http.StatusOK {
		t.Fatalf("the real cookie: %d", p.status)
	}
}

// A change made in the console is audited like the admin API's, with
// the admin's subject as actor; the admin token's changes name the
// token.
func TestConsoleAuditNamesTheAdmin(t *testing.T) {
	o := startOP(t)
	bob, err := o.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "bob", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	b, token := signedInAdmin(t, o)
	p := postForm(t, b, o.issuer+console.Base+"/users/"+bob.Subject+"/disable", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", p.status, p.body)
	}
	if u, _ := o.n.Directory().FindUser(context.Background(), "bob"); !u.Disabled {
		t.Fatal("bob is not disabled")
	}
	var ev management.AuditPage
	eventually.True(t, "the disable is audited", func() bool {
		ev = auditPage(t, o.n, url.Values{"type": {"admin_user_disabled"}})
		return len(ev.Events) == 1
	})
	if e := ev.Events[0]; e.Subject != bob.Subject || e.Attrs[audit.ActorAttr] != o.user.Subject {
		t.Fatalf("audit event %+v, want actor %s", e, o.user.Subject)
	}
	eventually.True(t, "the grant is audited with the token as actor", func() bool {
		ev = auditPage(t, o.n, url.Values{"type": {"admin_admin_role_granted"}})
		return len(ev.Events) == 1 && ev.Events[0].Attrs[audit.ActorAttr] == "admin-token"
	})
}

// The README's bootstrap of the first admin works as printed.
func TestConsoleReadmeExample(t *testing.T) {
	o := startOP(t)
	out := docexample.Run(t, "../README.md", "console-grant-admin", "ISSUER="+o.issuer, "ADMIN_TOKEN="+adminToken)
	if out != "alice true\n" {
		t.Fatalf("README example printed %q", out)
	}
	if u, err := o.n.Directory().FindUser(context.Background(), "alice"); err != nil || !u.Admin {
		t.Fatalf("alice after the example: %+v %v", u, err)
	}
}

// On admin.listen, the console is served there and not on the public
// listener; its redirect URI is on the admin listener, the sign-in on the
// issuer's login page.
func TestConsoleOnAdminListener(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	o := startOPWith(t, func(c *node.Config) { c.Admin.Listen = addr })
	at := "http://" + addr
	if p := get(t, browser(t), o.issuer+console.Base+"/login"); p.status != http.StatusNotFound {
		t.Fatalf("the public listener serves the console: %d", p.status)
	}
	status, _ := admin(t, o.n, http.MethodGet, "/admin/keys", adminToken, "")
	if status != http.StatusNotFound {
		t.Fatalf("the public listener serves the admin API: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, at+"/admin/users/alice/admin", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if p := fetch(t, http.DefaultClient, req); p.status != http.StatusOK {
		t.Fatalf("grant: %d %s", p.status, p.body)
	}
	b := browser(t)
	p := consoleSignInAt(t, o, b, at, "alice", userPassword)
	if p.status != http.StatusOK || !strings.Contains(p.body, console.Base+"/users") {
		t.Fatalf("sign-in on the admin listener: %d %s", p.status, p.body)
	}
	if p := get(t, b, at+console.Base+"/users"); p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
		t.Fatalf("users page on the admin listener: %d", p.status)
	}
}

// A console URL on plain http off loopback gives the console no
// redirect URI a browser may use: the node starts without the console
// (and says so) rather than refusing to start; https brings it back.
func TestConsoleOffWithoutUsableRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, consoleURL string
		status           int
	}{
		{"http off loopback", "http://admin.internal:8080", http.StatusNotFound},
		{"https", "https://admin.example.com", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			cfg.Admin.ConsoleURL = tc.consoleURL
			n := startNode(t, cfg, nil)
			if p := get(t, browser(t), n.URL()+console.Base+"/login"); p.status != tc.status {
				t.Fatalf("console login: %d, want %d", p.status, tc.status)
			}
		})
	}
}

// Deleting a user or a client and revoking a key change nothing until
// confirmed (a key also needs a reason); an admin cannot disable or
// delete themselves; a client's edit and secret rotation go through.
func TestConsoleConfirmations(t *testing.T) {
	o := startOP(t)
	ctx := context.Background()
	bob, err := o.n.Directory().CreateUser(ctx, directory.NewUser{Username: "bob", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	b, token := signedInAdmin(t, o)
	post := func(path string, v url.Values) page {
		t.Helper()
		v.Set("csrf", token)
		return postForm(t, b, o.issuer+console.Base+path, v)
	}

	p := post("/clients", url.Values{"client_name": {"Shop"}, "redirect_uris": {"https://shop.example/cb"}, "token_endpoint_auth_method": {"client_secret_basic"}})
	m := regexp.MustCompile(`id="client-id">([^<]+)<`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || !strings.Contains(p.body, `id="client-secret"`) {
		t.Fatalf("create client: %d %s", p.status, p.body)
	}
	id := m[1]
	if p := post("/clients/"+id+"/edit", url.Values{"client_name": {"Shop 2"}, "redirect_uris": {"https://shop.example/cb\nhttps://shop.example/cb2"}}); p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", p.status, p.body)
	}
	if cl, _ := o.n.Directory().Client(ctx, id); cl.Name != "Shop 2" || len(cl.RedirectURIs) != 2 {
		t.Fatalf("edited client %+v", cl)
	}
	if p := post("/clients/"+id+"/edit", url.Values{"client_name": {"Shop 3"}, "redirect_uris": {"javascript:alert(1)"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "refused") {
		t.Fatalf("a bad redirect URI: %d %s", p.status, p.body)
	}
	if cl, _ := o.n.Directory().Client(ctx, id); cl.Name != "Shop 2" {
		t.Fatalf("a refused edit changed the client: %+v", cl)
	}
	if p := post("/clients/"+id+"/rotate-secret", url.Values{}); p.status != http.StatusOK || !strings.Contains(p.body, `id="client-secret"`) {
		t.Fatalf("rotate secret: %d %s", p.status, p.body)
	}

	for _, tc := range []struct {
		name, path string
		gone       func() bool
	}{
		{"client", "/clients/" + id + "/delete", func() bool { _, err := o.n.Directory().Client(ctx, id); return err != nil }},
		{"user", "/users/" + bob.Subject + "/delete", func() bool { _, err := o.n.Directory().User(ctx, bob.Subject); return err != nil }},
	} {
		t.Run("delete "+tc.name, func(t *testing.T) {
			if p := post(tc.path, url.Values{}); p.status != http.StatusOK || !strings.Contains(p.body, `name="confirm" value="yes"`) {
				t.Fatalf("no confirmation asked: %d %s", p.status, p.body)
			}
			if tc.gone() {
				t.Fatal("deleted before the confirmation")
			}
			if p := post(tc.path, url.Values{"confirm": {"yes"}}); p.status != http.StatusSeeOther {
				t.Fatalf("confirmed: %d %s", p.status, p.body)
			}
			if !tc.gone() {
				t.Fatal("not deleted after the confirmation")
			}
		})
	}

	t.Run("unlink", func(t *testing.T) {
		carol, err := o.n.Directory().CreateUser(ctx, directory.NewUser{Username: "carol", Password: "a long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.n.Directory().AddLink(ctx, directory.Link{Issuer: "https://up.example", Subject: "u-1", User: carol.Subject, Connector: "up"}); err != nil {
			t.Fatal(err)
		}
		page := get(t, b, o.issuer+console.Base+"/users/"+carol.Subject)
		if !strings.Contains(page.body, "https://up.example") || !strings.Contains(page.body, "/unlink") {
			t.Fatalf("the user page does not list the link: %s", page.body)
		}
		linked := func() bool { l, _ := o.n.Directory().Links(ctx, carol.Subject); return len(l) == 1 }
		form := url.Values{"issuer": {"https://up.example"}, "subject": {"u-1"}}
		if p := post("/users/"+carol.Subject+"/unlink", form); p.status != http.StatusOK || !strings.Contains(p.body, `name="confirm" value="yes"`) || !linked() {
			t.Fatalf("no confirmation asked (or unlinked before it): %d %s", p.status, p.body)
		}
		form.Set("confirm", "yes")
		if p := post("/users/"+carol.Subject+"/unlink", form); p.status != http.StatusSeeOther || linked() {
			t.Fatalf("confirmed unlink: %d %s", p.status, p.body)
		}
		// Someone else's identity, or none: refused, nothing changes.
		if p := post("/users/"+carol.Subject+"/unlink", form); p.status != http.StatusBadRequest && p.status != http.StatusNotFound {
			t.Fatalf("unlinking what is not linked: %d %s", p.status, p.body)
		}
	})

	t.Run("revoke key", func(t *testing.T) {
		kid := jwksKids(t, o)[0]
		path := "/keys/" + kid + "/revoke"
		if p := post(path, url.Values{"confirm": {"yes"}, "asked": {"yes"}}); p.status != http.StatusOK || !strings.Contains(p.body, `id="reason"`) {
			t.Fatalf("no reason asked: %d %s", p.status, p.body)
		}
		if p := post(path, url.Values{"reason": {"leaked"}}); p.status != http.StatusOK || !strings.Contains(p.body, `name="confirm" value="yes"`) {
			t.Fatalf("no confirmation asked: %d %s", p.status, p.body)
		}
		if !slices.Contains(jwksKids(t, o), kid) {
			t.Fatal("revoked before the confirmation")
		}
		if p := post(path, url.Values{"reason": {"leaked"}, "confirm": {"yes"}}); p.status != http.StatusSeeOther {
			t.Fatalf("confirmed: %d %s", p.status, p.body)
		}
		if slices.Contains(jwksKids(t, o), kid) {
			t.Fatal("still published after the confirmed revocation")
		}
	})

	for _, action := range []string{"disable", "delete", "revoke-admin"} {
		t.Run("self "+action, func(t *testing.T) {
			p := post("/users/"+o.user.Subject+"/"+action, url.Values{"confirm": {"yes"}})
			if p.status != http.StatusBadRequest {
				t.Fatalf("%d %s", p.status, p.body)
			}
			if u, err := o.n.Directory().User(ctx, o.user.Subject); err != nil || u.Disabled || !u.Admin {
				t.Fatalf("the admin changed themselves: %+v %v", u, err)
			}
		})
	}
}

// The console's pages follow the browser's language, like the OP's.
func TestConsoleLanguage(t *testing.T) {
	o := startOP(t)
	b, _ := signedInAdmin(t, o)
	req, _ := http.NewRequest(http.MethodGet, o.issuer+console.Base+"/keys", nil)
	req.Header.Set("Accept-Language", "ja")
	p := fetch(t, b, req)
	if p.status != http.StatusOK || !strings.Contains(p.body, `<html lang="ja">`) || !strings.Contains(p.body, "署名鍵") || !strings.Contains(p.body, "管理コンソール") {
		t.Fatalf("keys page in Japanese: %d %s", p.status, p.body)
	}
}

// The console's audit log is queried as the admin API's is: by type,
// subject, client and time (a browser's UTC date-time fields); a bad
// time is refused with a message and lists nothing.
func TestConsoleAuditFilters(t *testing.T) {
	o := startOP(t)
	b, _ := signedInAdmin(t, o)
	rows := func(q url.Values) (int, page) {
		t.Helper()
		p := get(t, b, o.issuer+console.Base+"/audit?"+q.Encode())
		if p.status != http.StatusOK {
			t.Fatalf("audit page %v: %d %s", q, p.status, p.body)
		}
		_, body, _ := strings.Cut(p.body, "<tbody>")
		return strings.Count(body, "<tr>"), p
	}
	// The admin's sign-in at the OP is audited for the console's client.
	eventually.True(t, "the console's sign-in is in the log", func() bool {
		n, _ := rows(url.Values{"client_id": {console.ClientID}})
		return n > 0
	})
	if n, p := rows(url.Values{"client_id": {"no-such-client"}}); n != 0 {
		t.Fatalf("another client's filter lists %d events: %s", n, p.body)
	}
	if n, _ := rows(url.Values{"client_id": {console.ClientID}, "sub": {o.user.Subject}}); n == 0 {
		t.Fatal("the admin's own events for the console client are not listed")
	}
	future := o.clock.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	past := o.clock.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
	if n, p := rows(url.Values{"since": {future}}); n != 0 {
		t.Fatalf("events from the future: %d %s", n, p.body)
	}
	if n, _ := rows(url.Values{"since": {past}, "until": {future}}); n == 0 {
		t.Fatal("the last hour lists nothing")
	}
	if n, p := rows(url.Values{"since": {"yesterday"}}); n != 0 || !strings.Contains(p.body, "since must be an RFC 3339 time") {
		t.Fatalf("a bad time: %d rows, %s", n, p.body)
	}
	// The admin API reads the same fields the same way.
	if status, body := admin(t, o.n, http.MethodGet, "/admin/audit?since="+url.QueryEscape(future), adminToken, ""); status != http.StatusOK || !strings.Contains(string(body), `"events":[]`) {
		t.Fatalf("API since %s: %d %s", future, status, body)
	}
}

// Signing out of the console ends the admin's session at the node too
// (RP-initiated logout with the sign-in's ID token as the hint, no
// question asked), so a shared machine keeps no one signed in; a
// sign-out form without the CSRF token (a cross-site post) ends nothing.
func TestConsoleSignOutEndsNodeSession(t *testing.T) {
	o := startOP(t)
	b, token := signedInAdmin(t, o)
	if p := postForm(t, b, o.issuer+console.Base+"/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("a sign-out without the CSRF token: %d", p.status)
	}
	if p := get(t, b, o.issuer+console.Base+"/users"); p.status != http.StatusOK {
		t.Fatalf("the session ended without the CSRF token: %d", p.status)
	}
	p := postForm(t, b, o.issuer+console.Base+"/logout", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || p.loc == nil || p.loc.Path != "/logout" || p.loc.Query().Get("id_token_hint") == "" ||
		p.loc.Query().Get("post_logout_redirect_uri") != o.issuer+console.SignedOutPath {
		t.Fatalf("sign-out: %d %v", p.status, p.loc)
	}
	p = get(t, b, p.loc.String())
	if p.status != http.StatusFound || p.loc == nil || p.loc.String() != o.issuer+console.SignedOutPath {
		t.Fatalf("the node's end-session endpoint: %d %v %s", p.status, p.loc, mainText(p.body))
	}
	if p = get(t, b, p.loc.String()); p.status != http.StatusOK || !strings.Contains(p.body, "signed out of the admin console and of this identity provider") {
		t.Fatalf("the signed-out page: %d %s", p.status, p.body)
	}
	if p := get(t, b, o.issuer+console.Base+"/users"); p.status != http.StatusSeeOther {
		t.Fatalf("the console after sign-out: %d", p.status)
	}
	// The node asks for the password again.
	p = get(t, b, o.issuer+console.Base+"/login")
	for p.status == http.StatusSeeOther || p.status == http.StatusFound {
		p = get(t, b, mustParse(t, o.issuer).ResolveReference(p.loc).String())
	}
	if !p.isLogin() {
		t.Fatalf("signed in again without a password: %d %s", p.status, mainText(p.body))
	}
}

// A console session ends after 30 minutes unused, each request starting
// that time again, and 8 hours after the sign-in whatever.
func TestConsoleIdleTimeout(t *testing.T) {
	o := startOP(t)
	b, _ := signedInAdmin(t, o)
	users := o.issuer + console.Base + "/users"
	for range 3 { // an hour and a half of use, a click every 25 minutes
		o.clock.Advance(25 * time.Minute)
		if p := get(t, b, users); p.status != http.StatusOK {
			t.Fatalf("an admin at work was signed out: %d", p.status)
		}
	}
	o.clock.Advance(31 * time.Minute)
	if p := get(t, b, users); p.status != http.StatusSeeOther || p.loc.Path != console.Base+"/login" {
		t.Fatalf("after 31 minutes unused: %d %v", p.status, p.loc)
	}

	b, _ = signedInAdmin(t, o)
	for i := 0; ; i++ {
		o.clock.Advance(20 * time.Minute)
		p := get(t, b, users)
		if p.status == http.StatusSeeOther {
			if elapsed := time.Duration(i+1) * 20 * time.Minute; elapsed < 8*time.Hour || elapsed > 8*time.Hour+20*time.Minute {
				t.Fatalf("the session ended after %v of use, want 8 hours", elapsed)
			}
			break
		}
		if p.status != http.StatusOK || i > 30 {
			t.Fatalf("after %d clicks: %d", i, p.status)
		}
	}
}

// forwardedFor makes every request of b say it comes from ip (through
// a trusted proxy).
type forwardedFor struct {
	ip   string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.next.RoundTrip(r)
}

// The console's in-process call to the token endpoint counts against
// the signing-in browser's address (its rate limit and access log), not
// one loopback address shared by every admin and by anyone flooding
// the console's sign-in.
func TestConsoleTokenCallCarriesBrowserAddress(t *testing.T) {
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1"} },
		func(opts *node.Options) { opts.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	grantAdmin(t, o, "alice", true)
	const from = "198.51.100.23"
	b := browser(t)
	b.Transport = forwardedFor{ip: from, next: http.DefaultTransport}
	if p := consoleSignIn(t, o, b, "alice", userPassword); p.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	found := false
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "http request" && rec["route"] == "/token" {
			if rec["remote_ip"] != from {
				t.Fatalf("the console's token call came from %v, want %s", rec["remote_ip"], from)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no access log line of the token call in %s", logs.String())
	}
}

var olderRE = regexp.MustCompile(`<a href="([^"]*/audit\?[^"]*before=[^"]*)">Older events</a>`)

// The console's audit log pages back: 100 events a page, the newest
// first, and an "older events" link to the page before, keeping the
// filter, until none is left; no event is shown twice or skipped.
func TestConsoleAuditPaging(t *testing.T) {
	o := startOP(t)
	b, _ := signedInAdmin(t, o)
	const n = 105
	for i := range n {
		body := fmt.Sprintf(`{"client_name":"app %d","redirect_uris":["https://app%d.example/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code"]}`, i, i)
		if status, resp := admin(t, o.n, http.MethodPost, "/admin/clients", adminToken, body); status != http.StatusCreated {
			t.Fatalf("client %d: %d %s", i, status, resp)
		}
	}
	q := url.Values{"type": {"admin_client_created"}}
	eventually.True(t, "every creation is stored", func() bool {
		return len(auditPage(t, o.n, url.Values{"type": q["type"], "limit": {"1000"}}).Events) == n
	})
	// The client ID column of each row.
	idRE := regexp.MustCompile(`admin_client_created</td>\n<td class="mono">[^<]*</td>\n<td class="mono">([^<]+)</td>`)
	var seen []string
	next := o.issuer + console.Base + "/audit?" + q.Encode()
	for pages := 0; next != ""; pages++ {
		if pages > 2 {
			t.Fatal("more pages than events")
		}
		p := get(t, b, next)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", next, p.status)
		}
		_, rows, _ := strings.Cut(html.UnescapeString(p.body), "<tbody>")
		for _, m := range idRE.FindAllStringSubmatch(rows, -1) {
			seen = append(seen, m[1])
		}
		next = ""
		if m := olderRE.FindStringSubmatch(p.body); m != nil {
			next = o.issuer + html.UnescapeString(m[1])
			if !strings.Contains(next, "type=admin_client_created") {
				t.Fatalf("the older page loses the filter: %s", next)
			}
		}
	}
	distinct := slices.Clone(seen)
	slices.Sort(distinct)
	if len(seen) != n || len(slices.Compact(distinct)) != n {
		t.Fatalf("%d events over the pages (%d distinct), want %d", len(seen), len(slices.Compact(distinct)), n)
	}
}
