package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"authrim/directory"
	"authrim/internal/smtptest"
	"authrim/node"
)

// confirm follows a verification link and presses its button.
func (o *op) confirm(t *testing.T, b *http.Client, link string) page {
	t.Helper()
	p := get(t, b, link)
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/email/verify"`) {
		return p
	}
	return postForm(t, b, o.issuer+"/email/verify", hidden(p.body))
}

func (o *op) verified(t *testing.T, user string) bool {
	t.Helper()
	u, err := o.n.Directory().FindUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := u.Claims["email_verified"].(bool)
	return v
}

func lastLinkTo(t *testing.T, srv *smtptest.Server, addr string, n int) string {
	t.Helper()
	var got []smtptest.Mail
	srv.Wait(t, n)
	for _, m := range srv.Mails() {
		if m.To[0] == addr {
			got = append(got, m)
		}
	}
	if len(got) == 0 {
		t.Fatalf("no mail to %s", addr)
	}
	return got[len(got)-1].Link(t, "/email/verify")
}

// Users created or re-addressed through the admin API get a
// verification link; it marks the address verified once, and only while
// it is still the user's address.
func TestEmailVerificationLinks(t *testing.T) {
	o, srv := startOPMail(t, nil)
	b := browser(t)
	st, body := admin(t, o.n, "POST", "/admin/users", adminToken, `{"username":"bob","password":"`+userPassword+`","claims":{"email":"bob@example.com"}}`)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, body)
	}
	m := srv.WaitTo(t, "bob@example.com")
	if m.Header("Subject") != "Confirm your email address" {
		t.Fatalf("subject %q", m.Header("Subject"))
	}
	link := m.Link(t, "/email/verify")
	if o.verified(t, "bob") {
		t.Fatal("verified before the link was used")
	}
	if p := o.confirm(t, b, link); p.status != http.StatusOK || !strings.Contains(p.body, "confirmed") {
		t.Fatalf("confirm: %d %s", p.status, mainText(p.body))
	}
	if !o.verified(t, "bob") {
		t.Fatal("not verified after the link")
	}
	if p := o.confirm(t, b, link); p.status != http.StatusBadRequest {
		t.Fatalf("reused link: %d", p.status)
	}

	// A new address is unverified and gets its own link; a link for an
	// address the user no longer has does nothing.
	if st, body := admin(t, o.n, "PATCH", "/admin/users/bob", adminToken, `{"claims":{"email":"bob2@example.com"}}`); st != http.StatusOK {
		t.Fatalf("patch: %d %s", st, body)
	}
	if o.verified(t, "bob") {
		t.Fatal("a changed address stayed verified")
	}
	stale := lastLinkTo(t, srv, "bob2@example.com", 2)
	if st, body := admin(t, o.n, "PATCH", "/admin/users/bob", adminToken, `{"claims":{"email":"bob3@example.com"}}`); st != http.StatusOK {
		t.Fatalf("patch: %d %s", st, body)
	}
	srv.WaitTo(t, "bob3@example.com")
	if p := o.confirm(t, b, stale); p.status != http.StatusBadRequest || o.verified(t, "bob") {
		t.Fatalf("a link for an old address: %d, verified %v", p.status, o.verified(t, "bob"))
	}

	// On demand (authrim users verify-email).
	st, body = admin(t, o.n, "POST", "/admin/users/bob/verify-email", adminToken, "")
	var v struct {
		SentTo string `json:"sent_to"`
	}
	if st != http.StatusAccepted || json.Unmarshal(body, &v) != nil || v.SentTo != "bob3@example.com" {
		t.Fatalf("verify-email: %d %s", st, body)
	}
	if p := o.confirm(t, b, lastLinkTo(t, srv, "bob3@example.com", 4)); p.status != http.StatusOK || !o.verified(t, "bob") {
		t.Fatalf("on-demand link: %d", p.status)
	}
	if st, _ := admin(t, o.n, "POST", "/admin/users/nobody/verify-email", adminToken, ""); st != http.StatusNotFound {
		t.Fatalf("unknown user: %d", st)
	}
}

// A client with require_verified_email gets no code for a user whose
// address is not verified: the user is offered the mail instead (and
// prompt=none gets interaction_required); once verified, the code comes.
func TestRequireVerifiedEmail(t *testing.T) {
	o, srv := startOPMail(t, func(c *node.Config) { c.Clients[0].RequireVerifiedEmail = true })
	if _, err := o.n.Directory().UpdateUserClaims(context.Background(), "alice", map[string]any{"email_verified": false}); err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	p := o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword)
	if p.isConsent() {
		p = o.consent(t, b, p, "allow")
	}
	if p.status != http.StatusForbidden || !strings.Contains(p.body, `action="/account/email/verify"`) {
		t.Fatalf("unverified sign-in: %d %v %s", p.status, p.loc, mainText(p.body))
	}
	params := baseParams()
	params["prompt"] = "none"
	if q := get(t, b, o.authorizeURL(params)); q.loc == nil || q.loc.Query().Get("error") != "interaction_required" || q.loc.Query().Get("code") != "" {
		t.Fatalf("prompt=none: %d %v", q.status, q.loc)
	}
	sent := postForm(t, b, o.issuer+"/account/email/verify", hidden(p.body))
	if sent.status != http.StatusOK || !strings.Contains(sent.body, "Check your mail") {
		t.Fatalf("send: %d %s", sent.status, mainText(sent.body))
	}
	if q := o.confirm(t, b, srv.WaitTo(t, "alice@example.com").Link(t, "/email/verify")); q.status != http.StatusOK {
		t.Fatalf("confirm: %d", q.status)
	}
	if !o.silent(t, b) {
		t.Fatal("no code after the address was verified")
	}
}

// A device client with require_verified_email cannot be approved by a
// user whose address is not verified.
func TestRequireVerifiedEmailDevice(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{ID: "tv-conf", Secret: tvSecret, ClientMetadata: directory.ClientMetadata{
			Name: "Kitchen TV", AuthMethod: "client_secret_basic",
			GrantTypes: []string{directory.DeviceCodeGrantType}, RequireVerifiedEmail: true,
		}})
		c.Tokens.DevicePollInterval = node.Duration(time.Second)
	})
	ctx := context.Background()
	if _, err := o.n.Directory().UpdateUserClaims(ctx, "alice", map[string]any{"email_verified": false}); err != nil {
		t.Fatal(err)
	}
	g := o.startDevice(t, "tv-conf", "openid")
	b := browser(t)
	p := o.enterCode(t, b, o.devicePage(t, b, g.complete), g.userCode, "approve")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "Confirm your email address") {
		t.Fatalf("unverified approval: %d %s", p.status, mainText(p.body))
	}
	st, body := o.poll(t, "tv-conf", g.deviceCode)
	wantPoll(t, st, body, "authorization_pending")
	if _, err := o.n.Directory().VerifyEmail(ctx, o.user.Subject, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if p := o.decide(t, b, g, "approve"); !strings.Contains(p.body, "You approved") {
		t.Fatalf("approval after verifying: %s", mainText(p.body))
	}
}
