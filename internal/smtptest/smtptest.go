// Package smtptest is a real SMTP server for tests (go-smtp's server on
// a loopback listener): it receives the node's mails over STARTTLS,
// implicit TLS or plain SMTP, checks the sender's credentials, can
// refuse messages with a chosen reply, and lets tests read what it
// received (the text and HTML parts, the links in them).
//
// It is a receiving side only; it must not be used outside tests.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"authrim/internal/eventually"
	"authrim/internal/testca"
)

// TLS modes of the server, as the sender's smtp.tls names them.
const (
	StartTLS = "starttls"
	Implicit = "implicit"
	None     = "none"
)

// Options shape the server.
type Options struct {
	// TLS is StartTLS (default), Implicit or None.
	TLS string
	// CA issues the server's certificate (a new one when nil).
	CA *testca.CA
	// Username and Password, when set, are the only credentials AUTH
	// PLAIN accepts; mail is then refused without them.
	Username, Password string
}

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	// Raw is the message as the DATA command carried it.
	Raw []byte
	// TLS says whether the connection was encrypted when it came.
	TLS bool
	// User is the authenticated username ("" without AUTH).
	User string
}

// Server is a running test SMTP server.
type Server struct {
	// Host and Port are where it listens (127.0.0.1).
	Host string
	Port int
	// CA issued its certificate: the sender's trust (CAFile writes it).
	CA *testca.CA

	opts Options
	srv  *smtp.Server

	mu     sync.Mutex
	mails  []Mail
	refuse []*smtp.SMTPError
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = StartTLS
	}
	if opts.CA == nil {
		opts.CA = testca.New(t)
	}
	s := &Server{CA: opts.CA, opts: opts}
	leaf := opts.CA.Issue(t)
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = quiet{}
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.MaxRecipients = 10
	var ln net.Listener
	switch opts.TLS {
	case StartTLS:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case Implicit:
		ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	case None:
		s.srv.AllowInsecureAuth = true
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	default:
		t.Fatalf("smtptest: unknown TLS mode %q", opts.TLS)
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// CAFile writes the CA's certificate into dir and returns its path (the
// sender's smtp.ca_file).
func (s *Server) CAFile(t testing.TB, dir string) string {
	t.Helper()
	p := dir + "/smtp-ca.pem"
	testca.WriteFile(t, p, s.CA.CertPEM())
	return p
}

// Refuse makes the next messages' DATA get these replies, one each, in
// order (e.g. 451 then 451: two temporary failures; 550: a refusal).
func (s *Server) Refuse(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range codes {
		s.refuse = append(s.refuse, &smtp.SMTPError{
			Code: c, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "refused by the test (" + strconv.Itoa(c) + ")",
		})
	}
}

// Mails returns what was received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait waits until n mails were received and returns them.
func (s *Server) Wait(t testing.TB, n int) []Mail {
	t.Helper()
	eventually.True(t, "mails received", func() bool { return len(s.Mails()) >= n })
	return s.Mails()
}

// WaitTo waits for a mail to addr and returns the last one.
func (s *Server) WaitTo(t testing.TB, addr string) Mail {
	t.Helper()
	var got Mail
	eventually.True(t, "a mail to "+addr, func() bool {
		for _, m := range s.Mails() {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					got = m
				}
			}
		}
		return got.Raw != nil
	})
	return got
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if se.s.opts.Username == "" || username != se.s.opts.Username || password != se.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		se.user = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if len(se.s.refuse) > 0 {
		e := se.s.refuse[0]
		se.s.refuse = se.s.refuse[1:]
		return e
	}
	_, isTLS := se.c.TLSConnectionState()
	se.s.mails = append(se.s.mails, Mail{From: se.from, To: append([]string(nil), se.to...), Raw: b, TLS: isTLS, User: se.user})
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}

// Header returns a header of the mail, decoded (RFC 2047).
func (m Mail) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Part returns the decoded body of the mail's part of this media type
// (text/plain, text/html), from a multipart/alternative message.
func (m Mail) Part(mediaType string) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return "", err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return "", errors.New("smtptest: not a multipart message: " + mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return "", errors.New("smtptest: no " + mediaType + " part")
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt != mediaType {
			continue
		}
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		return string(b), err
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first link of the text part that contains substr.
func (m Mail) Link(t testing.TB, substr string) string {
	t.Helper()
	text, err := m.Part("text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range linkRE.FindAllString(text, -1) {
		if strings.Contains(l, substr) {
			return l
		}
	}
	t.Fatalf("smtptest: no link with %q in the mail:\n%s", substr, text)
	return ""
}
