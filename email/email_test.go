package email_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"authrim/actors/delivery"
	"authrim/actors/keymanager"
	"authrim/email"
	"authrim/internal/smtptest"
	"authrim/internal/testca"
	"authrim/persistence/bbolt"
)

func kek(t *testing.T) *keymanager.KEK {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := keymanager.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const secretLink = "https://op.example/password/reset#t=SECRETTOKENVALUE"

func resetMail(to string) *email.Mail {
	return &email.Mail{To: to, Lang: "en", Template: email.ResetPassword, Data: map[string]string{
		"Link": secretLink, "Username": "alice", "TTL": "30m0s",
	}}
}

// handler makes the outbox Handler sending to srv with cfg's other
// fields.
func handler(t *testing.T, srv *smtptest.Server, cfg email.Config) (*email.Handler, *keymanager.KEK) {
	t.Helper()
	cfg.Host, cfg.Port = srv.Host, srv.Port
	if cfg.From == "" {
		cfg.From = "Authrim <noreply@op.example>"
	}
	if cfg.CAFile == "" && cfg.TLS != email.None {
		cfg.CAFile = srv.CAFile(t, t.TempDir())
	}
	s, err := email.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := kek(t)
	return &email.Handler{Sender: s, Sealer: k, Issuer: "https://op.example"}, k
}

func message(t *testing.T, k *keymanager.KEK, m *email.Mail) *delivery.Message {
	t.Helper()
	msg, err := email.NewMessage(k, m, "sub-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// A mail goes over STARTTLS with AUTH, verified against the private CA,
// as text and HTML alternatives carrying the link.
func TestDeliverStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "mailer", Password: "pw"})
	h, k := handler(t, srv, email.Config{Username: "mailer", Password: "pw"})
	msg := message(t, k, resetMail("alice@example.com"))
	if err := h.Deliver(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1)[0]
	if !got.TLS || got.User != "mailer" || got.From != "noreply@op.example" || got.To[0] != "alice@example.com" {
		t.Fatalf("received %+v", got)
	}
	if s := got.Header("Subject"); s != "Reset your password" {
		t.Fatalf("subject %q", s)
	}
	if got.Header("Content-Language") != "en" || !strings.Contains(got.Header("Message-ID"), msg.ID) {
		t.Fatalf("headers: %s", got.Raw)
	}
	if l := got.Link(t, "/password/reset"); l != secretLink {
		t.Fatalf("link %q", l)
	}
	html, err := got.Part("text/html")
	if err != nil || !strings.Contains(html, `href="`+secretLink+`"`) || !strings.Contains(html, `lang="en"`) {
		t.Fatalf("html part (%v): %s", err, html)
	}
}

func TestDeliverImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.Implicit})
	h, k := handler(t, srv, email.Config{TLS: email.Implicit})
	if err := h.Deliver(context.Background(), message(t, k, resetMail("bob@example.com"))); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(t, 1)[0]; !got.TLS {
		t.Fatal("implicit TLS mail came in the clear")
	}
}

// tls: none reaches a loopback server without TLS.
func TestDeliverPlainLoopback(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.None})
	h, k := handler(t, srv, email.Config{TLS: email.None})
	if err := h.Deliver(context.Background(), message(t, k, resetMail("bob@example.com"))); err != nil {
		t.Fatal(err)
	}
	srv.Wait(t, 1)
}

// 4xx is retried (not permanent), 5xx given up (permanent); the server
// accepts the next attempt after a 4xx.
func TestDeliverRefusals(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	h, k := handler(t, srv, email.Config{})
	msg := message(t, k, resetMail("alice@example.com"))
	srv.Refuse(451)
	err := h.Deliver(context.Background(), msg)
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("a 451 gave %v, want a temporary error", err)
	}
	if err := h.Deliver(context.Background(), msg); err != nil {
		t.Fatalf("the attempt after the 451: %v", err)
	}
	srv.Refuse(550)
	err = h.Deliver(context.Background(), message(t, k, resetMail("carol@example.com")))
	if !delivery.IsPermanent(err) {
		t.Fatalf("a 550 gave %v, want a permanent error", err)
	}
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("%d mails received, want 1", n)
	}
}

