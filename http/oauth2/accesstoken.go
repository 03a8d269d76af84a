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
}

// Scopes of the token.
func (t AccessToken) Scopes() []string { return strings.Fields(t.Scope) }
