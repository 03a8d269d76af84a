package ldap

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"authrim/internal/slapdtest"
	"authrim/internal/testca"
)

// Transports to the test server.
const (
	viaStartTLS  = "starttls"
	viaLDAPS     = "ldaps"
	viaPlaintext = "plaintext"
)

// config points at s over the transport, as the service account, with
// the password in a file (ending in a newline, as editors leave it).
func config(t *testing.T, s *slapdtest.Server, via string) Config {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(pw, []byte(slapdtest.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{
		BindDN: slapdtest.ServiceDN, BindPasswordFile: pw,
		UserBase: slapdtest.BaseDN, UserFilter: "(objectClass=inetOrgPerson)",
	}
	switch via {
	case viaStartTLS:
		c.URL, c.StartTLS, c.CAFile = s.URL, true, s.CAFile(t)
	case viaLDAPS:
		c.URL, c.CAFile = s.LDAPSURL, s.CAFile(t)
	case viaPlaintext:
		c.URL, c.InsecureNoTLS = s.URL, true
	}
	return c
}

func connector(t *testing.T, c Config) *Connector {
	t.Helper()
	conn, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestAuthenticate: the right password gives the user's attributes, over
// each transport.
func TestAuthenticate(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	alice := slapdtest.Users["alice"]
	for _, via := range []string{viaStartTLS, viaLDAPS, viaPlaintext} {
		t.Run(via, func(t *testing.T) {
			c := config(t, s, via)
			c.EmailVerified = true
			// The sign-in name is matched as the directory matches uid:
			// without regard to case; the identity keeps the entry's own.
			id, err := connector(t, c).Authenticate(t.Context(), "Alice", alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{
				Subject: alice.EntryUUID, Username: "alice", Email: alice.Mail, EmailVerified: true,
				Name: alice.CN, DN: alice.DN,
			}
			if !equal(id, want) {
				t.Fatalf("identity\n got %+v\nwant %+v", id, want)
			}
		})
	}
}

func equal(a, b Identity) bool {
	return a.Subject == b.Subject && a.Username == b.Username && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name && a.DN == b.DN && slices.Equal(a.Groups, b.Groups)
}

// TestGroups: groups from a groupOfNames search, a posixGroup search by
// username, and the user's memberOf.
func TestGroups(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	tests := []struct {
		name string
		edit func(*Config)
		user string
		want []string
	}{
		{"groupOfNames", func(c *Config) { c.GroupBase = slapdtest.GroupBase }, "alice", []string{"admins", "staff"}},
		{"groupOfNames, one group", func(c *Config) { c.GroupBase = slapdtest.GroupBase }, "bob", []string{"staff"}},
		{"posixGroup", func(c *Config) {
			c.GroupBase, c.GroupFilter = slapdtest.GroupBase, "(objectClass=posixGroup)"
			c.GroupMemberAttribute, c.GroupMemberValue = "memberUid", MemberUsername
		}, "alice", []string{"developers"}},
		{"memberOf", func(c *Config) { c.Attributes.Groups = "memberOf" }, "alice", []string{"admins", "staff"}},
		{"memberOf and a search, merged", func(c *Config) {
			c.Attributes.Groups = "memberOf"
			c.GroupBase, c.GroupFilter = slapdtest.GroupBase, "(objectClass=posixGroup)"
			c.GroupMemberAttribute, c.GroupMemberValue = "memberUid", MemberUsername
		}, "alice", []string{"admins", "developers", "staff"}},
		{"none", func(c *Config) { c.GroupBase = slapdtest.GroupBase }, "o(brien)*", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(t, s, viaStartTLS)
			tt.edit(&c)
			u := slapdtest.Users[tt.user]
			id, err := connector(t, c).Authenticate(t.Context(), u.UID, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(id.Groups, tt.want) {
				t.Fatalf("groups = %q, want %q", id.Groups, tt.want)
			}
		})
	}
}

// TestAttributeMapping: other attributes fill the identity when
// configured; "-" turns email and name off.
func TestAttributeMapping(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	c := config(t, s, viaStartTLS)
	c.Attributes = Attributes{Subject: "mail", Username: "cn", Email: "-", Name: "-"}
	bob := slapdtest.Users["bob"]
	id, err := connector(t, c).Authenticate(t.Context(), "bob", bob.Password)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Subject: bob.Mail, Username: bob.CN, DN: bob.DN}
	if !equal(id, want) {
		t.Fatalf("identity\n got %+v\nwant %+v", id, want)
	}

	// An entry without the subject attribute is the directory's problem,
	// not a wrong password, and gives no identity.
	c.Attributes.Subject = "telephoneNumber"
	_, err = connector(t, c).Authenticate(t.Context(), "bob", bob.Password)
	if err == nil || errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "telephoneNumber") {
		t.Fatalf("entry without a subject: %v", err)
	}
}

// TestRefused: every failed sign-in gives the same ErrInvalidCredentials.
func TestRefused(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	conn := connector(t, config(t, s, viaStartTLS))
	alice := slapdtest.Users["alice"]
	tests := []struct{ name, user, password string }{
		{"wrong password", "alice", "wonderland-43"},
		{"another user's password", "alice", slapdtest.Users["bob"].Password},
		{"unknown user", "mallory", alice.Password},
		// Two entries with uid=carol: neither is chosen, even with the
		// password of one of them.
		{"several users", "carol", slapdtest.Users["carol"].Password},
		{"empty password", "alice", ""},
		{"empty username", "", alice.Password},
		{"the service account's DN as a username", slapdtest.ServiceDN, slapdtest.ServicePassword},
		{"username too long", strings.Repeat("a", maxUsername+1), alice.Password},
		{"username not UTF-8", "alice\xff", alice.Password},
		{"password too long", "alice", strings.Repeat("p", maxPassword+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := conn.Authenticate(t.Context(), tt.user, tt.password)
			if !errors.Is(err, ErrInvalidCredentials) || err != ErrInvalidCredentials {
				t.Fatalf("got %+v, %v; want ErrInvalidCredentials itself", id, err)
			}
			if id.Subject != "" {
				t.Fatalf("an identity came with the error: %+v", id)
			}
		})
	}
}

// TestEmptyPasswordNeverSent: a directory that takes a DN with an empty
// password as an anonymous bind (RFC 4513 §5.1.2; slapd with "allow
// bind_anon_dn", and many others) would let anyone in with the username
// alone: the connector must refuse before sending such a bind.
func TestEmptyPasswordNeverSent(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{AllowUnauthenticatedBind: true})
	alice := slapdtest.Users["alice"]

	// The attacker's move works against this server at the protocol level.
	raw, err := goldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.UnauthenticatedBind(alice.DN); err != nil {
		t.Fatalf("precondition: the server should accept an unauthenticated bind: %v", err)
	}

	conn := connector(t, config(t, s, viaStartTLS))
	if _, err := conn.Authenticate(t.Context(), "alice", ""); err != ErrInvalidCredentials {
		t.Fatalf("empty password: %v, want ErrInvalidCredentials", err)
	}

	// And the refusal comes before any connection: against an address
	// where nothing listens, it is still ErrInvalidCredentials, not a
	// dial error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := config(t, s, viaPlaintext)
	c.URL = "ldap://" + addr
	if _, err := connector(t, c).Authenticate(t.Context(), "alice", ""); err != ErrInvalidCredentials {
		t.Fatalf("empty password to a closed port: %v, want ErrInvalidCredentials before dialling", err)
	}
}

// TestFilterInjection: filter metacharacters in a username are matched
// literally (RFC 4515 escaping): they neither widen the search to other
// entries nor add terms to it, and a uid that really holds them signs in.
func TestFilterInjection(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	conn := connector(t, config(t, s, viaStartTLS))
	alice := slapdtest.Users["alice"]
	for _, user := range []string{
		"*",           // every entry (several: refused anyway)
		"al*",         // alice alone, by a wildcard: would sign in as alice unescaped
		"a*e",         // alice alone
		"alice*",      // alice alone
		"*)(uid=alic", // the filter would turn into (uid=*)(uid=alic...
		"*)(uid=*))(|(uid=*",
		"alice)(|(objectClass=*",
		"alice)(objectClass=*",
		"alice\x00",
		`alice\`,
		`alic\65`, // an escape typed by the user is text, not "e"
	} {
		t.Run(user, func(t *testing.T) {
			if _, err := conn.Authenticate(t.Context(), user, alice.Password); err != ErrInvalidCredentials {
				t.Fatalf("username %q with alice's password: %v, want ErrInvalidCredentials", user, err)
			}
		})
	}
	t.Run("a uid with metacharacters", func(t *testing.T) {
		u := slapdtest.Users["o(brien)*"]
		id, err := conn.Authenticate(t.Context(), u.UID, u.Password)
		if err != nil {
			t.Fatal(err)
		}
		if id.Username != u.UID || id.Subject != u.EntryUUID {
			t.Fatalf("identity %+v", id)
		}
		if _, err := conn.Authenticate(t.Context(), "o(brien)", u.Password); err != ErrInvalidCredentials {
			t.Fatalf("a prefix of the uid: %v", err)
		}
	})
}

// TestUntrustedServerCertificate: a server whose certificate does not
// lead to ca_file (or, without ca_file, to the system roots) is refused
// over StartTLS and LDAPS, before any password is sent.
func TestUntrustedServerCertificate(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	other := filepath.Join(t.TempDir(), "other-ca.pem")
	testca.WriteFile(t, other, testca.New(t).CertPEM())
	alice := slapdtest.Users["alice"]
	for _, via := range []string{viaStartTLS, viaLDAPS} {
		for _, caFile := range []string{other, ""} {
			name := via + "/system roots"
			if caFile != "" {
				name = via + "/another CA"
			}
			t.Run(name, func(t *testing.T) {
				c := config(t, s, via)
				c.CAFile = caFile
				_, err := connector(t, c).Authenticate(t.Context(), "alice", alice.Password)
				if err == nil || errors.Is(err, ErrInvalidCredentials) {
					t.Fatalf("got %v, want a certificate error", err)
				}
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) && !strings.Contains(err.Error(), "certificate signed by unknown authority") {
					t.Fatalf("got %v, want an unknown-authority error", err)
				}
			})
		}
	}
	t.Run("wrong host name", func(t *testing.T) {
		// The certificate names localhost and the loopback addresses; a
		// TLS config that checked no name would take it for any host.
		c := config(t, s, viaLDAPS)
		conn := connector(t, c)
		conn.tls.ServerName = "ldap.example.test"
		_, err := conn.Authenticate(t.Context(), "alice", alice.Password)
		var host x509.HostnameError
		if !errors.As(err, &host) {
			t.Fatalf("got %v, want a host name error", err)
		}
	})
}

// TestServiceAccountRefused: a wrong service password is the operator's
// error, never reported as the user's wrong password.
func TestServiceAccountRefused(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	c := config(t, s, viaStartTLS)
	c.BindPasswordFile, c.BindPassword = "", "not-the-service-password"
	_, err := connector(t, c).Authenticate(t.Context(), "alice", slapdtest.Users["alice"].Password)
	if err == nil || errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "service account bind") {
		t.Fatalf("got %v", err)
	}
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Fatalf("the LDAP cause is lost: %v", err)
	}
}

// TestTimeout: a server that accepts and never answers does not hold a
// sign-in longer than the timeout, nor past the caller's context.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- struct{}{}:
			default:
			}
			go func() { <-done; c.Close() }()
		}
	}()
	base := Config{
		URL: "ldap://" + l.Addr().String(), InsecureNoTLS: true,
		BindDN: slapdtest.ServiceDN, BindPassword: "x", UserBase: slapdtest.BaseDN,
	}
	for _, tt := range []struct {
		name string
		edit func(*Config)
	}{
		{"plaintext", func(*Config) {}},
		{"ldaps handshake", func(c *Config) {
			c.URL, c.InsecureNoTLS = "ldaps://"+l.Addr().String(), false
		}},
		{"StartTLS", func(c *Config) { c.InsecureNoTLS, c.StartTLS = false, true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.Timeout = 200 * time.Millisecond
			tt.edit(&c)
			_, err := connector(t, c).Authenticate(t.Context(), "alice", "pw")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want a deadline error", err)
			}
		})
	}
	t.Run("caller cancels", func(t *testing.T) {
		c := base
		c.Timeout = 1 << 62 // only the caller's context can end it
		ctx, cancel := context.WithCancel(t.Context())
		conn := connector(t, c)
		errc := make(chan error, 1)
		for len(accepted) > 0 {
			<-accepted
		}
		go func() {
			_, err := conn.Authenticate(ctx, "alice", "pw")
			errc <- err
		}()
		<-accepted // connected: the bind is waiting for an answer
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

// TestManyMatches: a search that matches more entries than the size
// limit lets through (here a username_attribute that many entries share)
// is refused like any ambiguous username, never as the first entry.
func TestManyMatches(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	c := config(t, s, viaStartTLS)
	c.UsernameAttribute = "objectClass"
	if _, err := connector(t, c).Authenticate(t.Context(), "inetOrgPerson", slapdtest.Users["alice"].Password); err != ErrInvalidCredentials {
		t.Fatalf("got %v, want ErrInvalidCredentials", err)
	}
}

// TestConcurrent: one connector serves sign-ins at the same time (each
// has its own connection).
func TestConcurrent(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	conn := connector(t, config(t, s, viaStartTLS))
	users := []string{"alice", "bob", "o(brien)*", "alice", "bob", "o(brien)*"}
	errc := make(chan error, len(users))
	for _, name := range users {
		go func() {
			u := slapdtest.Users[name]
			id, err := conn.Authenticate(t.Context(), u.UID, u.Password)
			if err == nil && id.Subject != u.EntryUUID {
				err = errors.New(name + " got " + id.Subject)
			}
			errc <- err
		}()
	}
	for range users {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
