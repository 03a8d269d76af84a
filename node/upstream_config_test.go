package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authrim/config"
	"authrim/connectors"
	"authrim/connectors/ldap"
	"authrim/internal/docexample"
	"authrim/node"
)

// TestConnectorsConfig: connectors are validated at start, every problem
// named by its place in the list.
func TestConnectorsConfig(t *testing.T) {
	good := connectors.Config{ID: "corp", Type: "oidc", Issuer: "https://id.corp.example", ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		edit func(*connectors.Config)
		want string
	}{
		{"good oidc", func(*connectors.Config) {}, ""},
		{"google without issuer", func(c *connectors.Config) { c.Type, c.Issuer = "google", "" }, ""},
		{"github", func(c *connectors.Config) { c.Type, c.Issuer, c.Orgs = "github", "", []string{"acme"} }, ""},
		{"secret from env", func(c *connectors.Config) { c.ClientSecret, c.ClientSecretEnv = "", "CORP_SECRET" }, ""},
		{"bad id", func(c *connectors.Config) { c.ID = "Bad Id" }, "connectors[0].id"},
		{"unknown type", func(c *connectors.Config) { c.Type = "saml" }, "connectors[0].type"},
		{"http issuer", func(c *connectors.Config) { c.Issuer = "http://id.corp.example" }, "connectors[0].issuer"},
		{"no client_id", func(c *connectors.Config) { c.ClientID = "" }, "connectors[0].client_id"},
		{"two secrets", func(c *connectors.Config) { c.ClientSecretFile = "/run/secret" }, "connectors[0].client_secret"},
		{"no secret", func(c *connectors.Config) { c.ClientSecret = "" }, "connectors[0].client_secret"},
		{"bad provisioning", func(c *connectors.Config) { c.Provisioning = "auto" }, "connectors[0].provisioning"},
		{"bad domain", func(c *connectors.Config) { c.AllowedDomains = []string{"@corp.example"} }, "connectors[0].allowed_domains"},
		{"orgs on oidc", func(c *connectors.Config) { c.Orgs = []string{"acme"} }, "connectors[0].orgs"},
		{"github with issuer", func(c *connectors.Config) { c.Type = "github" }, "connectors[0].issuer"},
		{"ldap", toLDAP, ""},
		{"ldap without its section", func(c *connectors.Config) { toLDAP(c); c.LDAP = ldap.Config{} }, "connectors[0].ldap: an ldap connector needs"},
		{"ldap in plaintext to another host", func(c *connectors.Config) { toLDAP(c); c.LDAP.URL, c.LDAP.StartTLS = "ldap://ldap.corp.example", false }, "connectors[0].ldap: url"},
		{"ldap with a client secret", func(c *connectors.Config) { toLDAP(c); c.ClientSecret = "s" }, "ldap connectors take no issuer, client"},
		{"ldap bad provisioning", func(c *connectors.Config) { toLDAP(c); c.Provisioning = "auto" }, "connectors[0].provisioning"},
		{"ldap section on oidc", func(c *connectors.Config) { c.LDAP = ldap.Config{URL: "ldaps://x"} }, "only ldap connectors take an ldap section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			cfg := node.Default()
			cfg.Connectors = []connectors.Config{c}
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
	cfg := node.Default()
	cfg.Connectors = []connectors.Config{good, good}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("duplicate id: %v", err)
	}
	a, b := good, good
	toLDAP(&a)
	toLDAP(&b)
	b.ID = "dir2"
	cfg.Connectors = []connectors.Config{a, b}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "only one ldap connector") {
		t.Fatalf("two ldap connectors: %v", err)
	}
}

// toLDAP makes c a valid ldap connector.
func toLDAP(c *connectors.Config) {
	*c = connectors.Config{ID: c.ID, Type: "ldap", LDAP: ldap.Config{
		URL: "ldap://ldap.corp.example", StartTLS: true, BindDN: "cn=authrim,dc=corp,dc=example", BindPasswordEnv: "LDAP_BIND",
		UserBase: "ou=people,dc=corp,dc=example",
	}}
}

// TestConnectorsSecretFileMissing: a secret file that cannot be read
// stops the start.
func TestConnectorsSecretFileMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Keys.KEKFile = filepath.Join(dir, "kek")
	cfg.Connectors = []connectors.Config{{ID: "corp", Type: "oidc", Issuer: "https://id.corp.example", ClientID: "c", ClientSecretFile: filepath.Join(dir, "missing")}}
	n, err := node.Start(context.Background(), cfg, node.Options{})
	if err == nil {
		_ = n.Shutdown(context.Background())
		t.Fatal("started without the connector's secret")
	}
	if !strings.Contains(err.Error(), "client_secret_file") {
		t.Fatalf("error %v does not name client_secret_file", err)
	}
}

// TestREADMEConnectorsExample: the README's connector examples load and
// validate as they are written.
func TestREADMEConnectorsExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- example: connectors-config -->")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	yaml, _, ok3 := strings.Cut(rest, "\n```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no connectors-config yaml block")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(yaml+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, nil)
	if err != nil {
		t.Fatalf("README connectors config: %v", err)
	}
	if len(cfg.Connectors) != 3 || cfg.Connectors[0].RequiredClaims[0].Claim != "groups" || cfg.Connectors[2].Orgs[0] != "corp-engineering" {
		t.Fatalf("README connectors loaded as %+v", cfg.Connectors)
	}
}

// TestREADMEConnectorsLDAPExample: the README's ldap connector loads
// and validates as written (the bind password file is read only at
// start).
func TestREADMEConnectorsLDAPExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- example: connectors-ldap -->")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	yaml, _, ok3 := strings.Cut(rest, "\n```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no connectors-ldap yaml block")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(yaml+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, nil)
	if err != nil {
		t.Fatalf("README ldap connector config: %v", err)
	}
	if len(cfg.Connectors) != 1 || !cfg.Connectors[0].LDAP.StartTLS ||
		cfg.Connectors[0].LDAP.Attributes.Groups != "memberOf" || cfg.Connectors[0].RequiredClaims[0].Values[0] != "staff" {
		t.Fatalf("README ldap connector loaded as %+v", cfg.Connectors)
	}
}

// TestREADMEUpstreamLinkExample: the README's admin example links an
// upstream identity to alice and lists it.
func TestREADMEUpstreamLinkExample(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Admin.Token = adminToken
		c.Connectors = []connectors.Config{{ID: "corp", Type: "oidc", Issuer: "https://sso.corp.example", ClientID: "c", ClientSecret: "s"}}
	})
	out := docexample.Run(t, "../README.md", "upstream-link", "ISSUER="+o.issuer, "ADMIN_TOKEN="+adminToken)
	if out != `"connector":"corp"`+"\n" {
		t.Fatalf("example printed %q", out)
	}
	if l, err := o.n.Directory().LinkedUser(context.Background(), "https://sso.corp.example", "248289761001"); err != nil || l.User != o.user.Subject {
		t.Fatalf("link %+v %v", l, err)
	}
}
