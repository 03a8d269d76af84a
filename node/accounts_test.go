package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authrim/directory"
	"authrim/internal/docexample"
	"authrim/internal/eventually"
	"authrim/internal/smtptest"
	"authrim/node"
)

const newPassword = "a brand new passphrase 42"

// startOPMail starts a node that mails through a real SMTP server
// (STARTTLS with a test CA, AUTH PLAIN), retrying quickly.
func startOPMail(t *testing.T, adjust func(*node.Config)) (*op, *smtptest.Server) {
	t.Helper()
	return startOPMailOpts(t, adjust, nil)
}

func startOPMailOpts(t *testing.T, adjust func(*node.Config), adjustOpts func(*node.Options)) (*op, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "mail-pw"})
	caFile := srv.CAFile(t, t.TempDir())
	o := startOPFull(t, func(c *node.Config) {
		c.SMTP = node.SMTPConfig{Host: srv.Host, Port: srv.Port, Username: "mailer", Password: "mail-pw",
			From: "Authrim <accounts@op.example>", TLS: "starttls", CAFile: caFile}
		c.Delivery.RetryInitial = node.Duration(20 * time.Millisecond)
		c.Delivery.RetryMax = node.Duration(50 * time.Millisecond)
		c.Delivery.ScanInterval = node.Duration(100 * time.Millisecond)
		if adjust != nil {
			adjust(c)
		}
	}, adjustOpts)
	return o, srv
}

// forgot asks for a reset link for account and returns the answer.
func (o *op) forgot(t *testing.T, b *http.Client, account string) page {
	t.Helper()
	form := get(t, b, o.issuer+"/password/forgot")
	if form.status != http.StatusOK {
		t.Fatalf("forgot page: %d", form.status)
	}
	v := hidden(form.body)
	v.Set("account", account)
	return postForm(t, b, o.issuer+"/password/forgot", v)
}

