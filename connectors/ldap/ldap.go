package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// ErrInvalidCredentials is the one answer for a wrong password, an
// unknown username, a username that matches several entries and an
// empty password: the caller (and so an attacker) cannot tell them apart.
var ErrInvalidCredentials = errors.New("ldap: invalid username or password")

// Limits on what a sign-in form may send; longer input is refused before
// the directory sees it.
const (
	maxUsername = 256
	maxPassword = 1024
)

// Identity is what the directory says about a user who proved their
// password.
type Identity struct {
	// Subject is the stable identifier (attributes.subject).
	Subject string
	// Username is the directory's spelling of the sign-in name.
	Username string
	Email    string
	// EmailVerified is the configuration's email_verified.
	EmailVerified bool
	Name          string
	// Groups are group names, sorted, without duplicates.
	Groups []string
	// DN is the user's entry.
	DN string
}

// Connector signs users in against one directory. It holds no
// connection: each Authenticate dials, and closes when done. It is safe
// for concurrent use.
type Connector struct {
	cfg          Config
	url          *url.URL
	tls          *tls.Config // nil when insecure_no_tls
	bindPassword string
	attrs        []string
}

// New validates cfg, reads its ca_file and bind_password_file (or
// bind_password_env) and
// returns a connector. It opens no connection.
func New(cfg Config) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, _ := url.Parse(cfg.URL) // Validate parsed it
	c := &Connector{cfg: cfg, url: u, bindPassword: cfg.BindPassword}
	if cfg.BindPasswordFile != "" {
		b, err := os.ReadFile(cfg.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: bind_password_file: %w", err)
		}
		c.bindPassword = strings.TrimRight(string(b), "\r\n")
		if c.bindPassword == "" {
			return nil, fmt.Errorf("ldap: bind_password_file %s is empty (an empty password is an unauthenticated bind)", cfg.BindPasswordFile)
		}
	}
	if cfg.BindPasswordEnv != "" {
		c.bindPassword = os.Getenv(cfg.BindPasswordEnv)
		if c.bindPassword == "" {
			return nil, fmt.Errorf("ldap: bind_password_env: %s is not set (an empty password is an unauthenticated bind)", cfg.BindPasswordEnv)
		}
	}
	if !cfg.InsecureNoTLS {
		c.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ldap: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ldap: ca_file %s holds no PEM certificate", cfg.CAFile)
			}
			c.tls.RootCAs = pool
		}
	}
	for _, a := range []string{cfg.Attributes.Subject, cfg.Attributes.Username, cfg.Attributes.Email, cfg.Attributes.Name, cfg.Attributes.Groups} {
		if a != "" && a != "-" && !slices.Contains(c.attrs, a) {
			c.attrs = append(c.attrs, a)
		}
	}
	return c, nil
}

// Authenticate checks username and password against the directory: it
// binds as the service account, finds exactly one user entry whose
// username attribute equals username, binds as that entry with password,
// then reads the user's attributes and groups. The whole exchange is
// bounded by the configured timeout and by ctx.
func (c *Connector) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	// A simple bind with a DN and no password is an "unauthenticated
	// bind" (RFC 4513 §5.1.2) that many servers answer with success:
	// never send one.
	if password == "" || username == "" || len(username) > maxUsername || len(password) > maxPassword ||
		!utf8.ValidString(username) {
		return Identity{}, ErrInvalidCredentials
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, stop, err := c.connect(ctx)
	if err != nil {
		return Identity{}, c.fail(ctx, "connect", err)
	}
	defer stop()

	if err := conn.Bind(c.cfg.BindDN, c.bindPassword); err != nil {
		// Invalid credentials here are the operator's, not the user's.
		return Identity{}, c.fail(ctx, "service account bind", err)
	}
	entry, err := c.findUser(conn, username)
	if err != nil {
		return Identity{}, c.fail(ctx, "user search", err)
	}
	if err := conn.Bind(entry.DN, password); err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return Identity{}, ErrInvalidCredentials
		}
		return Identity{}, c.fail(ctx, "user bind", err)
	}
	id, err := c.identity(entry)
	if err != nil {
		return Identity{}, err
	}
	if c.cfg.GroupBase != "" {
		// Search groups as the service account: the directory's rules
		// may not let users read groups.
		if err := conn.Bind(c.cfg.BindDN, c.bindPassword); err != nil {
			return Identity{}, c.fail(ctx, "service account bind", err)
		}
		groups, err := c.searchGroups(conn, id)
		if err != nil {
			return Identity{}, c.fail(ctx, "group search", err)
		}
		id.Groups = append(id.Groups, groups...)
	}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	return id, nil
}

