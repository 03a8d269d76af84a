package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"authrim/connectors"
	"authrim/connectors/ldap"
	"authrim/directory"
	"authrim/internal/freeport"
	"authrim/internal/slapdtest"
	"authrim/node"
)

// ldapOP is a node whose sign-in form checks passwords against slapd
// first (connector "corp", StartTLS with the test CA), with its logs.
type ldapOP struct {
	*op
	logs *syncBuffer
	dir  *slapdtest.Server
}

// ldapConnectorConfig points connector "corp" at s over StartTLS.
func ldapConnectorConfig(t *testing.T, s *slapdtest.Server) connectors.Config {
	t.Setenv("AUTHRIM_TEST_LDAP_BIND", slapdtest.ServicePassword)
	return connectors.Config{ID: "corp", Type: "ldap", Name: "Corp directory", LDAP: ldap.Config{
		URL: s.URL, StartTLS: true, CAFile: s.CAFile(t),
		BindDN: slapdtest.ServiceDN, BindPasswordEnv: "AUTHRIM_TEST_LDAP_BIND",
		UserBase: slapdtest.UserBase, UserFilter: "(objectClass=inetOrgPerson)",
		Attributes: ldap.Attributes{Groups: "memberOf"}, EmailVerified: true,
	}}
}

func startLDAPOP(t *testing.T, s *slapdtest.Server, adjust func(*connectors.Config), adjustNode ...func(*node.Config)) *ldapOP {
	t.Helper()
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) {
		cc := ldapConnectorConfig(t, s)
		if adjust != nil {
			adjust(&cc)
		}
		c.Connectors = []connectors.Config{cc}
		c.RateLimit.SignIn.PerAddress.Free = 50
		c.RateLimit.SignIn.PerUsername.Free = 50
		for _, a := range adjustNode {
			a(c)
		}
	}, func(o *node.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return &ldapOP{op: o, logs: logs, dir: s}
}

