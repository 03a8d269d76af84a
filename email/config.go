package email

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
)

// TLS modes (Config.TLS).
const (
	// StartTLS upgrades the connection with STARTTLS before anything else
	// is said (RFC 3207), and refuses a server that does not offer it.
	StartTLS = "starttls"
	// Implicit speaks TLS from the first byte (submissions, RFC 8314).
	Implicit = "implicit"
	// None sends in the clear: only to a loopback host.
	None = "none"
)

// Config says how to reach the SMTP submission server.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// From is the sender address (may carry a display name).
	From string
	// TLS is StartTLS (default), Implicit or None.
	TLS string
	// CAFile, when set, is the PEM file of the CA the server's
	// certificate must chain to, instead of the system roots.
	CAFile string
}

// Enabled reports whether mail is configured at all.
func (c Config) Enabled() bool { return c.Host != "" }

// WithDefaults fills the TLS mode and port.
func (c Config) WithDefaults() Config {
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case Implicit:
			c.Port = 465
		case None:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	return c
}

// Problems lists what is wrong with c (every problem, none when mail is
// not configured). add receives the config key under smtp and a message.
func (c Config) Problems(add func(key, msg string)) {
	if !c.Enabled() {
		if c.From != "" || c.Username != "" || c.Password != "" {
			add("host", "must be set when smtp is configured")
		}
		return
	}
	c = c.WithDefaults()
	if strings.ContainsAny(c.Host, " /:@\r\n") && net.ParseIP(c.Host) == nil {
		add("host", "must be a host name or address, without port")
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port", "must be between 1 and 65535")
	}
	switch c.TLS {
	case StartTLS, Implicit:
	case None:
		if !Loopback(c.Host) {
			add("tls", "none is only allowed for a loopback host (credentials and links would cross the network in the clear)")
		}
	default:
		add("tls", "must be starttls, implicit or none")
	}
	if c.From == "" {
		add("from", "must be set")
	} else if a, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		add("from", "is not an email address")
	} else if !strings.Contains(a.Address, "@") {
		add("from", "is not an email address")
	}
	if (c.Username == "") != (c.Password == "") {
		add("username", "username and password go together")
	}
	if c.CAFile != "" {
		if _, err := c.roots(); err != nil {
			add("ca_file", err.Error())
		}
	}
}

// Loopback reports whether host names this machine only.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) roots() (*x509.CertPool, error) {
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("holds no PEM certificate")
	}
	return p, nil
}

// tlsConfig verifies the server's certificate for Host (against CAFile
// when set, else the system roots).
func (c Config) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		p, err := c.roots()
		if err != nil {
			return nil, fmt.Errorf("email: smtp.ca_file %w", err)
		}
		t.RootCAs = p
	}
	return t, nil
}
