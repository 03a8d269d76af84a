package connectors

import (
	"context"
	"errors"
	"fmt"

	"authrim/connectors/ldap"
)

// ErrInvalidCredentials: a Password connector refused the username and
// password (wrong password, unknown or ambiguous username). The sign-in
// form then tries the local accounts.
var ErrInvalidCredentials = errors.New("connectors: invalid username or password")

// LDAPIssuer is the issuer of the identities of ldap connector id: the
// links of its users are keyed by it and the entry's subject attribute
// (entryUUID, objectGUID). It names the connector, not the directory's
// host, so that moving the directory keeps the links; renaming the
// connector's id does not.
func LDAPIssuer(id string) string { return "urn:authrim:ldap:" + id }

// ldapConn is an ldap connector: the sign-in form's username and
// password, checked against the directory.
type ldapConn struct {
	base
	dir *ldap.Connector
}

func newLDAP(c Config) (*ldapConn, error) {
	dir, err := ldap.New(c.LDAP)
	if err != nil {
		return nil, fmt.Errorf("connectors[%s].ldap: %w", c.ID, err)
	}
	return &ldapConn{base: base{cfg: c}, dir: dir}, nil
}

// Login checks the password against the directory. A refusal of the
// credentials is ErrInvalidCredentials; a directory that cannot be used
// (down, untrusted certificate, service account refused, timeout) is
// ErrUnavailable; the connector's rules (allowed_domains,
// required_claims) are ErrDenied.
func (l *ldapConn) Login(ctx context.Context, username, password string) (Identity, error) {
	e, err := l.dir.Authenticate(ctx, username, password)
	if errors.Is(err, ldap.ErrInvalidCredentials) {
		return Identity{}, ErrInvalidCredentials
	}
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	claims := map[string]any{"sub": e.Subject, "preferred_username": e.Username, "dn": e.DN}
	if e.Email != "" {
		claims["email"], claims["email_verified"] = e.Email, e.EmailVerified
	}
	if e.Name != "" {
		claims["name"] = e.Name
	}
	if len(e.Groups) > 0 {
		claims["groups"] = e.Groups
	}
	id := Identity{
		ConnectorID: l.cfg.ID, Issuer: LDAPIssuer(l.cfg.ID), Subject: e.Subject,
		Email: e.Email, EmailVerified: e.EmailVerified && e.Email != "", PreferredUsername: e.Username, Name: e.Name,
		Groups: e.Groups, AMR: []string{"pwd"}, Claims: claims,
	}
	if err := l.admit(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}
