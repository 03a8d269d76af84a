package ldap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// DefaultTimeout bounds one Authenticate call (dial, TLS, binds and
// searches together) when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config is the connector's settings, as the ldap section of config.yaml
// holds them. Validate reports every problem at once; New validates too.
type Config struct {
	// URL is ldaps://host[:port] (TLS from the first byte) or
	// ldap://host[:port] (with StartTLS, or plaintext on loopback only).
	URL string `yaml:"url" json:"url,omitempty"`
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool `yaml:"start_tls" json:"start_tls,omitempty"`
	// CAFile holds the PEM certificates that the server's chain must
	// lead to; the system roots when empty.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// InsecureNoTLS allows an ldap:// URL without StartTLS. It is refused
	// unless the URL's host is loopback (localhost, 127.0.0.0/8, ::1):
	// passwords would otherwise cross the network in the clear.
	InsecureNoTLS bool `yaml:"insecure_no_tls" json:"insecure_no_tls,omitempty"`
	// Timeout bounds one sign-in attempt (DefaultTimeout when zero).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`

	// BindDN and BindPassword (or BindPasswordFile, a file holding it,
	// or BindPasswordEnv, the name of an environment variable holding
	// it: exactly one of the three) are the service account that
	// searches the directory.
	BindDN           string `yaml:"bind_dn" json:"bind_dn,omitempty"`
	BindPassword     string `yaml:"bind_password" json:"bind_password,omitempty"`
	BindPasswordFile string `yaml:"bind_password_file" json:"bind_password_file,omitempty"`
	BindPasswordEnv  string `yaml:"bind_password_env" json:"bind_password_env,omitempty"`

	// UserBase is where users are searched (whole subtree).
	UserBase string `yaml:"user_base" json:"user_base,omitempty"`
	// UserFilter narrows the search (default "(objectClass=person)"); the
	// connector ANDs it with (UsernameAttribute=<escaped sign-in name>).
	UserFilter string `yaml:"user_filter" json:"user_filter,omitempty"`
	// UsernameAttribute is the attribute that the sign-in name must
	// equal (default uid; sAMAccountName on Active Directory).
	UsernameAttribute string `yaml:"username_attribute" json:"username_attribute,omitempty"`

	// Attributes name what the Identity is read from.
	Attributes Attributes `yaml:"attributes" json:"attributes,omitempty"`
	// EmailVerified says whether the directory's email addresses are
	// trusted as verified (default false).
	EmailVerified bool `yaml:"email_verified" json:"email_verified,omitempty"`

	// GroupBase, when set, turns on the group search: entries under it
	// that match GroupFilter and whose GroupMemberAttribute holds the user
	// (their DN, or their username when GroupMemberValue is "username",
	// as posixGroup's memberUid does) give their GroupNameAttribute.
	GroupBase            string `yaml:"group_base" json:"group_base,omitempty"`
	GroupFilter          string `yaml:"group_filter" json:"group_filter,omitempty"`
	GroupMemberAttribute string `yaml:"group_member_attribute" json:"group_member_attribute,omitempty"`
	GroupMemberValue     string `yaml:"group_member_value" json:"group_member_value,omitempty"`
	GroupNameAttribute   string `yaml:"group_name_attribute" json:"group_name_attribute,omitempty"`
}

// Attributes map directory attributes to the Identity's fields.
type Attributes struct {
	// Subject is the stable, never reassigned identifier (default
	// entryUUID; objectGUID on Active Directory, which is binary and is
	// then base64url-encoded).
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Username is what the user is called (default: UsernameAttribute).
	Username string `yaml:"username" json:"username,omitempty"`
	// Email (default mail) and Name (default cn); empty turns them off
	// only when set to "-".
	Email string `yaml:"email" json:"email,omitempty"`
	Name  string `yaml:"name" json:"name,omitempty"`
	// Groups, when set, is an attribute of the user entry listing group
	// DNs (memberOf); each gives its first RDN's value.
	Groups string `yaml:"groups" json:"groups,omitempty"`
}

// Group member values.
const (
	MemberDN       = "dn"
	MemberUsername = "username"
)

// LogValue keeps the bind password out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL), slog.Bool("start_tls", c.StartTLS),
		slog.String("bind_dn", c.BindDN), slog.String("user_base", c.UserBase),
		slog.String("group_base", c.GroupBase))
}

// withDefaults fills what an operator may leave out.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UserFilter == "" {
		c.UserFilter = "(objectClass=person)"
	}
	if c.UsernameAttribute == "" {
		c.UsernameAttribute = "uid"
	}
	if c.Attributes.Subject == "" {
		c.Attributes.Subject = "entryUUID"
	}
	if c.Attributes.Username == "" {
		c.Attributes.Username = c.UsernameAttribute
	}
	if c.Attributes.Email == "" {
		c.Attributes.Email = "mail"
	}
	if c.Attributes.Name == "" {
		c.Attributes.Name = "cn"
	}
	if c.GroupBase != "" {
		if c.GroupFilter == "" {
			c.GroupFilter = "(objectClass=groupOfNames)"
		}
		if c.GroupMemberAttribute == "" {
			c.GroupMemberAttribute = "member"
		}
		if c.GroupMemberValue == "" {
			c.GroupMemberValue = MemberDN
		}
		if c.GroupNameAttribute == "" {
			c.GroupNameAttribute = "cn"
		}
	}
	return c
}