// formSignIn posts username and password on the sign-in page of a new
// request of b.
func (o *ldapOP) formSignIn(t *testing.T, b *http.Client, params map[string]string, username, password string) page {
	t.Helper()
	p := get(t, b, o.authorizeURL(params))
	if !p.isLogin() {
		t.Fatalf("expected the sign-in page, got %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("username", username)
	f.Set("password", password)
	return postForm(t, b, o.issuer+"/login", f)
}

// claimsAfter finishes the sign-in at p (consent as needed) and returns
// the ID token's claims.
func (o *ldapOP) claimsAfter(t *testing.T, b *http.Client, p page) map[string]any {
	t.Helper()
	code := o.toRP(t, b, p)
	status, tok := o.redeem(t, code, "")
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	return idClaims(t, tok["id_token"].(string))
}

func amrList(c map[string]any) []string {
	var out []string
	for _, v := range c["amr"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// TestLDAPSignIn: the sign-in form's password goes to the directory
// first. A first sign-in creates a local user (jit) from the entry's
// attributes, linked by the connector's issuer and the entryUUID; the ID
// token says pwd, fed and idp; the next sign-in is the same subject. A
// wrong password is answered as a local one is (and audited, without
// the password, creating no user); a name the directory does not know
// signs in to a local account.
func TestLDAPSignIn(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	o := startLDAPOP(t, s, nil)
	alice := slapdtest.Users["alice"]
	ctx := context.Background()
	before := userCount(t, o.op)

	b := browser(t)
	first := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "alice", alice.Password))
	if first["idp"] != "corp" || !slices.Equal(amrList(first), []string{"pwd", "fed"}) {
		t.Fatalf("ID token idp %v amr %v, want idp corp and amr pwd fed", first["idp"], first["amr"])
	}
	sub, _ := first["sub"].(string)
	if sub == "" || sub == o.user.Subject {
		t.Fatalf("signed in as the local alice (%v), not the directory's", sub)
	}
	if userCount(t, o.op) != before+1 || !hasAudit(o.logs, "user created from upstream identity") {
		t.Fatalf("no user created (or not audited): %d users", userCount(t, o.op))
	}
	u, err := o.n.Directory().User(ctx, sub)
	if err != nil || u.Claims["email"] != alice.Mail || u.Claims["email_verified"] != true || u.Claims["name"] != alice.CN ||
		u.Claims["preferred_username"] != "alice" {
		t.Fatalf("created user %+v %v", u, err)
	}
	links, err := o.n.Directory().Links(ctx, sub)
	if err != nil || len(links) != 1 || links[0].Issuer != "urn:authrim:ldap:corp" || links[0].Subject != alice.EntryUUID || links[0].Connector != "corp" {
		t.Fatalf("links %+v %v", links, err)
	}

	b = browser(t)
	second := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "alice", alice.Password))
	if second["sub"] != sub || userCount(t, o.op) != before+1 {
		t.Fatalf("second sign-in: subject %v (first %v), %d users", second["sub"], sub, userCount(t, o.op))
	}

	// The directory's groups become the groups claim, released with the
	// groups scope (userinfo), and follow the directory at each sign-in.
	if g, _ := o.n.Directory().User(ctx, sub); !slices.Equal(anyStrings(g.Claims["groups"]), []string{"admins", "staff"}) {
		t.Fatalf("groups claim %v, want admins and staff", g.Claims["groups"])
	}
	b = browser(t)
	withGroups := baseParams()
	withGroups["scope"] = "openid groups"
	status, tok := o.redeem(t, o.toRP(t, b, o.formSignIn(t, b, withGroups, "alice", alice.Password)), "")
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	if status, info, _ := o.userinfo(t, tok["access_token"].(string)); status != http.StatusOK || !slices.Equal(anyStrings(info["groups"]), []string{"admins", "staff"}) || info["email"] != nil {
		t.Fatalf("userinfo with the groups scope: %d %v", status, info)
	}

	t.Run("wrong password", func(t *testing.T) {
		n := userCount(t, o.op)
		local := o.formSignIn(t, browser(t), baseParams(), "nobody-here", "wrong-password-1")
		p := o.formSignIn(t, browser(t), baseParams(), "alice", "wrong-password-2")
		if p.status != http.StatusUnauthorized || !p.isLogin() || !strings.Contains(p.body, "The username or password is not correct.") ||
			p.status != local.status {
			t.Fatalf("wrong password: %d %s (unknown user: %d)", p.status, p.body, local.status)
		}
		if userCount(t, o.op) != n {
			t.Fatal("a user was created")
		}
		found := false
		for _, line := range strings.Split(o.logs.String(), "\n") {
			if strings.Contains(line, `msg="sign-in failed"`) && strings.Contains(line, "audit=true") && strings.Contains(line, "connector=corp") && strings.Contains(line, "username=alice") {
				found = true
			}
		}
		if !found {
			t.Fatalf("no audit line naming the connector: %s", o.logs.String())
		}
		if strings.Contains(o.logs.String(), "wrong-password-2") || strings.Contains(o.logs.String(), alice.Password) {
			t.Fatal("a password is in the logs")
		}
	})

	t.Run("local account when the directory refuses", func(t *testing.T) {
		// alice's local password is not the directory's: the local
		// account signs in; so does a name the directory does not know.
		if _, err := o.n.Directory().CreateUser(ctx, directory.NewUser{Username: "operator", Password: userPassword}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"operator", "alice"} {
			b := browser(t)
			c := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), name, userPassword))
			if _, ok := c["idp"]; ok || !slices.Equal(amrList(c), []string{"pwd"}) {
				t.Fatalf("%s: local sign-in claims %v", name, c)
			}
			if name == "alice" && c["sub"] != o.user.Subject {
				t.Fatalf("alice's local password signed in as %v", c["sub"])
			}
		}
	})

	t.Run("groups", func(t *testing.T) {
		// The connector's rules see the directory's groups: only admins.
		o := startLDAPOP(t, s, func(c *connectors.Config) {
			c.RequiredClaims = []connectors.RequiredClaim{{Claim: "groups", Values: []string{"admins"}}}
		})
		n := userCount(t, o.op)
		p := o.formSignIn(t, browser(t), baseParams(), "bob", slapdtest.Users["bob"].Password)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "Corp directory account may not sign in here") || !hasAudit(o.logs, "upstream sign-in refused") {
			t.Fatalf("bob (staff only): %d %s", p.status, p.body)
		}
		if userCount(t, o.op) != n {
			t.Fatal("a refused identity created a user")
		}
		b := browser(t)
		if c := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "alice", alice.Password)); c["idp"] != "corp" {
			t.Fatalf("alice (admins): %v", c)
		}
	})
}

