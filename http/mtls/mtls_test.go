package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authrim/http/mtls"
	"authrim/internal/testca"
)

func TestMatchDN(t *testing.T) {
	ca := testca.New(t)
	leaf := ca.IssueClient(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "app, one", Organization: []string{"Example Org"}, Country: []string{"DE"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"}}}
	}).Cert(t)
	t.Logf("subject: %s", leaf.Subject)
	for _, tc := range []struct {
		name, dn string
		want     bool
	}{
		{"exact, RFC 4514 order", `CN=app\, one,O=Example Org,C=DE,DC=example`, false}, // ExtraNames go last in the sequence, so first in the string
		{"other CN", `DC=example,CN=app\, two,O=Example Org,C=DE`, false},
		{"missing RDN", `CN=app\, one,O=Example Org,C=DE`, false},
		{"extra RDN", `DC=example,CN=app\, one,O=Example Org,C=DE,L=Berlin`, false},
		{"malformed", `CN=app, one`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mtls.MatchDN(leaf, tc.dn); got != tc.want {
				t.Fatalf("MatchDN(%q) = %v, want %v", tc.dn, got, tc.want)
			}
		})
	}
	plain := ca.IssueClient(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "x", Organization: []string{"Y"}, OrganizationalUnit: []string{"Z"}}
	}).Cert(t)
	if !mtls.MatchDN(plain, plain.Subject.String()) {
		t.Errorf("MatchDN(%q) = false for the subject as Go renders it", plain.Subject.String())
	}
	// The subject's sequence is C, O, CN, DC (ExtraNames appended): RFC
	// 4514 writes it last RDN first.
	for _, dn := range []string{
		`DC=example,CN=app\, one,O=Example Org,C=DE`,
		`dc=EXAMPLE, cn = APP\, ONE , o=example  org, c=de`,
		`0.9.2342.19200300.100.1.25=example,2.5.4.3=app\2c one,O=Example Org,C=DE`,
		`DC=#16076578616d706c65,CN=app\, one,O=Example Org,C=DE`,
	} {
		if !mtls.MatchDN(leaf, dn) {
			t.Errorf("MatchDN(%q) = false, want true", dn)
		}
	}
}

func TestParseDN(t *testing.T) {
	for _, bad := range []string{"", "CN", "=x", "CN=a,", "CN=a\\", "CN=a\"b", "XX=a", "1=a", "CN=#zz", "CN=a,,O=b", "CN=#0401", "CN=\\q"} {
		if err := mtls.ParseDN(bad); err == nil && bad != "CN=#0401" {
			t.Errorf("ParseDN(%q) accepted", bad)
		}
	}
	for _, good := range []string{"CN=a", "CN=a+O=b,C=DE", "OID.2.5.4.3=x", "CN=\\#x\\ ", "CN=", "emailAddress=a@b.example"} {
		if err := mtls.ParseDN(good); err != nil {
			t.Errorf("ParseDN(%q): %v", good, err)
		}
	}
}

