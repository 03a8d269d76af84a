package node_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authrim/internal/eventually"
	"authrim/internal/freeport"
	"authrim/internal/logoutrp"
	"authrim/node"
)

// startOPWithLogoutRP starts a node whose client "rp" registered the
// logout endpoint of a test RP (which answers 500 failFirst times
// first), with fast retries.
func startOPWithLogoutRP(t *testing.T, failFirst int, adjust func(*node.Config)) (*op, *logoutrp.RP, string) {
	t.Helper()
	rp := logoutrp.Start(t, "", "rp", failFirst)
	metricsAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	o := startOPWith(t, func(c *node.Config) {
		c.Metrics.Listen = metricsAddr
		c.Requests.Fetch.AllowPrivateAddresses = true // the RP is on loopback
		c.Requests.Fetch.CAFile = rp.CAFile
		c.Delivery.RetryInitial = node.Duration(50 * time.Millisecond)
		c.Delivery.RetryMax = node.Duration(200 * time.Millisecond)
		c.Delivery.ScanInterval = node.Duration(500 * time.Millisecond)
		for i := range c.Clients {
			if c.Clients[i].ID == "rp" {
				c.Clients[i].BackchannelLogoutURI = rp.URL
			}
		}
		if adjust != nil {
			adjust(c)
		}
	})
	rp.SetIssuer(o.issuer)
	return o, rp, "http://" + metricsAddr + "/metrics"
}

// metricsText reads the node's metrics.
func metricsText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// codeFlow signs the browser in for "rp" and redeems the code: the RP
// now holds an ID token of the session. It returns the ID token.
func (o *op) codeFlow(t *testing.T, b *http.Client) string {
	t.Helper()
	verifier, challenge := pkce()
	p := baseParams()
	p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
	cb := o.signIn(t, b, o.authorizeURL(p))
	st, tok := o.redeem(t, cb.Query().Get("code"), verifier)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	return tok["id_token"].(string)
}

// awaitLogouts waits until the RP accepted n logout tokens and the
// node's outbox is empty (nothing more is coming).
func awaitLogouts(t *testing.T, o *op, rp *logoutrp.RP, n int) []logoutrp.Logout {
	t.Helper()
	eventually.True(t, "the RP receives its logout tokens and the outbox drains", func() bool {
		pending, err := o.n.OutboxLen(context.Background())
		return err == nil && pending == 0 && len(rp.Accepted()) >= n
	})
	got := rp.Accepted()
	if len(got) != n || len(rp.Refused()) != 0 {
		t.Fatalf("accepted %d logout tokens (%v), want %d; refused: %v", len(got), got, n, rp.Refused())
	}
	return got
}

// RP-initiated logout sends the RP one logout token for the session
// (sid and sub of its ID token), verified by go-oidc against the JWKS.
func TestBackchannelLogoutOnRPInitiatedLogout(t *testing.T) {
	o, rp, _ := startOPWithLogoutRP(t, 0, nil)
	b := browser(t)
	rawID := o.codeFlow(t, b)
	idc := idClaims(t, rawID)
	start := time.Now()
	lo := get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}}.Encode())
	if lo.status != http.StatusFound {
		t.Fatalf("logout: %d %s", lo.status, lo.body)
	}
	got := awaitLogouts(t, o, rp, 1)
	if got[0].Sid != idc["sid"] || got[0].Sub != o.user.Subject {
		t.Fatalf("logout token sid %q sub %q, ID token sid %v sub %s", got[0].Sid, got[0].Sub, idc["sid"], o.user.Subject)
	}
	t.Logf("delivery latency (logout request to RP accepted, one node): %v", got[0].At.Sub(start))

	// The session's end was told once: logging out again sends nothing.
	get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}}.Encode())
	awaitLogouts(t, o, rp, 1)
}

// An RP that answers 500 three times gets the logout token on the
// fourth attempt, once, with the same jti the failed attempts carried.
func TestBackchannelLogoutRetriesUntilDelivered(t *testing.T) {
	o, rp, metrics := startOPWithLogoutRP(t, 3, nil)
	b := browser(t)
	rawID := o.codeFlow(t, b)
	get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {rawID}}.Encode())
	awaitLogouts(t, o, rp, 1)
	if a := rp.Attempts(); a != 4 {
		t.Fatalf("attempts: %d, want 4 (3 refused, 1 delivered)", a)
	}
	// The grain counts the outcome after the RP has answered: wait for it.
	for _, want := range []string{
		`authrim_deliveries_total{kind="backchannel_logout",outcome="retried"} 3`,
		`authrim_deliveries_total{kind="backchannel_logout",outcome="sent"} 1`,
	} {
		eventually.True(t, "metrics show "+want, func() bool { return strings.Contains(metricsText(t, metrics), want) })
	}
}

