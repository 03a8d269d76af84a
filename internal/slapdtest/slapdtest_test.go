package slapdtest

import (
	"crypto/tls"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

// TestServer: both listeners answer, StartTLS and LDAPS verify against
// the test CA, and the data is there as described.
func TestServer(t *testing.T) {
	s := Start(t, Options{})
	tc := &tls.Config{RootCAs: s.CA.Pool(), ServerName: "127.0.0.1"}

	c, err := goldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(tc); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(ServiceDN, ServicePassword); err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(goldap.NewSearchRequest(BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", []string{"entryUUID", "memberOf", "mail"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("alice: %d entries", len(res.Entries))
	}
	e := res.Entries[0]
	if got := e.GetAttributeValue("entryUUID"); got != Users["alice"].EntryUUID {
		t.Errorf("entryUUID = %q", got)
	}
	if got := e.GetAttributeValues("memberOf"); len(got) != 2 {
		t.Errorf("memberOf = %q", got)
	}

	l, err := goldap.DialURL(s.LDAPSURL, goldap.DialWithTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(Users["bob"].DN, Users["bob"].Password); err != nil {
		t.Fatalf("bob over LDAPS: %v", err)
	}
	if err := l.Bind(Users["bob"].DN, "wrong"); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
}
