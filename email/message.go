package email

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	texttemplate "text/template"
	"time"

	"authrim/internal/i18n"
)

// Templates of the mails (Mail.Template).
const (
	ResetPassword = "reset_password"
	VerifyEmail   = "verify_email"
	Invite        = "invite"
)

// Mail is what is to be sent, before rendering: the sealed payload of
// an outbox message.
type Mail struct {
	To string `json:"to"`
	// Lang is the language the mail is written in (i18n.T).
	Lang string `json:"lang"`
	// Template names the mail (ResetPassword, VerifyEmail, Invite).
	Template string `json:"template"`
	// Data fills the template (Link, Username, Email, TTL).
	Data map[string]string `json:"data"`
	// Discard marks a mail queued only so that a request for an account
	// that does not exist does the same work as one for an account that
	// does (no enumeration through the forgot-password page): the
	// handler drops it without connecting to anything.
	Discard bool `json:"discard,omitempty"`
}

// ErrTemplate: the Mail names no known template, or does not render.
var ErrTemplate = errors.New("email: unknown or broken template")

//go:embed templates
var templateFS embed.FS

// set is one mail's templates: text defines "subject" and "body", html
// the "layout" around its "body".
type set struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var templates = map[string]set{}

func init() {
	// T is replaced per rendering by the mail's language.
	t := func(key string, args ...any) string { return i18n.T(i18n.Default, key, args...) }
	for _, name := range []string{ResetPassword, VerifyEmail, Invite} {
		templates[name] = set{
			text: texttemplate.Must(texttemplate.New(name).Funcs(texttemplate.FuncMap{"T": t}).
				ParseFS(templateFS, "templates/"+name+".txt")),
			html: htmltemplate.Must(htmltemplate.New(name).Funcs(htmltemplate.FuncMap{"T": t}).
				ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")),
		}
	}
}

// Check reports whether m can be rendered (a known template, a plain
// address), before it is queued.
func (m *Mail) Check() error {
	if _, ok := templates[m.Template]; !ok {
		return fmt.Errorf("%w: %q", ErrTemplate, m.Template)
	}
	if m.Discard {
		return nil
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Name != "" || a.Address != m.To {
		return fmt.Errorf("email: not a plain address: %q", m.To)
	}
	return nil
}

// Render writes m as an RFC 5322 message: headers, then a
// multipart/alternative body (RFC 2046 §5.1.4) with a text part and an
// HTML part, in m.Lang. id (the outbox message id) makes the
// Message-ID: a mail sent again after a member died carries the same.
func (m *Mail) Render(from, issuer, id string, now time.Time) ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	lang := m.Lang
	if lang == "" {
		lang = i18n.Default
	}
	tr := func(key string, args ...any) string { return i18n.T(lang, key, args...) }
	ts := templates[m.Template]
	txt, err := ts.text.Clone()
	if err != nil {
		return nil, err
	}
	txt.Funcs(texttemplate.FuncMap{"T": tr})
	html, err := ts.html.Clone()
	if err != nil {
		return nil, err
	}
	html.Funcs(htmltemplate.FuncMap{"T": tr})
	var subject, text, page bytes.Buffer
	if err := txt.ExecuteTemplate(&subject, "subject", m.Data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	if err := txt.ExecuteTemplate(&text, "body", m.Data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	subj := strings.Join(strings.Fields(subject.String()), " ")
	if err := html.ExecuteTemplate(&page, "layout", map[string]any{
		"Lang": lang, "Subject": subj, "Issuer": issuer, "Data": m.Data,
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}

	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	domain := "localhost"
	if a, err := mail.ParseAddress(from); err == nil {
		domain = a.Address[strings.LastIndex(a.Address, "@")+1:]
	}
	hdr := []struct{ k, v string }{
		{"From", from},
		{"To", m.To},
		{"Subject", mime.QEncoding.Encode("utf-8", subj)},
		{"Date", now.UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + id + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Language", lang},
		// RFC 3834 §5: no auto-replies to this.
		{"Auto-Submitted", "auto-generated"},
		{"Content-Type", "multipart/alternative; boundary=" + mw.Boundary()},
	}
	var head bytes.Buffer
	for _, h := range hdr {
		if strings.ContainsAny(h.v, "\r\n") {
			return nil, fmt.Errorf("email: line break in header %s", h.k)
		}
		head.WriteString(h.k + ": " + h.v + "\r\n")
	}
	head.WriteString("\r\n")
	for _, p := range []struct{ ct, body string }{
		{"text/plain; charset=utf-8", text.String()},
		{"text/html; charset=utf-8", page.String()},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(strings.TrimLeft(p.body, "\n"), "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), out.Bytes()...), nil
}
