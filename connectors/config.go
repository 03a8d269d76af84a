package connectors

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"authrim/connectors/ldap"
	"authrim/http/fetch"
)

// Config is one entry of the connectors: list in config.yaml.
type Config struct {
	// ID names the connector in URLs (/login/upstream/ID), idp_hint and
	// the idp claim: 1..32 of a-z, 0-9, '-' and '_'.
	ID   string `yaml:"id" json:"id,omitempty"`
	Type string `yaml:"type" json:"type,omitempty"`
	// Name is the button's label ("Sign in with NAME"); default by type.
	Name string `yaml:"name" json:"name,omitempty"`
	// Issuer of an oidc connector (discovery at
	// ISSUER/.well-known/openid-configuration). google defaults it to
	// https://accounts.google.com.
	Issuer   string `yaml:"issuer" json:"issuer,omitempty"`
	ClientID string `yaml:"client_id" json:"client_id,omitempty"`
	// The client secret: exactly one of the value, a file holding it, or
	// the name of an environment variable holding it.
	ClientSecret     string `yaml:"client_secret" json:"client_secret,omitempty"`
	ClientSecretFile string `yaml:"client_secret_file" json:"client_secret_file,omitempty"`
	ClientSecretEnv  string `yaml:"client_secret_env" json:"client_secret_env,omitempty"`
	// Scopes asked for; default openid email profile (github: read:user
	// user:email, and read:org with orgs).
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// Claims maps identity fields to upstream claim names.
	Claims ClaimMapping `yaml:"claims" json:"claims,omitempty"`
	// SkipUserInfo reads only the ID token (oidc, google). By default
	// the userinfo endpoint is read too when the upstream has one: many
	// providers put the scopes' claims (email, profile) only there
	// (OIDC Core §5.4).
	SkipUserInfo bool `yaml:"skip_userinfo" json:"skip_userinfo,omitempty"`
	// AllowedDomains, when set, admits only verified emails in these
	// domains.
	AllowedDomains []string `yaml:"allowed_domains" json:"allowed_domains,omitempty"`
	// RequiredClaims admits only identities whose claim (a string, or a
	// list of strings such as groups) has one of the listed values.
	RequiredClaims []RequiredClaim `yaml:"required_claims" json:"required_claims,omitempty"`
	// Provisioning: jit (default) or existing-only.
	Provisioning Provisioning `yaml:"provisioning" json:"provisioning,omitempty"`
	// Orgs (github) admits only members of one of these organisations.
	Orgs []string `yaml:"orgs" json:"orgs,omitempty"`
	// AuthURL, TokenURL and APIURL override GitHub's endpoints (GitHub
	// Enterprise Server, tests).
	AuthURL  string `yaml:"auth_url" json:"auth_url,omitempty"`
	TokenURL string `yaml:"token_url" json:"token_url,omitempty"`
	APIURL   string `yaml:"api_url" json:"api_url,omitempty"`
	// LDAP is an ldap connector's directory: server, service account,
	// user search and attribute mapping (see connectors/ldap). An ldap
	// connector checks the sign-in form's username and password; it has
	// no button.
	LDAP ldap.Config `yaml:"ldap" json:"ldap,omitempty"`
}

// HasLDAP tells whether the entry has an ldap section.
func (c Config) HasLDAP() bool { return c.LDAP != ldap.Config{} }

// RequiredClaim admits identities whose claim is (or, for a list such
// as groups, holds) one of Values.
type RequiredClaim struct {
	Claim  string   `yaml:"claim" json:"claim,omitempty"`
	Values []string `yaml:"values" json:"values,omitempty"`
}