// A user disabled or deleted behind the node's back (in the directory,
// not through the admin API, which also ends their sessions at once):
// their session's next use ends it, and the RP is told.
func TestBackchannelLogoutWhenUserDisabledOrDeleted(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(o *op) error
	}{
		{"disabled", func(o *op) error {
			_, err := o.n.Directory().SetUserDisabled(context.Background(), o.user.Subject, true)
			return err
		}},
		{"deleted", func(o *op) error { return o.n.Directory().DeleteUser(context.Background(), o.user.Subject) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, rp, _ := startOPWithLogoutRP(t, 0, nil)
			b := browser(t)
			o.codeFlow(t, b)
			if err := tc.end(o); err != nil {
				t.Fatal(err)
			}
			// The browser comes back: the grain finds the user gone.
			p := baseParams()
			p["prompt"] = "none"
			get(t, b, o.authorizeURL(p))
			got := awaitLogouts(t, o, rp, 1)
			if got[0].Sub != o.user.Subject {
				t.Fatalf("logout for %q", got[0].Sub)
			}
		})
	}
}

// Another user signing in on the same browser ends the first one's
// sign-in: the first user's RP session is told.
func TestBackchannelLogoutWhenAnotherUserSignsIn(t *testing.T) {
	o, rp, _ := startOPWithLogoutRP(t, 0, nil)
	if _, err := o.n.Directory().CreateUser(context.Background(), dirUser("bob")); err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	idc := idClaims(t, o.codeFlow(t, b))
	p := baseParams()
	p["prompt"] = "login"
	pg := get(t, b, o.authorizeURL(p))
	if r := o.signInAs(t, b, pg, "bob", userPassword); r.status != http.StatusFound && !r.isConsent() {
		t.Fatalf("bob's sign-in: %d %s", r.status, r.body)
	}
	got := awaitLogouts(t, o, rp, 1)
	if got[0].Sub != o.user.Subject || got[0].Sid != idc["sid"] {
		t.Fatalf("logout for %q/%q", got[0].Sub, got[0].Sid)
	}
}

// Every other way a sign-in ends tells the RP of exactly that session:
// the user's account page (one other session), an operator (one
// session), and disabling the user (the rest, at once).
func TestBackchannelLogoutOnAccountPageOperatorAndDisable(t *testing.T) {
	o, rp, _ := startOPWithLogoutRP(t, 0, nil)
	all := o.signInConcurrentlyAs(t, "openid", userAgents[:3])
	me := all[0]
	_, _, body := o.accountSessions(t, me.b)
	csrf := hidden(body).Get("csrf")
	if p := postForm(t, me.b, o.issuer+"/account/sessions/end", url.Values{"csrf": {csrf}, "sid": {all[1].sid}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out one from the account page: %d %s", p.status, p.body)
	}
	if got := awaitLogouts(t, o, rp, 1); got[0].Sid != all[1].sid || got[0].Sub != o.user.Subject {
		t.Fatalf("account page: logout for %q/%q, want %q", got[0].Sid, got[0].Sub, all[1].sid)
	}
	if st, b := admin(t, o.n, "DELETE", "/admin/users/alice/sessions/"+all[2].sid, adminToken, ""); st != http.StatusNoContent {
		t.Fatalf("admin revoke: %d %s", st, b)
	}
	if got := awaitLogouts(t, o, rp, 2); got[1].Sid != all[2].sid {
		t.Fatalf("operator: logout for %q, want %q", got[1].Sid, all[2].sid)
	}
	if st, b := admin(t, o.n, "POST", "/admin/users/alice/disable", adminToken, ""); st/100 != 2 {
		t.Fatalf("disable: %d %s", st, b)
	}
	// No use of the session is needed: disabling ends it at once.
	if got := awaitLogouts(t, o, rp, 3); got[2].Sid != me.sid {
		t.Fatalf("disable: logout for %q, want %q", got[2].Sid, me.sid)
	}
}
