// Package slapdtest runs a real OpenLDAP slapd (Debian's slapd package)
// for tests: a generated slapd.conf and directory in a temporary folder,
// an ldap:// listener that offers StartTLS and an ldaps:// listener, both
// on loopback, with certificates from a test CA; a base DN holding a
// service account, users (uid, cn, mail, entryUUID, hashed
// userPassword, memberOf) and groups (groupOfNames and posixGroup).
// The server stops when the test ends.
//
// It must not be used outside tests. .ci/run installs slapd and
// ldap-utils; without slapd the tests skip, except under CI, where they
// fail.
package slapdtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1" // slapd's {SSHA} scheme, for test data only
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"authrim/internal/eventually"
	"authrim/internal/freeport"
	"authrim/internal/testca"
)

// Paths of Debian's slapd package.
const (
	Slapd      = "/usr/sbin/slapd"
	Slapadd    = "/usr/sbin/slapadd"
	ModulePath = "/usr/lib/ldap"
	SchemaDir  = "/etc/ldap/schema"
)

// The directory's layout.
const (
	BaseDN          = "dc=example,dc=test"
	UserBase        = "ou=people," + BaseDN
	ContractorBase  = "ou=contractors," + BaseDN
	GroupBase       = "ou=groups," + BaseDN
	ServiceDN       = "cn=authrim,ou=services," + BaseDN
	ServicePassword = "service-secret"
	rootDN          = "cn=admin," + BaseDN
)

// User is one person entry.
type User struct {
	UID, CN, Mail, Password, EntryUUID string
	// DN is the entry's name.
	DN string
	// Groups are the groupOfNames entries (cn) the user is a member of;
	// the entry's memberOf lists them too.
	Groups []string
	// PosixGroups are the posixGroup entries (cn) whose memberUid holds
	// the user's uid.
	PosixGroups []string
}

// Users of every server, by uid. "carol" is two entries (one under
// ou=people, one under ou=contractors), so a search by uid finds both.
// "o(brien)*" has filter metacharacters in its uid.
var Users = map[string]User{
	"alice": {
		UID: "alice", CN: "Alice Liddell", Mail: "alice@example.test", Password: "wonderland-42",
		EntryUUID: "6a0e2c8e-4b1f-4d1e-9c51-0d6b7c1a0001", DN: "uid=alice," + UserBase,
		Groups: []string{"admins", "staff"}, PosixGroups: []string{"developers"},
	},
	"bob": {
		UID: "bob", CN: "Bob Builder", Mail: "bob@example.test", Password: "can-we-fix-it",
		EntryUUID: "6a0e2c8e-4b1f-4d1e-9c51-0d6b7c1a0002", DN: "uid=bob," + UserBase,
		Groups: []string{"staff"},
	},
	"o(brien)*": {
		UID: "o(brien)*", CN: "Flann O'Brien", Mail: "obrien@example.test", Password: "third-policeman",
		EntryUUID: "6a0e2c8e-4b1f-4d1e-9c51-0d6b7c1a0003", DN: `uid=o(brien)*,` + UserBase,
	},
	"carol": {
		UID: "carol", CN: "Carol One", Mail: "carol@example.test", Password: "same-name-1",
		EntryUUID: "6a0e2c8e-4b1f-4d1e-9c51-0d6b7c1a0004", DN: "uid=carol," + UserBase,
	},
}

// carolTwin is the second "carol", under ou=contractors.
var carolTwin = User{
	UID: "carol", CN: "Carol Two", Mail: "carol2@example.test", Password: "same-name-2",
	EntryUUID: "6a0e2c8e-4b1f-4d1e-9c51-0d6b7c1a0005", DN: "uid=carol," + ContractorBase,
}

// Options shape a server.
type Options struct {
	// CA issues the server's certificate (a new CA when nil).
	CA *testca.CA
	// AllowUnauthenticatedBind makes slapd accept a simple bind with a DN
	// and an empty password as anonymous ("allow bind_anon_dn"), as
	// permissive directories do: the case a client must never fall into.
	AllowUnauthenticatedBind bool
}

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (plaintext; StartTLS offered).
	URL string
	// LDAPSURL is ldaps://127.0.0.1:PORT (TLS from the first byte).
	LDAPSURL string
	// Port and LDAPSPort are the two listeners' ports.
	Port, LDAPSPort int
	// CA issued the server's certificate.
	CA *testca.CA
	// Dir holds the configuration, certificates and database.
	Dir string

	mu  sync.Mutex
	log bytes.Buffer
}

// Available reports whether slapd is installed.
func Available() bool {
	for _, p := range []string{Slapd, Slapadd} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// Require skips t when slapd is missing, or fails it under CI (where a
// skipped directory test would pass unnoticed).
func Require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: CI must install Debian's slapd and ldap-utils packages (see .ci/run)", Slapd)
	}
	t.Skipf("%s is missing: apt-get install slapd ldap-utils to run the LDAP tests", Slapd)
}

