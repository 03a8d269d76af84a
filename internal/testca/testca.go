// Package testca is a certificate authority for tests: it issues server
// certificates for loopback names into files, the way an operator (or
// certbot) puts them on disk, and gives the pool that trusts them.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA signs test certificates.
type CA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// New makes a CA valid from an hour ago for a day.
func New(t testing.TB) *CA {
	t.Helper()
	key := mustKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "Authrim test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{key: key, cert: cert}
}

// Pool trusts the CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Leaf is an issued certificate and its key, PEM-encoded.
type Leaf struct {
	Serial *big.Int
	// Key is the certificate's private key.
	Key      *ecdsa.PrivateKey
	CertPEM  []byte
	KeyPEM   []byte
	NotAfter time.Time
}

// Issue makes a server certificate for localhost and the loopback
// addresses, valid for a day.
func (c *CA) Issue(t testing.TB) Leaf {
	t.Helper()
	key := mustKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Leaf{
		Serial:   tmpl.SerialNumber,
		Key:      key,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		NotAfter: tmpl.NotAfter,
	}
}

// IssueClient makes a client certificate (extended key usage
// clientAuth) valid for a day, subject CN "client", which edit may
// change (subject, SANs) before it is signed.
func (c *CA) IssueClient(t testing.TB, edit func(*x509.Certificate)) Leaf {
	t.Helper()
	return issueClient(t, c.cert, c.key, edit)
}

// SelfSigned makes a self-signed client certificate (RFC 8705 §2.2),
// subject CN "client", which edit may change.
func SelfSigned(t testing.TB, edit func(*x509.Certificate)) Leaf {
	t.Helper()
	return issueClient(t, nil, nil, edit)
}

func issueClient(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) Leaf {
	key := mustKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Leaf{
		Serial: tmpl.SerialNumber, Key: key,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		NotAfter: tmpl.NotAfter,
	}
}

// TLS is the leaf as a tls.Certificate, for a client's tls.Config.
func (l Leaf) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Cert is the leaf, parsed.
func (l Leaf) Cert(t testing.TB) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(l.CertPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WriteFile replaces path with data (mode 0600) the way renewal tools
// do: write a file beside it, then rename it over (readers see the old
// file or the new one, never half of one).
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Write puts l into dir as cert.pem and key.pem and returns their paths.
func (l Leaf) Write(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	WriteFile(t, keyFile, l.KeyPEM)
	WriteFile(t, certFile, l.CertPEM)
	return certFile, keyFile
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// CertPEM is the CA's certificate, PEM-encoded: what a client's trust
// file (requests.fetch.ca_file) holds.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}