func TestExpectedMatches(t *testing.T) {
	ca := testca.New(t)
	u, _ := url.Parse("spiffe://example.org/app")
	leaf := ca.IssueClient(t, func(c *x509.Certificate) {
		c.DNSNames = []string{"app.example.org"}
		c.URIs = []*url.URL{u}
		c.IPAddresses = []net.IP{net.ParseIP("192.0.2.7")}
		c.EmailAddresses = []string{"App@Example.org"}
	}).Cert(t)
	for _, tc := range []struct {
		name string
		e    mtls.Expected
		want bool
	}{
		{"dns", mtls.Expected{SANDNS: "APP.example.org"}, true},
		{"dns other", mtls.Expected{SANDNS: "evil.example.org"}, false},
		{"uri", mtls.Expected{SANURI: "spiffe://example.org/app"}, true},
		{"uri other", mtls.Expected{SANURI: "spiffe://example.org/other"}, false},
		{"ip", mtls.Expected{SANIP: "192.0.2.7"}, true},
		{"ip v4-mapped", mtls.Expected{SANIP: "::ffff:192.0.2.7"}, true},
		{"ip other", mtls.Expected{SANIP: "192.0.2.8"}, false},
		{"email domain case", mtls.Expected{SANEmail: "App@example.ORG"}, true},
		{"email local part case", mtls.Expected{SANEmail: "app@example.org"}, false},
		{"dn", mtls.Expected{SubjectDN: "CN=client"}, true},
		{"nothing registered", mtls.Expected{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Matches(leaf); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyChain(t *testing.T) {
	ca, other := testca.New(t), testca.New(t)
	good := ca.IssueClient(t, nil).Cert(t)
	now := time.Now()
	if err := mtls.VerifyChain([]*x509.Certificate{good}, ca.Pool(), now); err != nil {
		t.Fatal(err)
	}
	for name, chain := range map[string][]*x509.Certificate{
		"other CA":    {other.IssueClient(t, nil).Cert(t)},
		"self-signed": {testca.SelfSigned(t, nil).Cert(t)},
		"server cert": {ca.Issue(t).Cert(t)},
		"none":        nil,
	} {
		if err := mtls.VerifyChain(chain, ca.Pool(), now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if err := mtls.VerifyChain([]*x509.Certificate{good}, ca.Pool(), now.Add(48*time.Hour)); !errors.Is(err, mtls.ErrUntrusted) {
		t.Errorf("expired: %v", err)
	}
}

func TestMatchKey(t *testing.T) {
	self := testca.SelfSigned(t, nil)
	other := testca.SelfSigned(t, nil)
	set := func(l testca.Leaf, use string) []byte {
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &l.Key.PublicKey, Use: use, KeyID: "k"}}})
		return b
	}
	if !mtls.MatchKey(self.Cert(t), set(self, "sig")) {
		t.Fatal("own key not matched")
	}
	if mtls.MatchKey(self.Cert(t), set(other, "sig")) {
		t.Fatal("other key matched")
	}
	if mtls.MatchKey(self.Cert(t), set(self, "enc")) {
		t.Fatal("encryption key matched")
	}
	if mtls.MatchKey(self.Cert(t), []byte("nope")) {
		t.Fatal("garbage matched")
	}
}

func TestParseHeader(t *testing.T) {
	ca := testca.New(t)
	leaf := ca.IssueClient(t, nil)
	enc := url.QueryEscape(string(leaf.CertPEM)) // '+' for spaces, as some proxies do
	pathEnc := url.PathEscape(string(leaf.CertPEM))
	for _, v := range []string{enc, pathEnc, url.PathEscape(string(leaf.CertPEM) + string(ca.CertPEM()))} {
		chain, err := mtls.ParseHeader(v)
		if err != nil || len(chain) == 0 || mtls.Thumbprint(chain[0]) != mtls.Thumbprint(leaf.Cert(t)) {
			t.Fatalf("ParseHeader: %v %v", chain, err)
		}
	}
	for _, bad := range []string{"%zz", "junk", url.PathEscape(string(leaf.KeyPEM)), url.PathEscape(string(leaf.CertPEM) + "trailing"), strings.Repeat("A", mtls.MaxHeaderLen+1)} {
		if _, err := mtls.ParseHeader(bad); !errors.Is(err, mtls.ErrMalformed) {
			t.Errorf("ParseHeader(%.20q) = %v", bad, err)
		}
	}
}

// TestSourceHeaderOnlyFromTrustedProxy: the header is a client's to
// forge, so only a listed proxy's counts.
func TestSourceHeaderOnlyFromTrustedProxy(t *testing.T) {
	leaf := testca.New(t).IssueClient(t, nil)
	src := &mtls.Source{Header: "X-Client-Cert", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, tc := range []struct {
		name, remote string
		want         bool
	}{
		{"trusted proxy", "10.1.2.3:5555", true},
		{"trusted proxy, v4-mapped", "[::ffff:10.1.2.3]:5555", true},
		{"anyone else", "192.0.2.1:5555", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("X-Client-Cert", url.PathEscape(string(leaf.CertPEM)))
			r.Header.Set("X-Forwarded-For", "10.9.9.9") // never makes a peer trusted
			chain, err := src.Chain(r)
			if err != nil || (len(chain) == 1) != tc.want {
				t.Fatalf("Chain = %d certs, %v; want cert %v", len(chain), err, tc.want)
			}
		})
	}
	// Over the node's own TLS the handshake is the only source.
	r := httptest.NewRequest(http.MethodPost, "/token", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	r.TLS = &tls.ConnectionState{}
	r.Header.Set("X-Client-Cert", url.PathEscape(string(leaf.CertPEM)))
	if chain, _ := src.Chain(r); chain != nil {
		t.Fatal("header read on a TLS connection")
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add("")
	f.Add("-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, v string) {
		chain, err := mtls.ParseHeader(v)
		if err == nil && v != "" && len(chain) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}

func FuzzMatchDN(f *testing.F) {
	leaf := testca.SelfSigned(f, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "a+b", Organization: []string{"O"}}
	})
	cert := leaf.Cert(f)
	f.Add(`CN=a\+b,O=O`)
	f.Add(`CN=#0c03612b62,O=O`)
	f.Add(`OID.2.5.4.3=x+O=y;C=z`)
	f.Fuzz(func(t *testing.T, dn string) {
		ok := mtls.MatchDN(cert, dn)
		if ok && mtls.ParseDN(dn) != nil {
			t.Fatal("matched a DN that does not parse")
		}
	})
}