// ClaimMapping names the upstream claims each identity field is read
// from; an empty name keeps the default (the OIDC standard claim).
type ClaimMapping struct {
	Subject           string `yaml:"subject" json:"subject,omitempty"`
	Email             string `yaml:"email" json:"email,omitempty"`
	EmailVerified     string `yaml:"email_verified" json:"email_verified,omitempty"`
	PreferredUsername string `yaml:"preferred_username" json:"preferred_username,omitempty"`
	Name              string `yaml:"name" json:"name,omitempty"`
	Groups            string `yaml:"groups" json:"groups,omitempty"`
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Types are the connector types this package builds.
var Types = []string{"oidc", "google", "github", "ldap"}

// Validate lists every problem of the list, each prefixed with where it
// is (connectors[i].key). It reads no file and no environment:
// Secret does, at start.
func Validate(list []Config) []string {
	var problems []string
	seen := map[string]bool{}
	ldaps := 0
	for i, c := range list {
		at := func(key, msg string, args ...any) {
			problems = append(problems, fmt.Sprintf("connectors[%d].%s: %s", i, key, fmt.Sprintf(msg, args...)))
		}
		if !idRe.MatchString(c.ID) {
			at("id", "must be 1..32 of a-z, 0-9, '-' and '_', starting with a letter or digit")
		} else if seen[c.ID] {
			at("id", "%q is used twice", c.ID)
		}
		seen[c.ID] = true
		switch c.Type {
		case "oidc":
			if err := checkURL(c.Issuer); err != nil {
				at("issuer", "%v", err)
			}
		case "google":
			if c.Issuer != "" {
				if err := checkURL(c.Issuer); err != nil {
					at("issuer", "%v", err)
				}
			}
		case "github":
			if c.Issuer != "" {
				at("issuer", "not used by github (set auth_url, token_url and api_url for another server)")
			}
			for key, u := range map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "api_url": c.APIURL} {
				if u != "" {
					if err := checkURL(u); err != nil {
						at(key, "%v", err)
					}
				}
			}
			if c.SkipUserInfo {
				at("skip_userinfo", "not used by github")
			}
		case "ldap":
			// A Password connector: the sign-in form's password goes to
			// it. Its server, bind and mapping keys are the ldap
			// package's to validate; the OAuth keys do not apply.
			ldaps++
			if ldaps == 2 {
				at("type", "only one ldap connector may back the sign-in form")
			}
			if !c.HasLDAP() {
				at("ldap", "an ldap connector needs its ldap section (url, bind_dn, bind_password..., user_base)")
			} else if err := c.LDAP.Validate(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					at("ldap", "%s", strings.TrimPrefix(line, "ldap: "))
				}
			}
			if c.Issuer != "" || c.ClientID != "" || c.ClientSecret != "" || c.ClientSecretFile != "" || c.ClientSecretEnv != "" ||
				len(c.Scopes) > 0 || c.SkipUserInfo || c.AuthURL != "" || c.TokenURL != "" || c.APIURL != "" || len(c.Orgs) > 0 ||
				c.Claims != (ClaimMapping{}) {
				at("type", "ldap connectors take no issuer, client, scopes, claims, orgs or endpoint keys (map attributes under ldap.attributes)")
			}
			checkCommon(c, at)
			continue
		default:
			at("type", "must be one of %s", strings.Join(Types, ", "))
		}
		if c.HasLDAP() {
			at("ldap", "only ldap connectors take an ldap section")
		}
		if c.Type != "github" && (c.AuthURL != "" || c.TokenURL != "" || c.APIURL != "") {
			at("auth_url", "only github connectors take endpoint URLs; oidc and google use discovery")
		}
		if c.Type != "github" && len(c.Orgs) > 0 {
			at("orgs", "only github connectors take orgs (use required_claims with an OpenID Provider)")
		}
		if c.ClientID == "" {
			at("client_id", "is required")
		}
		n := 0
		for _, s := range []string{c.ClientSecret, c.ClientSecretFile, c.ClientSecretEnv} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			at("client_secret", "set exactly one of client_secret, client_secret_file, client_secret_env")
		}
		checkCommon(c, at)
		for _, o := range c.Orgs {
			if o == "" || strings.ContainsAny(o, "/ ?#") {
				at("orgs", "%q is not an organisation login", o)
			}
		}
		for _, s := range c.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				at("scopes", "%q is not a scope", s)
			}
		}
	}
	return problems
}

