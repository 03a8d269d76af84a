package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/http/management"
	"authrim/node"
)

// uaTransport sends every request with one User-Agent.
type uaTransport struct{ ua string }

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// browserAs is browser with a User-Agent.
func browserAs(t *testing.T, ua string) *http.Client {
	b := browser(t)
	b.Transport = uaTransport{ua: ua}
	return b
}

// sidOf is the session id in b's session cookie.
func (o *op) sidOf(t *testing.T, b *http.Client) string {
	t.Helper()
	u, _ := url.Parse(o.issuer)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "authrim_session" {
			sid, _, _ := strings.Cut(c.Value, ".")
			return sid
		}
	}
	t.Fatal("no session cookie")
	return ""
}

var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
}

// signedIn is one browser of alice's with the tokens its sign-in got.
type signedIn struct {
	b       *http.Client
	sid     string
	refresh string
}

// signInConcurrently signs alice in on one browser per user agent, all
// at once (parallel subtests), each redeeming its code with scope.
func (o *op) signInConcurrently(t *testing.T, scope string) []*signedIn {
	t.Helper()
	return o.signInConcurrentlyAs(t, scope, userAgents)
}

// signInConcurrentlyAs is signInConcurrently with these user agents.
func (o *op) signInConcurrentlyAs(t *testing.T, scope string, uas []string) []*signedIn {
	t.Helper()
	out := make([]*signedIn, len(uas))
	t.Run("sign-ins", func(t *testing.T) {
		for i, ua := range uas {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				b := browserAs(t, ua)
				p := baseParams()
				p["scope"] = scope
				if strings.Contains(scope, "offline_access") {
					p["prompt"] = "consent"
				}
				cb := o.signIn(t, b, o.authorizeURL(p))
				st, tok := o.redeem(t, cb.Query().Get("code"), "")
				if st != http.StatusOK || tok["refresh_token"] == nil {
					t.Errorf("redeem: %d %v", st, tok)
					return
				}
				out[i] = &signedIn{b: b, sid: o.sidOf(t, b), refresh: tok["refresh_token"].(string)}
			})
		}
	})
	for _, s := range out {
		if s == nil {
			t.FailNow()
		}
	}
	return out
}

