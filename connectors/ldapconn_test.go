package connectors_test

import (
	"errors"
	"slices"
	"testing"

	"authrim/connectors"
	"authrim/connectors/ldap"
	"authrim/internal/freeport"
	"authrim/internal/slapdtest"
)

func ldapConnector(t *testing.T, c connectors.Config) connectors.Password {
	t.Helper()
	if problems := connectors.Validate([]connectors.Config{c}); len(problems) > 0 {
		t.Fatal(problems)
	}
	list, err := connectors.Build([]connectors.Config{c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := list[0].(connectors.Password)
	if !ok {
		t.Fatalf("an ldap connector is not a Password connector: %T", list[0])
	}
	if _, ok := list[0].(connectors.Redirect); ok {
		t.Fatal("an ldap connector must not be a Redirect connector (no button)")
	}
	return p
}

func ldapConfig(t *testing.T, s *slapdtest.Server) connectors.Config {
	t.Setenv("AUTHRIM_TEST_LDAP_BIND", slapdtest.ServicePassword)
	return connectors.Config{ID: "corp", Type: "ldap", LDAP: ldap.Config{
		URL: s.URL, StartTLS: true, CAFile: s.CAFile(t),
		BindDN: slapdtest.ServiceDN, BindPasswordEnv: "AUTHRIM_TEST_LDAP_BIND",
		UserBase: slapdtest.UserBase, UserFilter: "(objectClass=inetOrgPerson)",
		Attributes: ldap.Attributes{Groups: "memberOf"}, EmailVerified: true,
	}}
}

// TestLDAPConnector: the adapter's identity (issuer per connector,
// entryUUID subject, groups, pwd), and the errors the sign-in form tells
// apart: credentials refused, directory unusable, rules refused.
func TestLDAPConnector(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	alice := slapdtest.Users["alice"]
	conn := ldapConnector(t, ldapConfig(t, s))
	if conn.Type() != "ldap" || conn.Provisioning() != connectors.ProvisionJIT {
		t.Fatalf("type %s provisioning %s", conn.Type(), conn.Provisioning())
	}
	id, err := conn.Login(t.Context(), "alice", alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != "urn:authrim:ldap:corp" || id.Subject != alice.EntryUUID || id.ConnectorID != "corp" ||
		id.Email != alice.Mail || !id.EmailVerified || id.Name != alice.CN || id.PreferredUsername != "alice" ||
		!slices.Equal(id.Groups, []string{"admins", "staff"}) || !slices.Equal(id.AMR, []string{"pwd"}) {
		t.Fatalf("identity %+v", id)
	}
	if _, err := conn.Login(t.Context(), "alice", "wrong"); !errors.Is(err, connectors.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := conn.Login(t.Context(), "nobody", "x"); !errors.Is(err, connectors.ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v", err)
	}

	// Rules: required group, allowed domains.
	c := ldapConfig(t, s)
	c.RequiredClaims = []connectors.RequiredClaim{{Claim: "groups", Values: []string{"admins"}}}
	ruled := ldapConnector(t, c)
	if _, err := ruled.Login(t.Context(), "alice", alice.Password); err != nil {
		t.Fatalf("alice is in admins: %v", err)
	}
	if _, err := ruled.Login(t.Context(), "bob", slapdtest.Users["bob"].Password); !errors.Is(err, connectors.ErrDenied) {
		t.Fatalf("bob is not in admins: %v", err)
	}
	c = ldapConfig(t, s)
	c.AllowedDomains = []string{"elsewhere.test"}
	if _, err := ldapConnector(t, c).Login(t.Context(), "alice", alice.Password); !errors.Is(err, connectors.ErrDenied) {
		t.Fatalf("domain not allowed: %v", err)
	}

	// A directory that does not answer is not a wrong password.
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	c = ldapConfig(t, s)
	c.LDAP.URL = "ldap://" + addr
	_, err = ldapConnector(t, c).Login(t.Context(), "alice", alice.Password)
	if !errors.Is(err, connectors.ErrUnavailable) || errors.Is(err, connectors.ErrInvalidCredentials) {
		t.Fatalf("directory down: %v", err)
	}
}
