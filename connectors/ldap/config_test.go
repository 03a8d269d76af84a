package ldap

import (
	"bytes"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	return Config{
		URL: "ldaps://ldap.example.test", BindDN: "cn=authrim,dc=example,dc=test", BindPassword: "s",
		UserBase: "ou=people,dc=example,dc=test",
	}
}

// TestValidate: each bad setting is refused with a message naming it;
// the transport rules keep passwords off the network in the clear.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" when valid
	}{
		{"ldaps", func(*Config) {}, ""},
		{"ldap with StartTLS", func(c *Config) { c.URL, c.StartTLS = "ldap://ldap.example.test:389", true }, ""},
		{"plaintext on 127.0.0.1", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://127.0.0.1:3389", true }, ""},
		{"plaintext on 127.1.2.3", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://127.1.2.3", true }, ""},
		{"plaintext on localhost", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://LocalHost:389", true }, ""},
		{"plaintext on ::1", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://[::1]:389", true }, ""},
		{"groups", func(c *Config) {
			c.GroupBase, c.GroupMemberValue = "ou=groups,dc=example,dc=test", MemberUsername
		}, ""},

		{"plaintext to a remote host", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://ldap.example.test", true }, "loopback"},
		{"plaintext to a private address", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://10.0.0.5", true }, "loopback"},
		{"plaintext to a name that looks local", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://localhost.example.test", true }, "loopback"},
		{"plaintext to ::ffff:10.0.0.5", func(c *Config) { c.URL, c.InsecureNoTLS = "ldap://[::ffff:10.0.0.5]", true }, "loopback"},
		{"plaintext on loopback without saying so", func(c *Config) { c.URL = "ldap://127.0.0.1" }, "start_tls"},
		{"plaintext without saying so", func(c *Config) { c.URL = "ldap://ldap.example.test" }, "plaintext"},
		{"ldaps and start_tls", func(c *Config) { c.StartTLS = true }, "start_tls applies to ldap:// only"},
		{"ldaps and insecure_no_tls", func(c *Config) { c.InsecureNoTLS = true }, "contradicts"},
		{"start_tls and insecure_no_tls", func(c *Config) { c.URL, c.StartTLS, c.InsecureNoTLS = "ldap://127.0.0.1", true, true }, "contradict"},
		{"ca_file without TLS", func(c *Config) { c.URL, c.InsecureNoTLS, c.CAFile = "ldap://127.0.0.1", true, "/ca.pem" }, "ca_file"},
		{"no url", func(c *Config) { c.URL = "" }, "url is required"},
		{"http url", func(c *Config) { c.URL = "https://ldap.example.test" }, "scheme"},
		{"url without host", func(c *Config) { c.URL = "ldaps:///dc=example" }, "no host"},
		{"url with a base DN", func(c *Config) { c.URL = "ldaps://ldap.example.test/dc=example,dc=test" }, "only scheme, host and port"},
		{"url with credentials", func(c *Config) { c.URL = "ldaps://u:p@ldap.example.test" }, "only scheme, host and port"},
		{"bad port", func(c *Config) { c.URL = "ldaps://ldap.example.test:70000" }, "port"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"no bind_dn", func(c *Config) { c.BindDN = "" }, "bind_dn is required"},
		{"bind_dn not a DN", func(c *Config) { c.BindDN = "authrim" }, "bind_dn"},
		{"no bind password", func(c *Config) { c.BindPassword = "" }, "unauthenticated bind"},
		{"both bind passwords", func(c *Config) { c.BindPasswordFile = "/x" }, "only one"},
		{"value and env bind passwords", func(c *Config) { c.BindPasswordEnv = "X" }, "only one"},
		{"no user_base", func(c *Config) { c.UserBase = "" }, "user_base is required"},
		{"user_filter without parentheses", func(c *Config) { c.UserFilter = "objectClass=person" }, "user_filter"},
		{"user_filter unbalanced", func(c *Config) { c.UserFilter = "(|(uid=a)" }, "user_filter"},
		{"attribute with a space", func(c *Config) { c.UsernameAttribute = "uid )" }, "username_attribute"},
		{"subject attribute", func(c *Config) { c.Attributes.Subject = "entry=UUID" }, "attributes.subject"},
		{"group settings without group_base", func(c *Config) { c.GroupFilter = "(objectClass=posixGroup)" }, "need group_base"},
		{"group_member_value", func(c *Config) {
			c.GroupBase, c.GroupMemberValue = "ou=groups,dc=example,dc=test", "uid"
		}, "group_member_value"},
		{"group_filter", func(c *Config) {
			c.GroupBase, c.GroupFilter = "ou=groups,dc=example,dc=test", "(cn=*"
		}, "group_filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
			if _, nerr := New(c); nerr == nil {
				t.Fatal("New accepted what Validate refused")
			}
		})
	}
}

// TestValidateListsEveryProblem: an operator sees all problems at once.
func TestValidateListsEveryProblem(t *testing.T) {
	err := Config{URL: "ldap://ldap.example.test", UserFilter: "uid"}.Validate()
	for _, want := range []string{"plaintext", "bind_dn", "bind_password", "user_base", "user_filter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: no mention of %s", err, want)
		}
	}
}

// TestNewFiles: New reads the password and CA files, and refuses ones
// that cannot serve.
func TestNewFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := validConfig()
	c.BindPassword, c.BindPasswordFile = "", write("pw", "secret\r\n")
	conn, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if conn.bindPassword != "secret" {
		t.Fatalf("bind password %q: the line end should go", conn.bindPassword)
	}
	t.Setenv("AUTHRIM_TEST_LDAP_BIND", "from-env")
	c = validConfig()
	c.BindPassword, c.BindPasswordEnv = "", "AUTHRIM_TEST_LDAP_BIND"
	if conn, err := New(c); err != nil || conn.bindPassword != "from-env" {
		t.Fatalf("bind_password_env: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"unset password env":  func(c *Config) { c.BindPasswordFile, c.BindPasswordEnv = "", "AUTHRIM_TEST_LDAP_UNSET" },
		"empty password file": func(c *Config) { c.BindPasswordFile = write("empty", "\n") },
		"missing password":    func(c *Config) { c.BindPasswordFile = filepath.Join(dir, "absent") },
		"CA file without PEM": func(c *Config) { c.CAFile = write("ca.pem", "not a certificate") },
		"missing CA file":     func(c *Config) { c.CAFile = filepath.Join(dir, "absent.pem") },
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.BindPassword, c.BindPasswordFile = "", write("pw", "secret")
			edit(&c)
			if _, err := New(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestLogValue: logging the configuration never shows the bind password.
func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	c := validConfig()
	c.BindPassword = "hunter2-bind-secret"
	slog.New(slog.NewTextHandler(&buf, nil)).Info("ldap configured", "ldap", c)
	if strings.Contains(buf.String(), c.BindPassword) || !strings.Contains(buf.String(), c.URL) {
		t.Fatalf("log line: %s", buf.String())
	}
}

// FuzzUserFilter: whatever a username holds, the search filter compiles
// and is exactly the configured filter AND one equality match of the
// username attribute with the username, byte for byte: no wildcard, no
// extra term.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", "al*", "*)(uid=*", "alice)(|(objectClass=*", "a\x00b", `\2a`, "é", "(", ")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		filter := userFilter("(objectClass=person)", "uid", username)
		p, err := goldap.CompileFilter(filter)
		if err != nil {
			t.Fatalf("%q gives a filter that does not compile: %q: %v", username, filter, err)
		}
		if p.Tag != goldap.FilterAnd || len(p.Children) != 2 {
			t.Fatalf("%q: not an AND of two terms: %q", username, filter)
		}
		eq := p.Children[1]
		if eq.Tag != goldap.FilterEqualityMatch || len(eq.Children) != 2 {
			t.Fatalf("%q: the second term is not an equality match: %q", username, filter)
		}
		if attr, val := eq.Children[0].Data.String(), eq.Children[1].Data.String(); attr != "uid" || val != username {
			t.Fatalf("%q: matches %s=%q", username, attr, val)
		}
	})
}

// FuzzValidate: no configuration that Validate accepts sends a password
// in the clear to a host that is not loopback.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"ldaps://ldap.example.test", "ldap://127.0.0.1:389", "ldap://[::1]", "ldap://localhost",
		"ldap://10.0.0.1", "ldap://127.0.0.1.example.test", "ldap://[::ffff:127.0.0.1]", "LDAP://LOCALHOST", "ldap://%31%32%37.0.0.1"} {
		f.Add(s, false, true)
		f.Add(s, true, false)
	}
	f.Fuzz(func(t *testing.T, raw string, startTLS, insecure bool) {
		c := validConfig()
		c.URL, c.StartTLS, c.InsecureNoTLS = raw, startTLS, insecure
		if c.Validate() != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q that does not parse", raw)
		}
		switch {
		case u.Scheme == "ldaps" && !startTLS && !insecure:
		case u.Scheme == "ldap" && startTLS && !insecure:
		case u.Scheme == "ldap" && insecure && !startTLS && Loopback(u.Hostname()):
		default:
			t.Fatalf("accepted %q start_tls=%v insecure_no_tls=%v", raw, startTLS, insecure)
		}
	})
}

// TestDocExample: the configuration in the package doc decodes (no
// unknown key) and is valid.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "//\t") {
			block = append(block, strings.TrimPrefix(line, "//\t"))
		} else if len(block) > 0 {
			break // the first example only
		}
	}
	var doc struct {
		LDAP Config `yaml:"ldap"`
	}
	dec := yaml.NewDecoder(strings.NewReader(strings.Join(block, "\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("example does not decode: %v\n%s", err, strings.Join(block, "\n"))
	}
	c := doc.LDAP
	if c.Timeout != 10*time.Second || !c.StartTLS || c.Attributes.Groups != "memberOf" || c.GroupMemberValue != MemberDN {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