// Validate reports every problem of the configuration at once. It reads
// no file and opens no connection.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ldap: "+format, args...))
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url is required (ldaps://host:636, or ldap://host:389 with start_tls: true)")
	case err != nil:
		bad("url %q does not parse: %v", c.URL, err)
	case u.Scheme != "ldaps" && u.Scheme != "ldap":
		bad("url %q: the scheme must be ldaps or ldap", c.URL)
	case u.Hostname() == "":
		bad("url %q names no host", c.URL)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		bad("url %q: only scheme, host and port are allowed (put the base DN in user_base)", c.URL)
	case u.Port() != "" && !validPort(u.Port()):
		bad("url %q: port %q is not a port number", c.URL, u.Port())
	case u.Scheme == "ldaps" && c.StartTLS:
		bad("url %q is ldaps:// (TLS already): start_tls applies to ldap:// only", c.URL)
	case u.Scheme == "ldaps" && c.InsecureNoTLS:
		bad("url %q is ldaps://: insecure_no_tls contradicts it", c.URL)
	case u.Scheme == "ldap" && c.StartTLS && c.InsecureNoTLS:
		bad("start_tls and insecure_no_tls contradict each other")
	case u.Scheme == "ldap" && !c.StartTLS && !c.InsecureNoTLS:
		bad("url %q is plaintext: use ldaps://, or set start_tls: true (insecure_no_tls: true is allowed for a loopback host only)", c.URL)
	case u.Scheme == "ldap" && c.InsecureNoTLS && !Loopback(u.Hostname()):
		bad("url %q: insecure_no_tls is allowed only for a loopback host (localhost, 127.0.0.0/8, ::1); passwords would cross the network in the clear", c.URL)
	}
	if c.InsecureNoTLS && c.CAFile != "" {
		bad("ca_file is set but insecure_no_tls turns TLS off")
	}
	if c.Timeout < 0 {
		bad("timeout %s is negative", c.Timeout)
	}
	if c.BindDN == "" {
		bad("bind_dn is required (the service account that searches for users)")
	} else if _, err := goldap.ParseDN(c.BindDN); err != nil {
		bad("bind_dn %q is not a DN: %v", c.BindDN, err)
	}
	n := 0
	for _, s := range []string{c.BindPassword, c.BindPasswordFile, c.BindPasswordEnv} {
		if s != "" {
			n++
		}
	}
	switch {
	case n > 1:
		bad("set only one of bind_password, bind_password_file and bind_password_env")
	case n == 0:
		bad("bind_password, bind_password_file or bind_password_env is required (an empty password is an unauthenticated bind)")
	}
	checkDN := func(key, v string, required bool) {
		if v == "" {
			if required {
				bad("%s is required", key)
			}
			return
		}
		if _, err := goldap.ParseDN(v); err != nil {
			bad("%s %q is not a DN: %v", key, v, err)
		}
	}
	checkDN("user_base", c.UserBase, true)
	checkFilter := func(key, v string) {
		if _, err := goldap.CompileFilter(v); err != nil {
			bad("%s %q is not an LDAP filter (RFC 4515; it must be in parentheses): %v", key, v, err)
		}
	}
	checkFilter("user_filter", c.UserFilter)
	checkAttr := func(key, v string) {
		if !validAttr(v) {
			bad("%s %q is not an attribute name", key, v)
		}
	}
	checkAttr("username_attribute", c.UsernameAttribute)
	checkAttr("attributes.subject", c.Attributes.Subject)
	checkAttr("attributes.username", c.Attributes.Username)
	if c.Attributes.Email != "-" {
		checkAttr("attributes.email", c.Attributes.Email)
	}
	if c.Attributes.Name != "-" {
		checkAttr("attributes.name", c.Attributes.Name)
	}
	if c.Attributes.Groups != "" {
		checkAttr("attributes.groups", c.Attributes.Groups)
	}
	if c.GroupBase == "" {
		if c.GroupFilter != "" || c.GroupMemberAttribute != "" || c.GroupMemberValue != "" || c.GroupNameAttribute != "" {
			bad("group_filter, group_member_attribute, group_member_value and group_name_attribute need group_base")
		}
	} else {
		checkDN("group_base", c.GroupBase, true)
		checkFilter("group_filter", c.GroupFilter)
		checkAttr("group_member_attribute", c.GroupMemberAttribute)
		checkAttr("group_name_attribute", c.GroupNameAttribute)
		if c.GroupMemberValue != MemberDN && c.GroupMemberValue != MemberUsername {
			bad("group_member_value %q must be dn or username", c.GroupMemberValue)
		}
	}
	return errors.Join(errs...)
}

// Loopback reports whether host (a URL's Hostname) is this machine
// without asking DNS: "localhost" or a literal loopback address. A name
// that merely resolves to 127.0.0.1 does not count: its resolution can
// change.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n > 0 && n < 65536
}

// validAttr accepts an attribute description's name (RFC 4512 §1.4
// descr, or a numeric OID) with options (";binary").
func validAttr(a string) bool {
	if a == "" || len(a) > 128 {
		return false
	}
	name, _, _ := strings.Cut(a, ";")
	if name == "" {
		return false
	}
	if name[0] >= '0' && name[0] <= '9' {
		for _, r := range name {
			if (r < '0' || r > '9') && r != '.' {
				return false
			}
		}
		return true
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == ';') {
			return false
		}
	}
	return true
}

// hostPort is the address to dial: the URL's port, or the scheme's.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