// resetWith follows a mailed link and posts a new password.
func (o *op) resetWith(t *testing.T, b *http.Client, link, pw, confirm string) page {
	t.Helper()
	p := get(t, b, link)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="token"`) {
		return p
	}
	v := hidden(p.body)
	v.Set("password", pw)
	v.Set("confirm", confirm)
	return postForm(t, b, o.issuer+"/password/reset", v)
}

// passwordWorks reports whether alice signs in with pw.
func (o *op) passwordWorks(t *testing.T, pw string) bool {
	t.Helper()
	b := browser(t)
	p := get(t, b, o.authorizeURL(baseParams()))
	if !p.isLogin() {
		t.Fatalf("no sign-in page: %d", p.status)
	}
	p = o.login(t, b, p, pw)
	return !p.isLogin()
}

func outboxEmpty(t *testing.T, o *op) {
	t.Helper()
	eventually.True(t, "the outbox is empty", func() bool {
		n, err := o.n.OutboxLen(context.Background())
		return err == nil && n == 0
	})
}

func mainText(body string) string {
	i, j := strings.Index(body, "<main>"), strings.Index(body, "</main>")
	if i < 0 || j < i {
		return body
	}
	return body[i:j]
}

// The whole reset over HTTP: the link mailed through the SMTP server
// sets a new password (the policy applies), works once, and every
// session of the account ends.
func TestPasswordReset(t *testing.T) {
	o, srv := startOPMail(t, nil)
	signedIn := browser(t)
	o.signIn(t, signedIn, o.authorizeURL(baseParams()))

	b := browser(t)
	sent := o.forgot(t, b, "alice")
	if sent.status != http.StatusOK || !strings.Contains(sent.body, "Check your mail") {
		t.Fatalf("forgot: %d %s", sent.status, sent.body)
	}
	m := srv.WaitTo(t, "alice@example.com")
	if !m.TLS || m.User != "mailer" || m.Header("Subject") != "Reset your password" {
		t.Fatalf("mail: TLS %v user %q subject %q", m.TLS, m.User, m.Header("Subject"))
	}
	link := m.Link(t, "/password/reset")
	if !strings.HasPrefix(link, o.issuer+"/password/reset?token=") {
		t.Fatalf("link %q", link)
	}

	// A password the policy refuses, or two that differ, leave the link working.
	if p := o.resetWith(t, b, link, "short", "short"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `name="token"`) {
		t.Fatalf("weak password: %d %s", p.status, mainText(p.body))
	}
	if p := o.resetWith(t, b, link, newPassword, newPassword+"x"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "differ") {
		t.Fatalf("mismatch: %d %s", p.status, mainText(p.body))
	}
	if p := o.resetWith(t, b, link, newPassword, newPassword); p.status != http.StatusOK || !strings.Contains(p.body, "Password changed") {
		t.Fatalf("reset: %d %s", p.status, mainText(p.body))
	}
	if o.silent(t, signedIn) {
		t.Fatal("a session made before the reset still works")
	}
	if !o.passwordWorks(t, newPassword) || o.passwordWorks(t, userPassword) {
		t.Fatal("the new password does not work, or the old one still does")
	}
	// Used once: the same link again is refused.
	if p := o.resetWith(t, b, link, "another new passphrase", "another new passphrase"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "does not work") {
		t.Fatalf("reused link: %d %s", p.status, mainText(p.body))
	}
}

// The forgot page answers the same whether or not the account exists or
// has an address, and mails only the real one.
func TestForgotPasswordSameAnswer(t *testing.T) {
	o, srv := startOPMail(t, nil)
	if _, err := o.n.Directory().CreateUser(context.Background(), directory.NewUser{Username: "noemail", Password: userPassword}); err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	unknown := o.forgot(t, b, "nobody")
	noAddr := o.forgot(t, b, "noemail")
	byAddr := o.forgot(t, b, "nobody@example.com")
	known := o.forgot(t, b, "alice@example.com")
	for name, p := range map[string]page{"unknown": unknown, "no address": noAddr, "unknown address": byAddr} {
		if p.status != known.status || mainText(p.body) != mainText(known.body) {
			t.Errorf("%s: %d %q, the real account: %d %q", name, p.status, mainText(p.body), known.status, mainText(known.body))
		}
	}
	srv.WaitTo(t, "alice@example.com")
	outboxEmpty(t, o)
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("%d mails sent, want 1 (to the real account)", n)
	}
}

// A reset link is refused once expired, and a link of another purpose
// does not reset a password.
func TestResetLinkRefused(t *testing.T) {
	o, srv := startOPMail(t, nil)
	b := browser(t)
	o.forgot(t, b, "alice")
	link := srv.WaitTo(t, "alice@example.com").Link(t, "/password/reset")
	o.clock.Advance(31 * time.Minute)
	if p := o.resetWith(t, b, link, newPassword, newPassword); p.status != http.StatusBadRequest || !strings.Contains(p.body, "does not work") {
		t.Fatalf("expired link: %d %s", p.status, mainText(p.body))
	}

	tok, _, err := o.n.Directory().IssueActionToken(context.Background(), directory.PurposeVerifyEmail, o.user.Subject, "alice@example.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other := o.issuer + "/password/reset?token=" + tok
	if p := o.resetWith(t, b, other, newPassword, newPassword); p.status != http.StatusBadRequest {
		t.Fatalf("verification link on the reset page: %d", p.status)
	}
	// Posting it directly is refused too.
	form := get(t, b, o.issuer+"/password/forgot")
	v := hidden(form.body)
	v.Set("token", tok)
	v.Set("password", newPassword)
	v.Set("confirm", newPassword)
	if p := postForm(t, b, o.issuer+"/password/reset", v); p.status != http.StatusBadRequest {
		t.Fatalf("verification token posted to reset: %d", p.status)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), "%00"} {
		if p := get(t, b, o.issuer+"/password/reset?token="+url.QueryEscape(bad)); p.status != http.StatusBadRequest {
			t.Fatalf("token %q: %d", bad, p.status)
		}
	}
	if !o.passwordWorks(t, userPassword) {
		t.Fatal("the password changed")
	}
}

// At most accounts.reset_mails_per_hour mails per account per hour; the
// answer does not change.
func TestResetMailsPerAccount(t *testing.T) {
	o, srv := startOPMail(t, func(c *node.Config) { c.Accounts.ResetMailsPerHour = 2 })
	b := browser(t)
	var pages []page
	for range 3 {
		pages = append(pages, o.forgot(t, b, "alice"))
	}
	if mainText(pages[2].body) != mainText(pages[0].body) {
		t.Fatal("the refused request got another answer")
	}
	srv.Wait(t, 2)
	outboxEmpty(t, o)
	if n := len(srv.Mails()); n != 2 {
		t.Fatalf("%d mails, want 2", n)
	}
}

// The forgot and reset forms need their CSRF cookie.
func TestForgotPasswordCSRF(t *testing.T) {
	o, srv := startOPMail(t, nil)
	b := browser(t)
	p := postForm(t, b, o.issuer+"/password/forgot", url.Values{"account": {"alice"}, "csrf": {strings.Repeat("A", 43)}})
	if p.status == http.StatusOK {
		t.Fatalf("a forgot form without its cookie was accepted: %s", mainText(p.body))
	}
	outboxEmpty(t, o)
	if len(srv.Mails()) != 0 {
		t.Fatal("mail sent for a forged form")
	}
}

// The outbox retries a mail the server refused for now (4xx) and gives
// up one it refused for good (5xx).
func TestMailRetriedAndGivenUp(t *testing.T) {
	o, srv := startOPMail(t, nil)
	b := browser(t)
	srv.Refuse(451, 421)
	o.forgot(t, b, "alice")
	srv.WaitTo(t, "alice@example.com")
	outboxEmpty(t, o)

	srv.Refuse(550)
	o.forgot(t, b, "alice")
	outboxEmpty(t, o)
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("%d mails, want 1 (the second was refused for good)", n)
	}
}

// Without smtp, there is no forgot page and no link to it.
func TestNoMailNoForgotPage(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	if p := get(t, b, o.issuer+"/password/forgot"); p.status != http.StatusNotFound && p.status != http.StatusMethodNotAllowed {
		t.Fatalf("forgot page without smtp: %d", p.status)
	}
	if p := get(t, b, o.authorizeURL(baseParams())); strings.Contains(p.body, "/password/forgot") {
		t.Fatal("the sign-in page links to a page that is not served")
	}
}

// The password change on /account: the current password is required
// (a wrong one changes nothing), and a change ends every session.
func TestAccountPasswordChange(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	acct := get(t, b, o.issuer+"/account")
	if !strings.Contains(acct.body, `action="/account/password"`) {
		t.Fatal("no password form on the account page")
	}
	v := hidden(acct.body)
	csrf := v.Get("csrf")
	post := func(current, pw, confirm, token string) page {
		return postForm(t, b, o.issuer+"/account/password", url.Values{
			"csrf": {token}, "current": {current}, "password": {pw}, "confirm": {confirm},
		})
	}
	if p := post("wrong password", newPassword, newPassword, csrf); p.status != http.StatusForbidden {
		t.Fatalf("wrong current password: %d %s", p.status, mainText(p.body))
	}
	if p := post(userPassword, newPassword, newPassword, "forged"); p.status == http.StatusOK {
		t.Fatal("a change without the CSRF token was accepted")
	}
	if !o.passwordWorks(t, userPassword) {
		t.Fatal("the password changed after a refused change")
	}
	if p := post(userPassword, newPassword, newPassword, csrf); p.status != http.StatusOK || !strings.Contains(p.body, "Password changed") {
		t.Fatalf("change: %d %s", p.status, mainText(p.body))
	}
	if !o.passwordWorks(t, newPassword) || o.passwordWorks(t, userPassword) {
		t.Fatal("the new password does not work, or the old one does")
	}
	if o.silent(t, b) {
		t.Fatal("the session survived the change")
	}
}

// The README's forgot-password example asks for a link with curl.
func TestREADMEForgotPassword(t *testing.T) {
	o, srv := startOPMail(t, nil)
	out := docexample.Run(t, "../README.md", "forgot-password", "ISSUER="+o.issuer)
	if out != "Check your mail\n" {
		t.Fatalf("example printed %q", out)
	}
	srv.WaitTo(t, "alice@example.com")
}

// The reset and a refused password change are audited, and no log line
// holds the mailed link's token, the new password or the SMTP password.
func TestAccountLogsAuditWithoutSecrets(t *testing.T) {
	logs := &syncBuffer{}
	o, srv := startOPMailOpts(t, nil, func(opts *node.Options) {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := browser(t)
	o.forgot(t, b, "alice")
	link := srv.WaitTo(t, "alice@example.com").Link(t, "/password/reset")
	if p := o.resetWith(t, b, link, newPassword, newPassword); p.status != http.StatusOK {
		t.Fatalf("reset: %d", p.status)
	}
	b2 := browser(t)
	p := get(t, b2, o.authorizeURL(baseParams()))
	p = o.login(t, b2, p, newPassword)
	if p.isConsent() {
		o.consent(t, b2, p, "allow")
	}
	acct := get(t, b2, o.issuer+"/account")
	postForm(t, b2, o.issuer+"/account/password", url.Values{"csrf": {hidden(acct.body).Get("csrf")}, "current": {"not it"}, "password": {"x"}, "confirm": {"x"}})
	outboxEmpty(t, o)
	out := logs.String()
	token := link[strings.Index(link, "token=")+len("token="):]
	for _, secret := range []string{token, newPassword, "mail-pw"} {
		if strings.Contains(out, secret) {
			t.Errorf("a log line holds %q", secret)
		}
	}
	for _, audit := range []string{"password reset: link mailed", "password reset: password changed", "account: password change refused: wrong current password"} {
		if !strings.Contains(out, `"msg":"`+audit+`"`) {
			t.Errorf("no audit line %q", audit)
		}
	}
}