// fail wraps err, naming the step, and says whether the time ran out.
func (c *Connector) fail(ctx context.Context, step string, err error) error {
	if errors.Is(err, ErrInvalidCredentials) {
		return err
	}
	if cerr := ctxErr(ctx); cerr != nil {
		return fmt.Errorf("ldap: %s: %w: %w", step, cerr, err)
	}
	return fmt.Errorf("ldap: %s: %w", step, err)
}

// ctxErr is ctx's error, also in the instant between the connection's
// deadline (ctx's) passing and ctx's own timer marking it done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// connect dials the server and sets up TLS. The connection's deadline
// is ctx's, and cancelling ctx ends it; stop closes it.
func (c *Connector) connect(ctx context.Context) (*goldap.Conn, func(), error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", hostPort(c.url))
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// Reads and writes in flight fail at once when ctx ends, TLS or not.
	release := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	nc, isTLS := raw, false
	if c.url.Scheme == "ldaps" {
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			release()
			_ = raw.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc, isTLS = tc, true
	}
	conn := goldap.NewConn(nc, isTLS)
	conn.Start()
	conn.SetTimeout(c.cfg.Timeout)
	stop := func() {
		release()
		_ = conn.Close()
	}
	if c.cfg.StartTLS {
		if err := conn.StartTLS(c.tls); err != nil {
			stop()
			return nil, nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, stop, nil
}

// userFilter is the search for username: the configured filter ANDed
// with an equality match whose value is escaped (RFC 4515 §3), so that
// "*", "(", ")" and "\" in a username are matched literally and can
// never widen the search or add terms to it.
func userFilter(base, attr, username string) string {
	return "(&" + base + "(" + attr + "=" + goldap.EscapeFilter(username) + "))"
}

func (c *Connector) findUser(conn *goldap.Conn, username string) (*goldap.Entry, error) {
	req := goldap.NewSearchRequest(c.cfg.UserBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, timeLimit(c.cfg.Timeout), false,
		userFilter(c.cfg.UserFilter, c.cfg.UsernameAttribute, username), c.attrs, nil)
	res, err := conn.Search(req)
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return nil, ErrInvalidCredentials // several entries
		}
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, ErrInvalidCredentials
	}
	return res.Entries[0], nil
}

func (c *Connector) identity(e *goldap.Entry) (Identity, error) {
	a := c.cfg.Attributes
	id := Identity{DN: e.DN, EmailVerified: c.cfg.EmailVerified}
	raw := e.GetRawAttributeValue(a.Subject)
	switch {
	case len(raw) == 0:
		return Identity{}, fmt.Errorf("ldap: user entry %s has no %s (attributes.subject)", e.DN, a.Subject)
	case utf8.Valid(raw):
		id.Subject = string(raw)
	default:
		// A binary identifier (Active Directory's objectGUID).
		id.Subject = base64.RawURLEncoding.EncodeToString(raw)
	}
	id.Username = e.GetAttributeValue(a.Username)
	if a.Email != "-" {
		id.Email = e.GetAttributeValue(a.Email)
	}
	if a.Name != "-" {
		id.Name = e.GetAttributeValue(a.Name)
	}
	if a.Groups != "" {
		for _, v := range e.GetAttributeValues(a.Groups) {
			id.Groups = append(id.Groups, groupName(v))
		}
	}
	return id, nil
}

// groupName is the value of a group DN's first RDN (cn=admins,ou=groups
// gives admins), or v itself when it is not a DN.
func groupName(v string) string {
	dn, err := goldap.ParseDN(v)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
		return v
	}
	return dn.RDNs[0].Attributes[0].Value
}

func (c *Connector) searchGroups(conn *goldap.Conn, id Identity) ([]string, error) {
	member := id.DN
	if c.cfg.GroupMemberValue == MemberUsername {
		member = id.Username
	}
	filter := "(&" + c.cfg.GroupFilter + "(" + c.cfg.GroupMemberAttribute + "=" + goldap.EscapeFilter(member) + "))"
	req := goldap.NewSearchRequest(c.cfg.GroupBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, timeLimit(c.cfg.Timeout), false, filter, []string{c.cfg.GroupNameAttribute}, nil)
	res, err := conn.Search(req)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range res.Entries {
		if n := e.GetAttributeValue(c.cfg.GroupNameAttribute); n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// timeLimit is the server-side search time limit in whole seconds (at
// least one; zero would mean none).
func timeLimit(d time.Duration) int {
	return max(1, int(d/time.Second))
}
