package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"

	"authrim/directory"
	"authrim/email"
	"authrim/http/auth"
)

// SMTPConfig is where the node's mails (password reset and verification
// links) are submitted. Empty host: no mail, and the pages that need it
// are not served.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port defaults by tls: 587 (starttls), 465 (implicit), 25 (none).
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile holds the password instead (its first line), so that
	// the config file needs no secret.
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	// TLS: starttls (default), implicit or none (loopback hosts only).
	TLS string `yaml:"tls"`
	// CAFile is the PEM trust for the server's certificate, instead of
	// the system roots (a private CA).
	CAFile string `yaml:"ca_file"`
}

// AccountsConfig tunes the self-service account pages.
type AccountsConfig struct {
	// ResetLinkTTL is how long a password reset link works.
	ResetLinkTTL Duration `yaml:"reset_link_ttl"`
	// ResetMailsPerHour bounds the reset mails one account gets per
	// hour, whoever asks for them.
	ResetMailsPerHour int `yaml:"reset_mails_per_hour"`
	// VerifyLinkTTL is how long an email verification link works.
	VerifyLinkTTL Duration `yaml:"verify_link_ttl"`
	// InviteLinkTTL is how long an invitation link works.
	InviteLinkTTL Duration `yaml:"invite_link_ttl"`
}

// Values of registration.users: who may open an account.
const (
	// UsersClosed: only operators create users (authrim users add).
	UsersClosed = "closed"
	// UsersInvite: operators also invite people by email (authrim
	// users invite), who choose their own password.
	UsersInvite = "invite"
	// UsersOpen: anyone also signs up at /signup; the account works
	// once its address is confirmed.
	UsersOpen = "open"
)

// invitations reports whether operators may invite (invite or open).
func (c Config) invitations() bool {
	return c.Registration.Users == UsersInvite || c.Registration.Users == UsersOpen
}

// mailConfig is smtp as the email package takes it, the password read
// from password_file when that is set.
func (c Config) mailConfig() (email.Config, error) {
	s := c.SMTP
	out := email.Config{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password, From: s.From, TLS: s.TLS, CAFile: s.CAFile}
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return out, fmt.Errorf("cannot read: %w", err)
		}
		out.Password, _, _ = strings.Cut(strings.TrimRight(string(b), "\r\n"), "\n")
		out.Password = strings.TrimRight(out.Password, "\r")
	}
	return out.WithDefaults(), nil
}

// MailEnabled reports whether smtp is configured.
func (c Config) MailEnabled() bool { return c.SMTP.Host != "" }

func (c Config) accountsProblems(add func(key, format string, args ...any)) {
	if c.SMTP.Password != "" && c.SMTP.PasswordFile != "" {
		add("smtp.password_file", "set either password or password_file, not both")
	}
	mc, err := c.mailConfig()
	if err != nil {
		add("smtp.password_file", "%v", err)
	}
	mc.Problems(func(key, msg string) { add("smtp."+key, "%s", msg) })
	a := c.Accounts
	if a.ResetLinkTTL < Duration(5*time.Minute) || a.ResetLinkTTL > Duration(24*time.Hour) {
		add("accounts.reset_link_ttl", "must be between 5m and 24h")
	}
	if a.VerifyLinkTTL < Duration(5*time.Minute) || a.VerifyLinkTTL > Duration(7*24*time.Hour) {
		add("accounts.verify_link_ttl", "must be between 5m and 168h")
	}
	if a.InviteLinkTTL < Duration(time.Hour) || a.InviteLinkTTL > Duration(7*24*time.Hour) {
		add("accounts.invite_link_ttl", "must be between 1h and 168h")
	}
	switch c.Registration.Users {
	case UsersClosed, "":
	case UsersInvite, UsersOpen:
		if !c.MailEnabled() {
			add("registration.users", "%s needs mail (smtp.host): links are mailed", c.Registration.Users)
		}
	default:
		add("registration.users", "must be closed, invite or open, got %q", c.Registration.Users)
	}
	if a.ResetMailsPerHour < 1 || a.ResetMailsPerHour > 100 {
		add("accounts.reset_mails_per_hour", "must be between 1 and 100")
	}
}

// mailer queues mails in the outbox (sealed under the KEK) and tells the
// Delivery grain: auth.Mailer.
type mailer struct{ n *Node }

func (m mailer) Mail(ctx context.Context, mail *email.Mail, target string) error {
	id, err := email.Enqueue(ctx, m.n.store, m.n.kek, mail, target, m.n.now())
	if err != nil {
		return err
	}
	go m.n.kickDelivery(context.WithoutCancel(ctx), []string{id})
	return nil
}