// checkCommon checks the keys every type takes (provisioning and the
// admission rules), recording each problem with at.
func checkCommon(c Config, at func(key, msg string, args ...any)) {
	switch c.Provisioning {
	case "", ProvisionJIT, ProvisionExistingOnly:
	default:
		at("provisioning", "must be jit or existing-only")
	}
	for _, d := range c.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") || strings.ToLower(d) != d {
			at("allowed_domains", "%q is not a lower-case domain name", d)
		}
	}
	for _, rc := range c.RequiredClaims {
		if rc.Claim == "" || len(rc.Values) == 0 {
			at("required_claims", "each claim needs a name and at least one value")
		}
	}
}

// checkURL accepts an absolute https URL without query or fragment.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("must be an https URL without query, fragment or user info")
	}
	return nil
}

// Secret reads the client secret from where the config says.
func (c Config) Secret() (string, error) {
	switch {
	case c.ClientSecret != "":
		return c.ClientSecret, nil
	case c.ClientSecretFile != "":
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("connectors[%s].client_secret_file: %w", c.ID, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("connectors[%s].client_secret_file %s is empty", c.ID, c.ClientSecretFile)
		}
		return s, nil
	case c.ClientSecretEnv != "":
		s := os.Getenv(c.ClientSecretEnv)
		if s == "" {
			return "", fmt.Errorf("connectors[%s].client_secret_env: %s is not set", c.ID, c.ClientSecretEnv)
		}
		return s, nil
	}
	return "", fmt.Errorf("connectors[%s]: no client secret", c.ID)
}

// Build makes the connectors of a validated list; f makes every request.
// It reads the secrets and calls no upstream (discovery happens at the
// first sign-in, so an upstream that is down does not stop the start).
func Build(list []Config, f *fetch.Fetcher) ([]Connector, error) {
	var out []Connector
	for _, c := range list {
		if c.Provisioning == "" {
			c.Provisioning = ProvisionJIT
		}
		if c.Type == "ldap" {
			l, err := newLDAP(c)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
			continue
		}
		secret, err := c.Secret()
		if err != nil {
			return nil, err
		}
		switch c.Type {
		case "oidc", "google":
			out = append(out, newOIDC(c, secret, f))
		case "github":
			out = append(out, newGitHub(c, secret, f))
		default:
			return nil, fmt.Errorf("connectors[%s]: type %q is not built here", c.ID, c.Type)
		}
	}
	return out, nil
}

// base holds what every connector has.
type base struct {
	cfg Config
}

func (b base) ID() string                 { return b.cfg.ID }
func (b base) Type() string               { return b.cfg.Type }
func (b base) Provisioning() Provisioning { return b.cfg.Provisioning }

// AllowedDomains are the email domains the connector admits (none:
// any); the sign-in page sends a login_hint in one of them to it.
func (b base) AllowedDomains() []string { return b.cfg.AllowedDomains }
func (b base) Name() string {
	if b.cfg.Name != "" {
		return b.cfg.Name
	}
	switch b.cfg.Type {
	case "google":
		return "Google"
	case "github":
		return "GitHub"
	case "ldap":
		return "LDAP"
	}
	return b.cfg.ID
}

// admit applies the connector's rules to an identity.
func (b base) admit(id Identity) error {
	if len(b.cfg.AllowedDomains) > 0 {
		_, domain, ok := strings.Cut(id.Email, "@")
		if !ok || !id.EmailVerified || !slices.Contains(b.cfg.AllowedDomains, strings.ToLower(domain)) {
			return fmt.Errorf("%w: email domain not allowed", ErrDenied)
		}
	}
	for _, rc := range b.cfg.RequiredClaims {
		if !claimHasAny(id.Claims[rc.Claim], rc.Values) {
			return fmt.Errorf("%w: claim %s has none of the required values", ErrDenied, rc.Claim)
		}
	}
	return nil
}

// claimHasAny tells whether v (a string or a list of strings) is, or
// holds, one of want.
func claimHasAny(v any, want []string) bool {
	switch v := v.(type) {
	case string:
		return slices.Contains(want, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	case []string:
		for _, s := range v {
			if slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}