// TestLDAPSignInRefusals: a directory that cannot be reached is an error
// page that says so, not a wrong password (a local account still signs
// in); existing-only refuses a directory user linked to no account.
func TestLDAPSignInRefusals(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	t.Run("directory down", func(t *testing.T) {
		addr, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		o := startLDAPOP(t, s, func(c *connectors.Config) { c.LDAP.URL = "ldap://" + addr })
		n := userCount(t, o.op)
		p := o.formSignIn(t, browser(t), baseParams(), "alice", slapdtest.Users["alice"].Password)
		if p.status != http.StatusBadGateway || p.isLogin() || strings.Contains(p.body, "not correct") || !strings.Contains(p.body, "directory is unavailable") {
			t.Fatalf("directory down: %d %s", p.status, p.body)
		}
		if !hasAudit(o.logs, "sign-in directory unavailable") || userCount(t, o.op) != n {
			t.Fatal("not audited, or a user was created")
		}
		b := browser(t)
		if c := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "alice", userPassword)); c["sub"] != o.user.Subject {
			t.Fatalf("local alice while the directory is down: %v", c)
		}
	})
	t.Run("existing-only", func(t *testing.T) {
		o := startLDAPOP(t, s, func(c *connectors.Config) { c.Provisioning = connectors.ProvisionExistingOnly })
		n := userCount(t, o.op)
		p := o.formSignIn(t, browser(t), baseParams(), "bob", slapdtest.Users["bob"].Password)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "No account here is linked") || userCount(t, o.op) != n {
			t.Fatalf("existing-only: %d %s", p.status, p.body)
		}
		if !hasAudit(o.logs, "upstream sign-in refused") {
			t.Fatal("not audited")
		}
	})
}

// TestLDAPSignInSecondFactor: a directory password is the first factor
// only: a user with an authenticator app gives its code, and the ID
// token says both (pwd, otp, mfa) and fed.
func TestLDAPSignInSecondFactor(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	o := startLDAPOP(t, s, nil, func(c *node.Config) { c.MFA.Policy = directory.MFAOptional })
	bob := slapdtest.Users["bob"]
	b := browser(t)
	first := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "bob", bob.Password))
	sub := first["sub"].(string)

	secret, _ := o.enrolTOTPFor(t, sub)

	b = browser(t)
	p := o.formSignIn(t, b, baseParams(), "bob", bob.Password)
	if !p.isMFA() {
		t.Fatalf("no second step after the directory's password: %d %s", p.status, p.body)
	}
	c := o.claimsAfter(t, b, o.mfaStep(t, b, p, o.totpCode(secret, 0)))
	if c["sub"] != sub || c["idp"] != "corp" || !slices.Equal(amrList(c), []string{"pwd", "otp", "mfa", "fed"}) {
		t.Fatalf("after the code: sub %v idp %v amr %v", c["sub"], c["idp"], c["amr"])
	}
}

// TestLDAPSignInThrottled: directory passwords are counted as local
// ones: after the free failures the right directory password waits too
// (and is not checked).
func TestLDAPSignInThrottled(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	o := startLDAPOP(t, s, nil, func(c *node.Config) {
		c.RateLimit.SignIn.PerAddress = node.BackoffConfig{Free: 3, BaseDelay: node.Duration(time.Minute), MaxDelay: node.Duration(time.Hour), Window: node.Duration(2 * time.Hour)}
	})
	b := browser(t)
	for i := range 3 {
		if p := o.formSignIn(t, b, baseParams(), "bob", "wrong-guess"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, p.status)
		}
	}
	p := o.formSignIn(t, b, baseParams(), "bob", slapdtest.Users["bob"].Password)
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many sign-in attempts") {
		t.Fatalf("the directory's right password after the free failures: %d %s", p.status, p.body)
	}
	if hasAudit(o.logs, "user created from upstream identity") {
		t.Fatal("a throttled attempt signed in")
	}
}

// anyStrings reads a JSON list of strings.
func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