// mailHandler is the outbox's handler of email messages (nil without smtp).
func (n *Node) mailHandler() (*email.Handler, error) {
	if !n.cfg.MailEnabled() {
		return nil, nil
	}
	mc, err := n.cfg.mailConfig()
	if err != nil {
		return nil, fmt.Errorf("smtp.password_file: %w", err)
	}
	s, err := email.NewSender(mc)
	if err != nil {
		return nil, err
	}
	return &email.Handler{Sender: s, Sealer: n.kek, Issuer: n.cfg.Issuer, Now: n.now}, nil
}

// verifier mails email verification links: auth.EmailVerifier and
// management.EmailVerifier.
type verifier struct{ n *Node }

// SendVerification issues a verify_email link for subject's current
// address and queues the mail; it returns the address.
func (v verifier) SendVerification(ctx context.Context, subject, lang string) (string, error) {
	n := v.n
	if !n.cfg.MailEnabled() {
		return "", errNoMail
	}
	u, err := n.dir.User(ctx, subject)
	if err != nil {
		return "", err
	}
	addr, _ := u.Claims["email"].(string)
	m := &email.Mail{To: addr, Lang: lang, Template: email.VerifyEmail}
	if addr == "" || m.Check() != nil {
		return "", errNoAddress
	}
	ttl := n.cfg.Accounts.VerifyLinkTTL.D()
	tok, _, err := n.dir.IssueActionToken(ctx, directory.PurposeVerifyEmail, u.Subject, addr, ttl)
	if err != nil {
		return "", err
	}
	m.Data = map[string]string{
		"Link":     strings.TrimSuffix(n.cfg.Issuer, "/") + auth.VerifyEmailPath + "?token=" + tok,
		"Username": u.Username, "Email": addr, "TTL": auth.DurationText(lang, ttl),
	}
	if err := (mailer{n}).Mail(ctx, m, u.Subject); err != nil {
		return "", err
	}
	n.logger.InfoContext(ctx, "email verification link mailed", "audit", true, "sub", u.Subject)
	return addr, nil
}

var (
	errNoMail    = fmt.Errorf("%w: no mail is configured (smtp.host)", directory.ErrInvalid)
	errNoAddress = fmt.Errorf("%w: the user has no email address to verify", directory.ErrInvalid)
)

// inviter invites people by email: management.Inviter.
type inviter struct{ n *Node }

// Invite creates the account of addr (named username, or addr when
// empty) with an unverified address and a password nobody knows, and
// mails an invitation link (an action token) where its owner chooses
// the password; using the link verifies the address.
func (v inviter) Invite(ctx context.Context, addr, username, lang string) (directory.User, error) {
	n := v.n
	if !n.cfg.invitations() || !n.cfg.MailEnabled() {
		return directory.User{}, errNoInvites
	}
	m := &email.Mail{To: addr, Lang: lang, Template: email.Invite}
	if addr == "" || m.Check() != nil {
		return directory.User{}, fmt.Errorf("%w: email must be a plain address (name@example.com)", directory.ErrInvalid)
	}
	if username == "" {
		username = addr
	}
	// A password nobody knows until the link sets one.
	placeholder := make([]byte, 32)
	if _, err := rand.Read(placeholder); err != nil {
		return directory.User{}, err
	}
	u, err := n.dir.CreateUser(ctx, directory.NewUser{Username: username, Password: base64.RawURLEncoding.EncodeToString(placeholder),
		Claims: map[string]any{"email": addr, "email_verified": false}})
	if err != nil {
		return directory.User{}, err
	}
	ttl := n.cfg.Accounts.InviteLinkTTL.D()
	tok, _, err := n.dir.IssueActionToken(ctx, directory.PurposeInvite, u.Subject, addr, ttl)
	if err != nil {
		return u, err
	}
	m.Data = map[string]string{
		"Link":     strings.TrimSuffix(n.cfg.Issuer, "/") + auth.InvitePath + "?token=" + tok,
		"Username": u.Username, "Email": addr, "TTL": auth.DurationText(lang, ttl),
	}
	if err := (mailer{n}).Mail(ctx, m, u.Subject); err != nil {
		return u, err
	}
	n.logger.InfoContext(ctx, "user invited", "audit", true, "sub", u.Subject, "username", u.Username)
	return u, nil
}

var errNoInvites = fmt.Errorf("%w: invitations are off: set registration.users to invite (and smtp)", directory.ErrInvalid)
