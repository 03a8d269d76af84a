package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/internal/testca"
	"authrim/internal/tlsfiles"
)

// recorder collects a Pair's callbacks.
type recorder struct {
	mu       sync.Mutex
	errs     []error
	reloaded []*x509.Certificate
}

func (r *recorder) opts() tlsfiles.Options {
	return tlsfiles.Options{
		OnError:  func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() },
		OnReload: func(c *x509.Certificate) { r.mu.Lock(); r.reloaded = append(r.reloaded, c); r.mu.Unlock() },
	}
}

func (r *recorder) counts() (errs, reloads int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs), len(r.reloaded)
}

func serving(p *tlsfiles.Pair) string { return p.Certificate().Leaf.SerialNumber.String() }

// TestLoadRefuses: a pair that cannot serve stops the start, with an
// error that names the file at fault and never holds key bytes.
func TestLoadRefuses(t *testing.T) {
	ca := testca.New(t)
	a, b := ca.Issue(t), ca.Issue(t)
	for _, tc := range []struct {
		name      string
		cert, key []byte
		keyMode   os.FileMode
		now       time.Time
		noCert    bool
		wantInErr string
	}{
		{name: "key of another certificate", cert: a.CertPEM, key: b.KeyPEM, keyMode: 0o600, wantInErr: "key.pem with certificate"},
		{name: "key not PEM", cert: a.CertPEM, key: []byte("not a key"), keyMode: 0o600, wantInErr: "key.pem"},
		{name: "certificate not PEM", cert: []byte("nope"), key: a.KeyPEM, keyMode: 0o600, wantInErr: "cert.pem"},
		{name: "certificate missing", noCert: true, key: a.KeyPEM, keyMode: 0o600, wantInErr: "cert.pem"},
		{name: "key readable by others", cert: a.CertPEM, key: a.KeyPEM, keyMode: 0o644, wantInErr: "readable by other users"},
		{name: "expired", cert: a.CertPEM, key: a.KeyPEM, keyMode: 0o600, now: a.NotAfter.Add(time.Second), wantInErr: "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			if !tc.noCert {
				if err := os.WriteFile(certFile, tc.cert, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(keyFile, tc.key, tc.keyMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(keyFile, tc.keyMode); err != nil { // umask
				t.Fatal(err)
			}
			opts := tlsfiles.Options{}
			if !tc.now.IsZero() {
				opts.Now = func() time.Time { return tc.now }
			}
			_, err := tlsfiles.Load(certFile, keyFile, opts)
			if !errors.Is(err, tlsfiles.ErrPair) {
				t.Fatalf("Load = %v, want ErrPair", err)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not say %q", err, tc.wantInErr)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(a.KeyPEM[30:60])) {
				t.Errorf("error quotes key material: %q", err)
			}
		})
	}
}

// TestReload: a renewed pair is served from the next handshake on; a
// broken replacement is refused once (reported once) and the old pair
// stays, until a good pair arrives.
func TestReload(t *testing.T) {
	ca := testca.New(t)
	first, second, third := ca.Issue(t), ca.Issue(t), ca.Issue(t)
	dir := t.TempDir()
	certFile, keyFile := first.Write(t, dir)
	var rec recorder
	p, err := tlsfiles.Load(certFile, keyFile, rec.opts())
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		c, err := p.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	if got := get(); got != first.Serial.String() {
		t.Fatalf("serving %s, want the first certificate", got)
	}

	second.Write(t, dir)
	if got := get(); got != second.Serial.String() {
		t.Fatalf("after renewal serving %s, want the second certificate", got)
	}

	// The attacker's (or a botched script's) move: a certificate whose
	// key is not the one beside it. The node must keep serving.
	testca.WriteFile(t, certFile, third.CertPEM)
	for range 3 {
		if got := get(); got != second.Serial.String() {
			t.Fatalf("after a mismatched replacement serving %s, want the second certificate still", got)
		}
	}
	if errs, reloads := rec.counts(); errs != 1 || reloads != 1 {
		t.Fatalf("callbacks: %d errors, %d reloads; want 1 and 1", errs, reloads)
	}
	// A key readable by everyone is refused the same way.
	testca.WriteFile(t, keyFile, third.KeyPEM)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != second.Serial.String() {
		t.Fatalf("with a world-readable key serving %s, want the second certificate still", got)
	}
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != third.Serial.String() {
		t.Fatalf("after the key was fixed serving %s, want the third certificate", got)
	}
	// A file that vanishes (mid-rename) is reported; the pair stays.
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != third.Serial.String() {
		t.Fatalf("without the certificate file serving %s, want the third certificate still", got)
	}
	if errs, reloads := rec.counts(); errs != 3 || reloads != 2 {
		t.Fatalf("callbacks: %d errors, %d reloads; want 3 and 2", errs, reloads)
	}
	if s := serving(p); s != third.Serial.String() {
		t.Fatalf("Certificate() = %s", s)
	}
}

// TestServerConfigMinimum: TLS 1.0 and 1.1 are off (RFC 8996).
func TestServerConfigMinimum(t *testing.T) {
	ca := testca.New(t)
	certFile, keyFile := ca.Issue(t).Write(t, t.TempDir())
	p, err := tlsfiles.Load(certFile, keyFile, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v := tlsfiles.ServerConfig(p).MinVersion; v != tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x", v)
	}
}
