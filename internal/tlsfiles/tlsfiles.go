// Package tlsfiles serves a TLS certificate and key read from files and
// follows them when they change: a renewal (certbot, cert-manager, an
// operator's cp) takes effect at the next handshake, without a restart.
//
// Every handshake looks at the two files (stat: size, modification time,
// identity, so a rename or a symlink swap counts); when they differ from
// the pair in use (or a chmod), the pair is read again. A replacement that does not
// load (a half-written file, a key that does not match, an expired
// certificate, a key others can read) is refused: the pair in use stays,
// the failure is reported once per change of the files, and connections
// go on. Key material never reaches an error or a log line.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// ErrPair wraps every refusal of a certificate/key pair.
var ErrPair = errors.New("tls: certificate/key pair refused")

// Options are a Pair's callbacks. Either may be nil.
type Options struct {
	// OnReload runs after a changed pair was loaded (not the first).
	OnReload func(leaf *x509.Certificate)
	// OnError runs when a changed pair was refused; the old one stays.
	OnError func(err error)
	// Now is the clock for expiry checks (time.Now when nil).
	Now func() time.Time
}

// Pair is a certificate and key from files, reloaded when they change.
type Pair struct {
	certFile, keyFile string
	opts              Options

	mu   sync.Mutex
	cert *tls.Certificate
	// seen is the files' stamp when last read, loaded or not: a failed
	// pair is not read again until the files change again.
	seen stamp
}

// stamp identifies the state of the two files on disk.
type stamp struct{ cert, key os.FileInfo }

func (s stamp) same(o stamp) bool { return sameFile(s.cert, o.cert) && sameFile(s.key, o.key) }

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}

// Load reads the pair once and fails with a clear error, naming the
// files, when it cannot serve: the node refuses to start on it.
func Load(certFile, keyFile string, opts Options) (*Pair, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Pair{certFile: certFile, keyFile: keyFile, opts: opts}
	st, err := p.stat()
	if err != nil {
		return nil, err
	}
	cert, err := p.load()
	if err != nil {
		return nil, err
	}
	p.cert, p.seen = cert, st
	return p, nil
}

func (p *Pair) stat() (stamp, error) {
	c, err := os.Stat(p.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: certificate %s: %w", ErrPair, p.certFile, err)
	}
	k, err := os.Stat(p.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: key %s: %w", ErrPair, p.keyFile, err)
	}
	return stamp{cert: c, key: k}, nil
}

// load reads and checks the pair. Its errors name the files but never
// quote them (crypto/tls's own errors carry no key bytes either).
func (p *Pair) load() (*tls.Certificate, error) {
	st, err := os.Stat(p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrPair, p.keyFile, err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		// Any local user could read it and impersonate the node.
		return nil, fmt.Errorf("%w: key %s is readable by other users (mode %v): chmod o-rwx it", ErrPair, p.keyFile, st.Mode().Perm())
	}
	certPEM, err := os.ReadFile(p.certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s: %w", ErrPair, p.certFile, err)
	}
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrPair, p.keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Mostly "private key does not match public key" or a file that
		// is not PEM: both are about the key file given with this
		// certificate.
		return nil, fmt.Errorf("%w: key %s with certificate %s: %w", ErrPair, p.keyFile, p.certFile, err)
	}
	if now := p.opts.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("%w: certificate %s expired on %s", ErrPair, p.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// Refresh reads the pair again if the files changed since they were
// last read. A pair that does not load is reported (OnError) and the
// one in use stays.
func (p *Pair) Refresh() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.stat()
	if err == nil && st.same(p.seen) {
		return
	}
	if err != nil {
		// A file gone (mid-rename, or removed): keep serving; report
		// once for this state of the files.
		if p.seen.cert == nil && p.seen.key == nil {
			return
		}
		p.seen = stamp{}
		p.report(err)
		return
	}
	p.seen = st
	cert, err := p.load()
	if err != nil {
		p.report(err)
		return
	}
	p.cert = cert
	if p.opts.OnReload != nil {
		p.opts.OnReload(cert.Leaf)
	}
}

func (p *Pair) report(err error) {
	if p.opts.OnError != nil {
		p.opts.OnError(err)
	}
}

// Certificate is the pair in use.
func (p *Pair) Certificate() *tls.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cert
}

// GetCertificate is tls.Config.GetCertificate: the current pair, after
// a look at the files.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.Refresh()
	return p.Certificate(), nil
}

// ServerConfig is the TLS configuration of a listener serving p: TLS 1.2
// at least (RFC 8996 deprecates 1.0 and 1.1; RFC 9325 §3.1.1), and Go's
// default cipher suites and curves (forward secrecy only: no RSA key
// exchange, no 3DES, no RC4). HTTP/2 is offered when http.Server.ServeTLS
// serves it.
func ServerConfig(p *Pair) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: p.GetCertificate}
}
