package connectors

import (
	"context"
	"errors"
	"net/url"
)

// Identity is who an upstream says signed in. Issuer and Subject key the
// link to a local user: they never change for one upstream account,
// whatever its email or name become.
type Identity struct {
	// ConnectorID is the configured id of the connector that signed the
	// user in (the ID token's idp claim).
	ConnectorID string
	// Issuer is the upstream's issuer identifier (for GitHub, its base
	// URL); Subject its stable id of the account.
	Issuer  string
	Subject string
	// Email counts for linking only when EmailVerified.
	Email             string
	EmailVerified     bool
	PreferredUsername string
	Name              string
	Groups            []string
	// AMR and ACR are the upstream's authentication methods and context
	// class, when it says (OIDC Core §2).
	AMR []string
	ACR string
	// Claims are the upstream's claims as received (ID token and
	// userinfo merged; for GitHub the /user document).
	Claims map[string]any
}

// Connector is one configured upstream.
type Connector interface {
	// ID is the configured id (in URLs, idp_hint and the idp claim).
	ID() string
	// Name is what the sign-in button says.
	Name() string
	// Type is oidc, google, github, ldap...
	Type() string
	// Provisioning says what a first sign-in of an unknown identity does.
	Provisioning() Provisioning
}

// Params are the per-attempt secrets of a redirect sign-in: the state
// (RFC 6749 §10.12), the nonce (OIDC Core §3.1.2.1) and the PKCE code
// verifier (RFC 7636). The caller makes them, keeps them bound to the
// browser, and hands the same ones to Callback.
type Params struct {
	State, Nonce, Verifier string
}

// Redirect is a connector the browser visits: the user signs in at the
// upstream, which redirects back with a code.
type Redirect interface {
	Connector
	// AuthCodeURL is where to send the browser.
	AuthCodeURL(ctx context.Context, redirectURI string, p Params) (string, error)
	// Callback turns the upstream's answer (the callback's query) into
	// the identity. The caller has checked the state already.
	Callback(ctx context.Context, redirectURI string, p Params, query url.Values) (Identity, error)
}

// Password is a connector that checks a username and password itself
// (LDAP): the sign-in form posts to it.
type Password interface {
	Connector
	Login(ctx context.Context, username, password string) (Identity, error)
}

// Provisioning is what a first upstream sign-in of an identity that is
// linked to no local user does.
type Provisioning string

const (
	// ProvisionJIT creates a local user (just in time).
	ProvisionJIT Provisioning = "jit"
	// ProvisionExistingOnly refuses: only identities linked to an
	// existing user (by an earlier confirmed link) may sign in.
	ProvisionExistingOnly Provisioning = "existing-only"
)

// Errors. Each failure of a sign-in wraps one of them; the text after the
// sentinel is for logs, not for the user.
var (
	// ErrUpstream: the upstream answered with an error (the user
	// cancelled, the code was refused...).
	ErrUpstream = errors.New("connectors: upstream refused")
	// ErrInvalidToken: the ID token (or an answer) is not acceptable:
	// bad signature, issuer, audience, expiry, nonce.
	ErrInvalidToken = errors.New("connectors: invalid upstream token")
	// ErrDenied: the identity is valid but this connector's rules refuse
	// it (domain, required claims, organisation, unverified email).
	ErrDenied = errors.New("connectors: identity not allowed")
	// ErrUnavailable: the upstream could not be reached or understood.
	ErrUnavailable = errors.New("connectors: upstream unavailable")
)
