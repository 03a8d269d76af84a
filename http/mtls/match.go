package mtls

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Errors of the matching rules. Their text is safe to show a client.
var (
	ErrNoCertificate = errors.New("mtls: no client certificate")
	ErrUntrusted     = errors.New("mtls: client certificate does not chain to a trusted CA")
	ErrNoMatch       = errors.New("mtls: client certificate does not match the registration")
)

// Expected is what a tls_client_auth client registered its certificate
// must name (RFC 8705 §2.1.2): exactly one of these is set.
type Expected struct {
	SubjectDN, SANDNS, SANURI, SANIP, SANEmail string
}

// Matches reports whether leaf names what e expects. A registration with
// none set matches nothing.
func (e Expected) Matches(leaf *x509.Certificate) bool {
	switch {
	case e.SubjectDN != "":
		return MatchDN(leaf, e.SubjectDN)
	case e.SANDNS != "":
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, e.SANDNS) {
				return true
			}
		}
	case e.SANURI != "":
		for _, u := range leaf.URIs {
			if u.String() == e.SANURI {
				return true
			}
		}
	case e.SANIP != "":
		want := net.ParseIP(e.SANIP)
		for _, ip := range leaf.IPAddresses {
			if want != nil && ip.Equal(want) {
				return true
			}
		}
	case e.SANEmail != "":
		for _, m := range leaf.EmailAddresses {
			if sameEmail(m, e.SANEmail) {
				return true
			}
		}
	}
	return false
}

// sameEmail compares addresses with the local part exact and the domain
// without regard to case (RFC 5280 §7.5).
func sameEmail(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ia < 0 || ib < 0 {
		return false
	}
	return a[:ia] == b[:ib] && strings.EqualFold(a[ia:], b[ib:])
}

// VerifyChain checks that chain (leaf first, as presented) leads to one
// of roots and that the leaf may be used for client authentication, at
// now (RFC 8705 §2.1: PKI method).
func VerifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return ErrNoCertificate
	}
	if roots == nil {
		return ErrUntrusted
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return ErrUntrusted
	}
	return nil
}

// MatchKey reports whether the leaf's public key is one of the keys of
// the JWK set jwks (RFC 8705 §2.2: self-signed certificate method; no
// chain is checked, the registration is the trust). Encryption keys do
// not count.
func MatchKey(leaf *x509.Certificate, jwks []byte) bool {
	var set jose.JSONWebKeySet
	if leaf == nil || json.Unmarshal(jwks, &set) != nil {
		return false
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	for _, k := range set.Keys {
		if k.Use == "enc" || !k.Valid() {
			continue
		}
		if pub.Equal(k.Public().Key) {
			return true
		}
	}
	return false
}
