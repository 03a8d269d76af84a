package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authrim/directory"
	"authrim/http/management"
	"authrim/internal/headless"
	"authrim/internal/smtptest"
	"authrim/node"
)

const invitedPassword = "lanterns over the quiet bay"

func startOPInvites(t *testing.T, adjust func(*node.Config)) (*op, *smtptest.Server) {
	t.Helper()
	o, srv := startOPMail(t, func(c *node.Config) {
		c.Registration.Users = node.UsersInvite
		if adjust != nil {
			adjust(c)
		}
	})
	return o, srv
}

func (o *op) invite(t *testing.T, body string) (int, management.InvitationView, string) {
	t.Helper()
	status, resp := admin(t, o.n, http.MethodPost, management.InvitationsPath, adminToken, body)
	var v management.InvitationView
	_ = json.Unmarshal(resp, &v)
	return status, v, string(resp)
}

// acceptWith follows an invitation link and posts a password.
func (o *op) acceptWith(t *testing.T, link, pw, confirm string) page {
	t.Helper()
	b := browser(t)
	p := get(t, b, link)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="token"`) {
		return p
	}
	v := hidden(p.body)
	v.Set("password", pw)
	v.Set("confirm", confirm)
	return postForm(t, b, o.issuer+"/invite", v)
}

// An invitation over HTTP: the account exists at once but cannot sign
// in; the mailed link sets the password (under the policy), verifies the
// address, works once; the link of another purpose does not open it.
func TestInvitation(t *testing.T) {
	o, srv := startOPInvites(t, nil)
	status, v, body := o.invite(t, `{"email":"ines@example.com","username":"ines","lang":"de"}`)
	if status != http.StatusCreated || v.Username != "ines" || v.SentTo != "ines@example.com" {
		t.Fatalf("invite: %d %s", status, body)
	}
	m := srv.WaitTo(t, "ines@example.com")
	if m.Header("Subject") != "Ihr neues Konto" {
		t.Errorf("subject %q, want the German one", m.Header("Subject"))
	}
	link := m.Link(t, "/invite")
	u, err := o.n.Directory().FindUser(context.Background(), "ines")
	if err != nil || u.Claims["email_verified"] != false {
		t.Fatalf("invited user: %+v %v", u, err)
	}
	// A reset link is not an invitation (and the other way round).
	if p := o.acceptWith(t, strings.Replace(link, "/invite?", "/password/reset?", 1), invitedPassword, invitedPassword); p.status != http.StatusBadRequest {
		t.Fatalf("an invitation token at the reset page: %d %s", p.status, mainText(p.body))
	}
	if p := o.acceptWith(t, link, "password1", "password1"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `name="token"`) {
		t.Fatalf("a breached password: %d %s", p.status, mainText(p.body))
	}
	if p := o.acceptWith(t, link, invitedPassword, invitedPassword); p.status != http.StatusOK || !strings.Contains(p.body, "Your account is ready") {
		t.Fatalf("accept: %d %s", p.status, mainText(p.body))
	}
	u, _ = o.n.Directory().FindUser(context.Background(), "ines")
	if u.Claims["email_verified"] != true {
		t.Errorf("the address is not verified after the invitation: %v", u.Claims)
	}
	if _, err := o.n.Directory().Authenticate(context.Background(), "ines", invitedPassword); err != nil {
		t.Errorf("the chosen password does not work: %v", err)
	}
	if p := o.acceptWith(t, link, "yet another fine phrase", "yet another fine phrase"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "does not work") {
		t.Fatalf("a used link: %d %s", p.status, mainText(p.body))
	}

	// Refusals change nothing.
	for _, tc := range []struct{ name, body, want string }{
		{"taken", `{"email":"other@example.com","username":"ines"}`, "taken"},
		{"not an address", `{"email":"Ines <ines@example.com>"}`, "plain address"},
		{"no address", `{"username":"x"}`, "plain address"},
		{"unknown field", `{"email":"a@example.com","admin":true}`, "unknown field"},
	} {
		if status, _, body := o.invite(t, tc.body); status/100 != 4 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 4xx saying %q", tc.name, status, body, tc.want)
		}
	}
	if n := len(srv.Mails()); n != 1 {
		t.Errorf("%d mails, want the one invitation", n)
	}
	// Username defaults to the address.
	if status, v, body := o.invite(t, `{"email":"kenji@example.jp"}`); status != http.StatusCreated || v.Username != "kenji@example.jp" {
		t.Fatalf("invite without username: %d %s", status, body)
	}
}

// registration.users closed (the default): no invitations, no page.
func TestInvitationsClosed(t *testing.T) {
	o, _ := startOPMail(t, nil)
	if status, _, _ := o.invite(t, `{"email":"a@example.com"}`); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("invite with registration.users closed: %d", status)
	}
	if p := get(t, browser(t), o.issuer+"/invite?token=x"); p.status != http.StatusNotFound {
		t.Errorf("/invite with registration.users closed: %d", p.status)
	}
	checkValidation(t, []validationCase{
		{"invite without smtp", func(c *node.Config) { c.Registration.Users = node.UsersInvite }, "registration.users"},
		{"unknown", func(c *node.Config) { c.Registration.Users = "everyone" }, "registration.users"},
		{"invite link too long", func(c *node.Config) { c.Accounts.InviteLinkTTL = node.Duration(30 * 24 * time.Hour) }, "accounts.invite_link_ttl"},
	})
}

// Chromium: the invited person opens the mailed link, chooses a password
// and signs in to an application with it.
func TestInvitationInRealBrowser(t *testing.T) {
	headless.Require(t)
	rp := newRPCallback(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestBudget)
	defer cancel()
	o, srv := startOPInvites(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "browser-rp", Secret: browserRPSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Browser RP", RedirectURIs: []string{rp.url + "/callback"},
				AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
			},
		})
	})
	if status, _, body := o.invite(t, `{"email":"oda@example.com","username":"oda"}`); status != http.StatusCreated {
		t.Fatalf("invite: %d %s", status, body)
	}
	link := srv.WaitTo(t, "oda@example.com").Link(t, "/invite")

	c := startChromium(t, ctx)
	c.do("open the invitation", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	if got := c.text(`h1`); got != "Choose your password" {
		c.fail("the invitation page", fmt.Errorf("title %q", got))
	}
	c.shot("invite")
	c.do("type a password", chromedp.SendKeys(chromedp.CSS(`#password`), invitedPassword))
	c.do("type it again", chromedp.SendKeys(chromedp.CSS(`#confirm`), invitedPassword))
	c.do("choose it", chromedp.Click(chromedp.CSS(`form[action="/invite"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	if got := c.text(`h1`); got != "Your account is ready" {
		c.fail("after choosing", fmt.Errorf("title %q: %s", got, c.text(`main`)))
	}
	c.shot("invite-done")

	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "browser-rp", ClientSecret: browserRPSecret, RedirectURL: rp.url + "/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
	req := newAuthRequest(conf)
	c.do("sign in with the chosen password", chromedp.Navigate(req.url),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=password]`)),
		clearInput(`form[action="/login"] input[name=username]`),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=username]`), "oda"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/login"] input[name=password]`), invitedPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	req.checkCallback(t, o.issuer, c.finishAtRP(rp, 20*time.Second))
}