func (o *op) refreshes(t *testing.T, rt string) bool {
	t.Helper()
	st, _ := o.tokenRequest(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return st == http.StatusOK
}

func (o *op) adminSessions(t *testing.T, user string) management.SessionsView {
	t.Helper()
	st, body := admin(t, o.n, "GET", "/admin/users/"+user+"/sessions", adminToken, "")
	if st != http.StatusOK {
		t.Fatalf("list sessions: %d %s", st, body)
	}
	var v management.SessionsView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sids(v management.SessionsView) map[string]management.SessionView {
	m := map[string]management.SessionView{}
	for _, s := range v.Sessions {
		m[s.Sid] = s
	}
	return m
}

var sessionItemRE = regexp.MustCompile(`<li class="session( current)?" data-sid="([^"]+)">`)

// accountSessions reads the sessions the account page lists, and which
// one it calls this device.
func (o *op) accountSessions(t *testing.T, b *http.Client) (listed []string, current string, body string) {
	t.Helper()
	p := get(t, b, o.issuer+"/account")
	if p.status != http.StatusOK {
		t.Fatalf("account page: %d %s", p.status, p.body)
	}
	for _, m := range sessionItemRE.FindAllStringSubmatch(p.body, -1) {
		listed = append(listed, m[2])
		if m[1] != "" {
			current = m[2]
		}
	}
	return listed, current, p.body
}

// Sessions of one user signed in at once from several browsers all show
// on the account page (with device, method and app) and in the admin
// API; the page marks its own; signing one out leaves the others, and
// "everywhere else" leaves only this one. Each session ended stops
// signing in silently and its refresh token is refused.
func TestAccountSessions(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	all := o.signInConcurrently(t, "openid profile email")
	me := all[0]
	listed, current, body := o.accountSessions(t, me.b)
	if len(listed) != len(all) || current != me.sid {
		t.Fatalf("the page lists %d sessions (current %q), want %d (current %q)", len(listed), current, len(all), me.sid)
	}
	for _, want := range []string{"Firefox on Linux", "Chrome on Windows", "Safari on iPhone", "Chrome on Android", "Safari on macOS", "Test RP", "password", "127.0.0.1", "this device"} {
		if !strings.Contains(body, want) {
			t.Errorf("the account page does not show %q", want)
		}
	}
	if got := sids(o.adminSessions(t, "alice")); len(got) != len(all) || got[all[1].sid].Device != "Chrome on Windows" ||
		len(got[all[1].sid].Clients) != 1 || got[all[1].sid].Clients[0] != "rp" {
		t.Fatalf("admin listing: %+v", got)
	}

	csrf := hidden(body).Get("csrf")
	if p := postForm(t, me.b, o.issuer+"/account/sessions/end", url.Values{"csrf": {csrf}, "sid": {all[1].sid}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out one: %d %s", p.status, p.body)
	}
	if o.silent(t, all[1].b) || o.refreshes(t, all[1].refresh) {
		t.Fatal("the session signed out from the account page still works")
	}
	for _, s := range []*signedIn{all[0], all[2]} {
		if !o.silent(t, s.b) || !o.refreshes(t, s.refresh) {
			// (refreshes rotates: the token is used once here)
			t.Fatal("signing out one session ended another")
		}
	}
	if listed, _, _ := o.accountSessions(t, me.b); len(listed) != len(all)-1 {
		t.Fatalf("%d sessions listed after one was signed out", len(listed))
	}
	// Without the page's CSRF token nothing happens.
	if p := postForm(t, me.b, o.issuer+"/account/sessions/end", url.Values{"sid": {all[3].sid}}); p.status != http.StatusBadRequest || !o.silent(t, all[3].b) {
		t.Fatalf("sign out without CSRF token: %d", p.status)
	}
	// This device signs out through /logout (front-channel logout).
	if p := postForm(t, me.b, o.issuer+"/account/sessions/end", url.Values{"csrf": {csrf}, "sid": {me.sid}}); p.status != http.StatusSeeOther || p.loc.Path != "/logout" || !o.silent(t, me.b) {
		t.Fatalf("this device's sign-out: %d %v", p.status, p.loc)
	}

	if p := postForm(t, me.b, o.issuer+"/account/sessions/end-others", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere else: %d %s", p.status, p.body)
	}
	for _, s := range all[1:] {
		if o.silent(t, s.b) {
			t.Fatal("a session survived signing out everywhere else")
		}
	}
	if !o.silent(t, me.b) {
		t.Fatal("signing out everywhere else ended this device's session")
	}
	if listed, current, _ := o.accountSessions(t, me.b); len(listed) != 1 || current != me.sid {
		t.Fatalf("after everywhere else: %v (current %q)", listed, current)
	}
}

// A user cannot end someone else's session from their account page, nor
// an operator one that is not the named user's: the session id is
// refused like an ended one and the session goes on.
func TestSessionOfAnotherUserCannotBeEnded(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	if _, err := o.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "bob", Password: userPassword}); err != nil {
		t.Fatal(err)
	}
	victim := browser(t)
	p := get(t, victim, o.authorizeURL(baseParams()))
	f := hidden(p.body)
	f.Set("username", "bob")
	f.Set("password", userPassword)
	if p = postForm(t, victim, o.issuer+"/login", f); p.isConsent() {
		o.consent(t, victim, p, "allow")
	}
	if !o.silent(t, victim) {
		t.Fatal("bob is not signed in")
	}
	bobSid := o.sidOf(t, victim)

	attacker := browser(t)
	o.signIn(t, attacker, o.authorizeURL(baseParams()))
	_, _, body := o.accountSessions(t, attacker)
	csrf := hidden(body).Get("csrf")
	for _, path := range []string{"/account/sessions/end"} {
		if p := postForm(t, attacker, o.issuer+path, url.Values{"csrf": {csrf}, "sid": {bobSid}}); p.status != http.StatusNotFound {
			t.Fatalf("alice ending bob's session: %d %s", p.status, p.body)
		}
	}
	if st, body := admin(t, o.n, "DELETE", "/admin/users/alice/sessions/"+bobSid, adminToken, ""); st != http.StatusNotFound {
		t.Fatalf("operator ending bob's session as alice's: %d %s", st, body)
	}
	if st, _ := admin(t, o.n, "DELETE", "/admin/users/alice/sessions", adminToken, ""); st != http.StatusOK {
		t.Fatalf("revoke all of alice's: %d", st)
	}
	if !o.silent(t, victim) {
		t.Fatal("bob's session was ended by a call about alice")
	}
	if got := sids(o.adminSessions(t, "bob")); len(got) != 1 {
		t.Fatalf("bob's sessions: %v", got)
	}
}

// An operator lists a user's sessions and ends one or all: an ended
// session's cookie no longer signs in silently and its refresh token is
// refused, unless it was asked for offline use (offline_access outlives
// the browser session, as with logout).
func TestAdminRevokesSessions(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	online := o.signInConcurrently(t, "openid profile email")
	if got := sids(o.adminSessions(t, "alice")); len(got) != len(online) {
		t.Fatalf("listed %d sessions, want %d", len(got), len(online))
	}
	if st, body := admin(t, o.n, "DELETE", "/admin/users/alice/sessions/"+online[0].sid, adminToken, ""); st != http.StatusNoContent {
		t.Fatalf("revoke one: %d %s", st, body)
	}
	if o.silent(t, online[0].b) || o.refreshes(t, online[0].refresh) {
		t.Fatal("a revoked session still works")
	}
	if !o.silent(t, online[1].b) {
		t.Fatal("revoking one session ended another")
	}
	if st, _ := admin(t, o.n, "DELETE", "/admin/users/alice/sessions/"+online[0].sid, adminToken, ""); st != http.StatusNotFound {
		t.Fatalf("revoking it again: %d, want 404", st)
	}
	if got := sids(o.adminSessions(t, "alice")); len(got) != len(online)-1 {
		t.Fatalf("listed %d sessions after one revoke", len(got))
	}

	offline := o.signInConcurrently(t, "openid profile email offline_access")
	st, body := admin(t, o.n, "DELETE", "/admin/users/alice/sessions", adminToken, "")
	var ended management.EndedView
	if err := json.Unmarshal(body, &ended); st != http.StatusOK || err != nil || len(ended.Ended) != len(online)-1+len(offline) {
		t.Fatalf("revoke all: %d %s", st, body)
	}
	for _, s := range online[1:] {
		if o.silent(t, s.b) || o.refreshes(t, s.refresh) {
			t.Fatal("a session survived revoke-all")
		}
	}
	for _, s := range offline {
		if o.silent(t, s.b) {
			t.Fatal("a browser session survived revoke-all")
		}
		if !o.refreshes(t, s.refresh) {
			t.Fatal("an offline_access refresh token ended with the browser session")
		}
	}
	if got := o.adminSessions(t, "alice"); len(got.Sessions) != 0 {
		t.Fatalf("sessions listed after revoke-all: %v", got)
	}
}

// Disabling or deleting a user ends each of their sessions through its
// grain at once (so their relying parties are told), not only at its
// next use.
func TestDisableAndDeleteEndSessionsAtOnce(t *testing.T) {
	for _, tt := range []struct{ name, method, path, reason string }{
		{"disable", "POST", "/admin/users/alice/disable", "user disabled"},
		{"delete", "DELETE", "/admin/users/alice", "user deleted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			o := startOPFull(t, func(c *node.Config) { c.Admin.Token = adminToken },
				func(opts *node.Options) { opts.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
			all := o.signInConcurrently(t, "openid profile email")
			if st, body := admin(t, o.n, tt.method, tt.path, adminToken, ""); st/100 != 2 {
				t.Fatalf("%s: %d %s", tt.name, st, body)
			}
			// Ended by the operator's call, before any use of the sessions.
			n := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `"msg":"session ended"`) && strings.Contains(line, `"reason":"`+tt.reason+`"`) {
					n++
				}
			}
			if n != len(all) {
				t.Fatalf("%d sessions ended by the %s, want %d", n, tt.name, len(all))
			}
			for _, s := range all {
				if o.silent(t, s.b) {
					t.Fatal("a session survived")
				}
			}
		})
	}
}