// The server's certificate is verified: one from another CA is refused,
// and so is a server that does not offer STARTTLS (no fall back to the
// clear).
func TestDeliverVerifiesTheServer(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	other := smtptest.Start(t, smtptest.Options{CA: testca.New(t)})
	h, k := handler(t, srv, email.Config{CAFile: other.CAFile(t, t.TempDir())})
	if err := h.Deliver(context.Background(), message(t, k, resetMail("a@example.com"))); err == nil {
		t.Fatal("a certificate from an untrusted CA was accepted")
	}
	plain := smtptest.Start(t, smtptest.Options{TLS: smtptest.None})
	h2, k2 := handler(t, plain, email.Config{CAFile: srv.CAFile(t, t.TempDir())})
	if err := h2.Deliver(context.Background(), message(t, k2, resetMail("a@example.com"))); err == nil {
		t.Fatal("a server without STARTTLS got the mail in the clear")
	}
	if len(srv.Mails())+len(plain.Mails()) != 0 {
		t.Fatal("mail received despite the failed TLS")
	}
}

// Wrong credentials are a 535: given up.
func TestDeliverBadCredentials(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "pw"})
	h, k := handler(t, srv, email.Config{Username: "mailer", Password: "wrong"})
	if err := h.Deliver(context.Background(), message(t, k, resetMail("a@example.com"))); !delivery.IsPermanent(err) {
		t.Fatalf("bad credentials gave %v", err)
	}
}

// The outbox holds the link sealed: neither the link nor the address
// appears in the store, and the payload only opens as its own message.
func TestOutboxPayloadIsSealed(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	k := kek(t)
	id, err := email.Enqueue(ctx, store, k, resetMail("alice@example.com"), "sub-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(ctx, delivery.Bucket, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRETTOKENVALUE", "alice@example.com"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the outbox record holds %q in clear: %s", secret, raw)
		}
	}
	msg := message(t, k, resetMail("x@example.com"))
	m, err := email.Open(k, msg)
	if err != nil || m.To != "x@example.com" {
		t.Fatalf("open: %v %+v", err, m)
	}
	moved := *msg
	moved.ID = "email-other"
	if _, err := email.Open(k, &moved); err == nil {
		t.Fatal("a payload opened under another message id")
	}
	if _, err := email.Open(kek(t), msg); err == nil {
		t.Fatal("a payload opened under another KEK")
	}
}

func TestMailCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    email.Mail
	}{
		{"unknown template", email.Mail{To: "a@example.com", Template: "nope"}},
		{"display name", email.Mail{To: "Eve <a@example.com>", Template: email.ResetPassword}},
		{"header injection", email.Mail{To: "a@example.com\r\nBcc: b@example.com", Template: email.ResetPassword}},
		{"no address", email.Mail{To: "", Template: email.ResetPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.m.Check(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  email.Config
		key  string
	}{
		{"plain to a remote host", email.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "none"}, "tls"},
		{"plain to a remote address", email.Config{Host: "192.0.2.1", From: "a@example.com", TLS: "none"}, "tls"},
		{"unknown tls", email.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "maybe"}, "tls"},
		{"no from", email.Config{Host: "smtp.example.com"}, "from"},
		{"bad from", email.Config{Host: "smtp.example.com", From: "not an address"}, "from"},
		{"user without password", email.Config{Host: "smtp.example.com", From: "a@example.com", Username: "u"}, "username"},
		{"missing ca file", email.Config{Host: "smtp.example.com", From: "a@example.com", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
		{"bad port", email.Config{Host: "smtp.example.com", From: "a@example.com", Port: 70000}, "port"},
		{"from without host", email.Config{From: "a@example.com"}, "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			tc.cfg.Problems(func(key, msg string) { keys = append(keys, key) })
			if !strings.Contains(strings.Join(keys, " "), tc.key) {
				t.Fatalf("problems %v, want one for %s", keys, tc.key)
			}
		})
	}
	for _, ok := range []email.Config{
		{},
		{Host: "smtp.example.com", From: "Authrim <noreply@example.com>"},
		{Host: "127.0.0.1", From: "a@example.com", TLS: "none"},
		{Host: "localhost", From: "a@example.com", TLS: "none", Username: "u", Password: "p"},
		{Host: "::1", From: "a@example.com", TLS: "none"},
	} {
		var probs []string
		ok.Problems(func(key, msg string) { probs = append(probs, key+": "+msg) })
		if len(probs) > 0 {
			t.Errorf("%+v: %v", ok, probs)
		}
	}
	if _, err := email.NewSender(email.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "none"}); err == nil {
		t.Fatal("NewSender accepted plain SMTP to a remote host")
	}
	_ = errors.New
}
