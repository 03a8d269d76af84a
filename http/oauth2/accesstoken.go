package oauth2

import "strings"

// AccessToken is the claims set of our access tokens (RFC 9068 §2.2),
// written by the token endpoint and read by every endpoint that accepts
// one (userinfo, introspection, revocation): one shape for both sides.
// SID and GrantID name the Session grain and the grant behind the token,
// so a revoked grant stops its access tokens at once.
type AccessToken struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	ClientID  string   `json:"client_id"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	Expiry    int64    `json:"exp"`
	JTI       string   `json:"jti"`
	Scope     string   `json:"scope,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	SID       string   `json:"sid,omitempty"`
	GrantID   string   `json:"gid,omitempty"`
	// GrantClientID is, in a token exchanged from another client's
	// access token (RFC 8693), the client of the grant GrantID: the
	// token is ClientID's, the grant is not.
	GrantClientID string `json:"grant_client_id,omitempty"`
	// Act names the party acting for Subject in a delegated token (RFC
	// 8693 §4.1), nested for a chain of actors.
	Act *Actor `json:"act,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 §6.1) or a client
	// certificate (RFC 8705 §3.1): only a request with a proof by that
	// key, or over a connection with that certificate, may use it.
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim (RFC 7800 §3.1) of a bound token: the
// DPoP key's JWK SHA-256 thumbprint (RFC 9449 §6.1) and/or the client
// certificate's SHA-256 thumbprint (RFC 8705 §3.1).
type Confirmation struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// BoundKey is the DPoP key thumbprint the token is bound to, "" for a
// token not bound to a DPoP key.
func (at AccessToken) BoundKey() string {
	if at.Cnf == nil {
		return ""
	}
	return at.Cnf.JKT
}

// BoundCertificate is the client certificate thumbprint the token is
// bound to (x5t#S256), "" for a token not bound to a certificate.
func (at AccessToken) BoundCertificate() string {
	if at.Cnf == nil {
		return ""
	}
	return at.Cnf.X5TS256
}

// Actor is an act claim (RFC 8693 §4.1): the acting party, and the one
// it acted for in turn.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	Act     *Actor `json:"act,omitempty"`
}

// Scopes of the token.
func (t AccessToken) Scopes() []string { return strings.Fields(t.Scope) }