// Start runs a slapd until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	ca := opts.CA
	if ca == nil {
		ca = testca.New(t)
	}
	dir := t.TempDir()
	s := &Server{CA: ca, Dir: dir}
	for _, p := range []*int{&s.Port, &s.LDAPSPort} {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		*p = port
	}
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(s.Port)
	s.LDAPSURL = "ldaps://127.0.0.1:" + strconv.Itoa(s.LDAPSPort)

	certFile, keyFile := ca.Issue(t).Write(t, dir)
	caFile := filepath.Join(dir, "ca.pem")
	testca.WriteFile(t, caFile, ca.CertPEM())
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	testca.WriteFile(t, conf, []byte(config(dir, caFile, certFile, keyFile, opts)))
	data := filepath.Join(dir, "data.ldif")
	testca.WriteFile(t, data, []byte(ldif(t)))

	// slapadd fills the database offline: no network, fixed entryUUIDs.
	if out, err := exec.Command(Slapadd, "-f", conf, "-l", data).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}

	// -d keeps slapd in the foreground (so it dies with the test's
	// cleanup, never left behind detached); level 0 logs only errors.
	cmd := exec.Command(Slapd, "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = s.logWriter(), s.logWriter()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	eventually.OK(t, 0, "slapd answers a bind", func() error {
		select {
		case <-exited:
			t.Fatalf("slapd exited at start:\n%s", s.Log())
		default:
		}
		c, err := goldap.DialURL(s.URL)
		if err != nil {
			return fmt.Errorf("%w\nslapd's log:\n%s", err, s.Log())
		}
		defer c.Close()
		return c.Bind(ServiceDN, ServicePassword)
	})
	return s
}

type logWriter struct{ s *Server }

func (w logWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

func (s *Server) logWriter() logWriter { return logWriter{s} }

// Log is what slapd printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// CAFile writes the CA's certificate into a new file and returns its
// path: what a client's ca_file names.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ldap-ca.pem")
	testca.WriteFile(t, p, s.CA.CertPEM())
	return p
}

func config(dir, caFile, certFile, keyFile string, opts Options) string {
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", SchemaDir, s)
	}
	allow := ""
	if opts.AllowUnauthenticatedBind {
		allow = "allow bind_anon_dn\n"
	}
	fmt.Fprintf(&b, `modulepath %[1]s
moduleload back_mdb
moduleload memberof
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
TLSCACertificateFile %[3]s
TLSCertificateFile %[4]s
TLSCertificateKeyFile %[5]s
%[6]s
database mdb
suffix "%[7]s"
rootdn "%[8]s"
rootpw %[9]s
directory %[2]s/db
maxsize 16777216
overlay memberof
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="%[10]s" read by self read by * none
`, ModulePath, dir, caFile, certFile, keyFile, allow, BaseDN, rootDN, ssha(rand.Text()), ServiceDN)
	return b.String()
}

// ssha is slapd's {SSHA} scheme: SHA-1 of the password and a salt, then
// the salt, base64-encoded.
func ssha(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

func ldif(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	entry := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	entry("dn: "+BaseDN, "objectClass: dcObject", "objectClass: organization", "o: Example", "dc: example")
	for _, ou := range []string{"people", "contractors", "groups", "services"} {
		entry("dn: ou="+ou+","+BaseDN, "objectClass: organizationalUnit", "ou: "+ou)
	}
	entry("dn: "+ServiceDN, "objectClass: organizationalRole", "objectClass: simpleSecurityObject",
		"cn: authrim", "userPassword: "+ssha(ServicePassword))
	person := func(u User) {
		lines := []string{"dn: " + u.DN, "objectClass: inetOrgPerson", "uid: " + u.UID, "cn: " + u.CN,
			"sn: " + u.CN, "mail: " + u.Mail, "userPassword: " + ssha(u.Password), "entryUUID: " + u.EntryUUID}
		for _, g := range u.Groups {
			lines = append(lines, "memberOf: cn="+g+","+GroupBase)
		}
		entry(lines...)
	}
	groups := map[string][]string{}
	posix := map[string][]string{}
	for _, u := range append(sortedUsers(), carolTwin) {
		person(u)
		for _, g := range u.Groups {
			groups[g] = append(groups[g], u.DN)
		}
		for _, g := range u.PosixGroups {
			posix[g] = append(posix[g], u.UID)
		}
	}
	for _, g := range sortedKeys(groups) {
		lines := []string{"dn: cn=" + g + "," + GroupBase, "objectClass: groupOfNames", "cn: " + g}
		for _, m := range groups[g] {
			lines = append(lines, "member: "+m)
		}
		entry(lines...)
	}
	gid := 5000
	for _, g := range sortedKeys(posix) {
		gid++
		lines := []string{"dn: cn=" + g + "," + GroupBase, "objectClass: posixGroup", "cn: " + g,
			"gidNumber: " + strconv.Itoa(gid)}
		for _, m := range posix[g] {
			lines = append(lines, "memberUid: "+m)
		}
		entry(lines...)
	}
	// A group nobody in Users belongs to: it must never show up.
	entry("dn: cn=outsiders,"+GroupBase, "objectClass: groupOfNames", "cn: outsiders", "member: "+carolTwin.DN)
	return b.String()
}

func sortedUsers() []User {
	var us []User
	for _, k := range sortedKeys(Users) {
		us = append(us, Users[k])
	}
	return us
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
