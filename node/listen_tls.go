package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"authrim/internal/tlsfiles"
)

// ListenerTLS is a listener's certificate and key (PEM files). Both
// empty: the listener speaks plain http. The files are read again when
// they change (a renewal needs no restart); a replacement that does not
// load is refused and the pair in use stays.
type ListenerTLS struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is its private key; other users must not be able to read it.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether the listener serves https.
func (t ListenerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// listenerTLSProblems checks http.tls, admin.tls and metrics.tls, and
// that the public listener is not plain http on the network by accident.
// The files themselves are read at start (loadListenerTLS): Validate has
// no side effects and reads nothing.
func (c Config) listenerTLSProblems(add func(key, format string, args ...any)) {
	for _, l := range []struct {
		key, listenKey, listen string
		tls                    ListenerTLS
	}{
		{"http.tls", "http.listen", c.HTTP.Listen, c.HTTP.TLS},
		{"admin.tls", "admin.listen", c.Admin.Listen, c.Admin.TLS},
		{"metrics.tls", "metrics.listen", c.Metrics.Listen, c.Metrics.TLS},
	} {
		if !l.tls.Enabled() {
			continue
		}
		if l.tls.CertFile == "" || l.tls.KeyFile == "" {
			add(l.key, "cert_file and key_file go together: set both, or neither")
		}
		if l.listen == "" {
			add(l.key, "is set but %s is empty (nothing would serve it)", l.listenKey)
		}
	}
	h := c.HTTP
	switch {
	case h.TLS.Enabled() && h.InsecurePlaintext:
		add("http.insecure_plaintext", "must not be set with http.tls (the listener serves https)")
	case h.TLS.Enabled():
		if u, err := url.Parse(c.Issuer); err == nil && u.Scheme == "http" {
			// Discovery would advertise http endpoints that nothing serves.
			add("issuer", "must be https when http.tls is set (the node serves https), got %q", c.Issuer)
		}
	case h.InsecurePlaintext || len(h.TrustedProxies) > 0:
		// Plain http on purpose: behind a proxy that terminates TLS (it
		// is named in trusted_proxies), or the operator's explicit opt-in.
	case c.localIssuer():
		// An http://localhost issuer: every URL the node hands out is on
		// this machine, so its clients are here (a container whose port
		// is published on loopback, an SSH tunnel). Warned at start.
	default:
		if c.plaintextOffLoopback() {
			// Passwords, session cookies, codes and tokens would cross
			// the network in the clear (RFC 6749 §10.9, OIDC Core §16.17).
			add("http.listen", "%q is not a loopback address and http.tls is not set: passwords and tokens would cross the network in plaintext. "+
				"Set http.tls.cert_file and http.tls.key_file; or, behind a proxy that terminates TLS, list it in http.trusted_proxies; "+
				"or, knowing the risk, set http.insecure_plaintext: true", h.Listen)
		}
	}
}

// localIssuer reports an http issuer on a loopback host (Validate allows
// no other http issuer).
func (c Config) localIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "http" && isLoopbackHost(u.Hostname())
}

// plaintextOffLoopback reports a public listener that speaks plain http
// on an address others may reach.
func (c Config) plaintextOffLoopback() bool {
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	return err == nil && !isLoopbackHost(host) && !c.HTTP.TLS.Enabled()
}

// plaintextWarning is logged at start for a public listener that Validate
// let speak plain http off loopback ("" when there is nothing to say).
func (c Config) plaintextWarning() string {
	switch {
	case !c.plaintextOffLoopback():
		return ""
	case c.HTTP.InsecurePlaintext:
		return "http.insecure_plaintext is on: passwords and tokens cross the network in plaintext"
	case len(c.HTTP.TrustedProxies) > 0:
		return "" // the proxy terminates TLS
	}
	return "http.listen is not a loopback address and serves plain http under a localhost issuer: publish the port on loopback only (anyone else who reaches it sees passwords in plaintext)"
}

// listenerTLS are the loaded pairs of the listeners that serve https.
type listenerTLS struct{ http, admin, metrics *tlsfiles.Pair }

// loadListenerTLS reads every configured pair, so that a node whose
// files are missing, unreadable, mismatched or expired refuses to start
// before it opens anything. Reload outcomes are logged (never the key)
// and counted once the telemetry exists.
func (n *Node) loadListenerTLS() error {
	for _, l := range []struct {
		name string
		cfg  ListenerTLS
		dst  **tlsfiles.Pair
	}{
		{"http", n.cfg.HTTP.TLS, &n.tls.http},
		{"admin", n.cfg.Admin.TLS, &n.tls.admin},
		{"metrics", n.cfg.Metrics.TLS, &n.tls.metrics},
	} {
		if !l.cfg.Enabled() {
			continue
		}
		name := l.name
		p, err := tlsfiles.Load(l.cfg.CertFile, l.cfg.KeyFile, tlsfiles.Options{
			Now: n.now,
			OnReload: func(leaf *x509.Certificate) {
				n.logger.Info("tls certificate reloaded", "audit", true, "listener", name,
					"serial", leaf.SerialNumber.Text(16), "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
				if n.tel != nil {
					n.tel.TLSReloads.WithLabelValues(name, "ok").Inc()
				}
			},
			OnError: func(err error) {
				n.logger.Error("tls certificate reload refused: serving the previous one", "audit", true, "listener", name, "err", err)
				if n.tel != nil {
					n.tel.TLSReloads.WithLabelValues(name, "refused").Inc()
				}
			},
		})
		if err != nil {
			return fmt.Errorf("node: %s.tls: %w", name, err)
		}
		*l.dst = p
	}
	return nil
}

// tlsConfig is the server configuration for pair p (nil: plain http).
func tlsConfig(p *tlsfiles.Pair) *tls.Config {
	if p == nil {
		return nil
	}
	return tlsfiles.ServerConfig(p)
}

// tlsErrorLog is the error log of a listener serving https: failed
// handshakes (scanners, clients offering only TLS 1.0/1.1, a client that
// does not trust the certificate) are anyone's to cause, so they are
// debug lines, not warnings a hostile network could flood the log with.
// Other server errors stay warnings.
func (n *Node) tlsErrorLog(listener string) *log.Logger {
	return log.New(errorLogWriter{logger: n.logger, listener: listener}, "", 0)
}

type errorLogWriter struct {
	logger   *slog.Logger
	listener string
}

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	w.logger.Log(context.Background(), level, "http server error", "listener", w.listener, "err", msg)
	return len(p), nil
}
