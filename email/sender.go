package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"authrim/actors/delivery"
)

// Sender submits messages to the configured SMTP server, one connection
// per message (mails are rare: a reset, a verification).
type Sender struct {
	cfg Config
	tls *tls.Config
	// from is the envelope sender (From without its display name).
	from string
}

// NewSender checks cfg and loads its trust.
func NewSender(cfg Config) (*Sender, error) {
	cfg = cfg.WithDefaults()
	var problems []string
	cfg.Problems(func(key, msg string) { problems = append(problems, "smtp."+key+": "+msg) })
	if !cfg.Enabled() {
		problems = append(problems, "smtp.host: not set")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("email: %v", problems)
	}
	t, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	a, _ := mail.ParseAddress(cfg.From)
	return &Sender{cfg: cfg, tls: t, from: a.Address}, nil
}

// From is the From header value.
func (s *Sender) From() string { return s.cfg.From }

// Send submits msg (a whole RFC 5322 message) to one recipient. An
// error wrapped with delivery.Permanent means the server refused it for
// good (5xx); any other is worth retrying.
func (s *Sender) Send(ctx context.Context, to string, msg []byte) error {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("email: connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	var c *smtp.Client
	switch s.cfg.TLS {
	case Implicit:
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("email: tls: %w", err)
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		// NewClientStartTLS refuses a server without STARTTLS: no
		// silent fall back to the clear.
		c, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil {
			conn.Close()
			return classify("starttls", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return classify("auth", err)
		}
	}
	if err := c.SendMail(s.from, []string{to}, bytes.NewReader(msg)); err != nil {
		return classify("send", err)
	}
	_ = c.Quit()
	return nil
}

// classify marks the server's 5xx replies permanent (RFC 5321 §4.2.1).
func classify(step string, err error) error {
	err = fmt.Errorf("email: %s: %w", step, err)
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return delivery.Permanent(err)
	}
	return err
}
