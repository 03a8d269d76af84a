package directory

import (
	"slices"
	"time"
)

// Client authentication methods (RFC 7591 §2, OIDC Core §9), grant types
// and ID token signing algorithms a client may register.
var (
	AuthMethods     = []string{"client_secret_basic", "client_secret_post", "none", "private_key_jwt", AuthTLSClient, AuthSelfSignedTLSClient}
	GrantTypes      = []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeTokenExchange, DeviceCodeGrantType}
	IDTokenSignAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}
	// ResponseTypes a client may register (RFC 7591 §2): the code flow
	// only.
	ResponseTypes = []string{"code"}
	// RequestObjectSigningAlgs a client may register for its request
	// objects, and the node accepts from a client that registered none
	// of them (OIDC Dynamic Client Registration §2); "none" is unsigned.
	RequestObjectSigningAlgs = []string{"RS256", "PS256", "ES256", "EdDSA", "none"}
	// EncryptionAlgs and EncryptionEncs are the JWE key management and
	// content algorithms for encrypted ID tokens and userinfo responses
	// (and request objects encrypted to us, when we have keys for them).
	EncryptionAlgs = []string{"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
	EncryptionEncs = []string{"A128GCM", "A256GCM", "A128CBC-HS256"}
	// TokenEndpointAuthSigningAlgs are the JWS algorithms accepted for
	// private_key_jwt client assertions (discovery's
	// token_endpoint_auth_signing_alg_values_supported); a client may pin
	// one with token_endpoint_auth_signing_alg.
	TokenEndpointAuthSigningAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}
)

// Mutual-TLS client authentication methods (RFC 8705 §2.1, §2.2).
const (
	AuthTLSClient           = "tls_client_auth"
	AuthSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// DefaultEncryptionEnc is the content encryption when a client names only
// the key algorithm (OIDC Dynamic Client Registration §2).
const DefaultEncryptionEnc = "A128CBC-HS256"

// DefaultIDTokenAlg is the ID token algorithm when a client names none
// (OIDC Dynamic Client Registration §2: RS256 is the default).
const DefaultIDTokenAlg = "RS256"

// DefaultAuthorizationResponseAlg signs JWT Secured Authorization
// Responses of a client that names no authorization_signed_response_alg
// (JARM §3: RS256 is the default).
const DefaultAuthorizationResponseAlg = "RS256"

// Limits on client registrations, so a record stays small.
const (
	MaxClientIDLen   = 128
	MinSecretLen     = 32
	MaxSecretLen     = 512
	maxClientNameLen = 256
	maxURIs          = 64
	maxJWKSLen       = 64 * 1024
	minRSABits       = 2048
)

// ClientMetadata is a client's registration metadata under its RFC 7591
// §2 names (and those of OIDC Dynamic Client Registration §2, RFC 9101
// §10.5 and RFC 9126 §6; skip_consent and require_pkce are Authrim's).
// It is the one shape of that metadata: the directory record (Client),
// the input of CreateClient and NewStaticClient (NewClient), a
// registration request, the admin API's request and view, and a static
// client in config.yaml (node.ClientConfig, through the yaml tags) all
// embed it, and ValidateClient is its one rule set. Empty fields mean
// "not used" or the default.
type ClientMetadata struct {
	// Name is shown to users on the consent page.
	Name string `json:"client_name,omitempty" yaml:"client_name"`
	// RedirectURIs are where /authorize may send the user back, matched
	// exactly (CheckRedirectURI has the rules).
	RedirectURIs []string `json:"redirect_uris,omitempty" yaml:"redirect_uris"`
	// PostLogoutRedirectURIs are where logout may send the user back.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty" yaml:"post_logout_redirect_uris"`
	// AuthMethod is how the client authenticates at the token endpoint:
	// one of AuthMethods.
	AuthMethod string `json:"token_endpoint_auth_method" yaml:"token_endpoint_auth_method"`
	// GrantTypes are the grants the client may use (GrantTypes).
	GrantTypes []string `json:"grant_types" yaml:"grant_types"`
	// ResponseTypes: only "code"; left out it is [code] for a client
	// with the authorization_code grant (RFC 7591 §2).
	ResponseTypes []string `json:"response_types,omitempty" yaml:"response_types"`
	// IDTokenSignedResponseAlg is the ID token's JWS algorithm; empty
	// means DefaultIDTokenAlg.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg" yaml:"id_token_signed_response_alg"`
	// JWKS is the client's public key set, inline.
	JWKS JWKS `json:"jwks,omitempty" yaml:"jwks"`
	// JWKSURI is where the client publishes its keys (https); a client
	// has jwks or jwks_uri, never both (RFC 7591 §2).
	JWKSURI string `json:"jwks_uri,omitempty" yaml:"jwks_uri"`
	// SkipConsent marks a first-party client whose users are not asked
	// (never through /register).
	SkipConsent bool `json:"skip_consent,omitempty" yaml:"skip_consent"`
	// RequestURIs are the request_uri values the client may send (https);
	// only these are fetched.
	RequestURIs []string `json:"request_uris,omitempty" yaml:"request_uris"`
	// ApplicationType is "web" (default) or "native".
	ApplicationType string `json:"application_type,omitempty" yaml:"application_type"`
	// RequestObjectSigningAlg, when set, is the only alg accepted for the
	// client's request objects; empty accepts any of
	// RequestObjectSigningAlgs, unsigned ones included unless the node
	// requires signed objects.
	RequestObjectSigningAlg    string `json:"request_object_signing_alg,omitempty" yaml:"request_object_signing_alg"`
	RequestObjectEncryptionAlg string `json:"request_object_encryption_alg,omitempty" yaml:"request_object_encryption_alg"`
	RequestObjectEncryptionEnc string `json:"request_object_encryption_enc,omitempty" yaml:"request_object_encryption_enc"`
	// RequirePAR: authorization requests only through /par.
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty" yaml:"require_pushed_authorization_requests"`
	// DPoPBoundAccessTokens: the client always uses DPoP; token requests
	// without a proof are refused (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty" yaml:"dpop_bound_access_tokens"`
	// TLSClientAuth is, for tls_client_auth, what the client's
	// certificate must name (RFC 8705 §2.1.2): exactly one of its fields.
	TLSClientAuth `yaml:",inline"`
	// TLSClientCertificateBoundAccessTokens: the client's access tokens
	// are bound to the certificate it presents at the token endpoint
	// (RFC 8705 §3, cnf x5t#S256); token requests without one are
	// refused.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty" yaml:"tls_client_certificate_bound_access_tokens"`
	// TokenEndpointAuthSigningAlg, when set, is the only alg accepted
	// for the client's private_key_jwt assertions (OIDC Dynamic Client
	// Registration §2).
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty" yaml:"token_endpoint_auth_signing_alg"`
	// RequirePKCE: authorization requests must carry an S256
	// code_challenge. Unset means true (RFC 9700 §2.1.1); only a
	// confidential client may turn it off (a legacy RP without PKCE),
	// and still gets PKCE checked when it sends a challenge.
	RequirePKCE                  *bool  `json:"require_pkce,omitempty" yaml:"require_pkce"`
	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg,omitempty" yaml:"id_token_encrypted_response_alg"`
	IDTokenEncryptedResponseEnc  string `json:"id_token_encrypted_response_enc,omitempty" yaml:"id_token_encrypted_response_enc"`
	UserinfoSignedResponseAlg    string `json:"userinfo_signed_response_alg,omitempty" yaml:"userinfo_signed_response_alg"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg,omitempty" yaml:"userinfo_encrypted_response_alg"`
	UserinfoEncryptedResponseEnc string `json:"userinfo_encrypted_response_enc,omitempty" yaml:"userinfo_encrypted_response_enc"`
	// AuthorizationSignedResponseAlg signs the client's JWT Secured
	// Authorization Responses (JARM §3); empty means
	// DefaultAuthorizationResponseAlg when a jwt response mode is used.
	AuthorizationSignedResponseAlg string `json:"authorization_signed_response_alg,omitempty" yaml:"authorization_signed_response_alg"`
	// AuthorizationEncryptedResponseAlg/Enc encrypt them to the client's
	// key after signing (JARM §3); enc defaults to DefaultEncryptionEnc.
	AuthorizationEncryptedResponseAlg string `json:"authorization_encrypted_response_alg,omitempty" yaml:"authorization_encrypted_response_alg"`
	AuthorizationEncryptedResponseEnc string `json:"authorization_encrypted_response_enc,omitempty" yaml:"authorization_encrypted_response_enc"`
	// BackchannelLogoutURI is where the node POSTs a logout token when a
	// session the client got an ID token of ends (OpenID Connect
	// Back-Channel Logout 1.0 §2.2): https, no fragment, not a private
	// address unless requests.fetch.allow_private_addresses.
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty" yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired: the logout token carries sid
	// (Back-Channel Logout 1.0 §2.2).
	BackchannelLogoutSessionRequired bool `json:"backchannel_logout_session_required,omitempty" yaml:"backchannel_logout_session_required"`
	// FrontchannelLogoutURI is loaded in an iframe of the logout page
	// (OpenID Connect Front-Channel Logout 1.0 §2): on the origin of one
	// of the redirect URIs.
	FrontchannelLogoutURI string `json:"frontchannel_logout_uri,omitempty" yaml:"frontchannel_logout_uri"`
	// FrontchannelLogoutSessionRequired: the iframe's URL carries iss
	// and sid query parameters (Front-Channel Logout 1.0 §2).
	FrontchannelLogoutSessionRequired bool `json:"frontchannel_logout_session_required,omitempty" yaml:"frontchannel_logout_session_required"`
	// TokenExchange is what the client may do at the token exchange
	// grant (RFC 8693; clients_exchange.go). Never through /register.
	// The zero policy is none.
	TokenExchange TokenExchangePolicy `json:"token_exchange,omitzero" yaml:"token_exchange"`
	// MFAPolicy is the client's second-factor policy (MFANone,
	// MFAOptional, MFARequired; empty: the node's). The stricter of it
	// and the node's mfa.policy applies, so a client can only ask for
	// more.
	MFAPolicy string `json:"mfa_policy,omitempty" yaml:"mfa_policy"`
	// Profile is the security profile the client is held to: "" (none)
	// or ProfileFAPI2 (fapi2.go). The node's profile applies to every
	// client on top of it (Options.Profile).
	Profile string `json:"profile,omitempty" yaml:"profile"`
	// RequireVerifiedEmail: only users whose email claim is verified
	// sign in to this client; others are offered the verification mail
	// instead of a code.
	RequireVerifiedEmail bool `json:"require_verified_email,omitempty" yaml:"require_verified_email"`
}

// TLSClientAuth is the subject a tls_client_auth client's certificate
// must have (RFC 8705 §2.1.2): an RFC 4514 subject DN, or one
// subjectAltName of a type.
type TLSClientAuth struct {
	SubjectDN string `json:"tls_client_auth_subject_dn,omitempty" yaml:"tls_client_auth_subject_dn"`
	SANDNS    string `json:"tls_client_auth_san_dns,omitempty" yaml:"tls_client_auth_san_dns"`
	SANURI    string `json:"tls_client_auth_san_uri,omitempty" yaml:"tls_client_auth_san_uri"`
	SANIP     string `json:"tls_client_auth_san_ip,omitempty" yaml:"tls_client_auth_san_ip"`
	SANEmail  string `json:"tls_client_auth_san_email,omitempty" yaml:"tls_client_auth_san_email"`
}

// set are the fields given, by their RFC 8705 names.
func (t TLSClientAuth) set() []string {
	var out []string
	for _, f := range []struct{ name, v string }{
		{"tls_client_auth_subject_dn", t.SubjectDN}, {"tls_client_auth_san_dns", t.SANDNS},
		{"tls_client_auth_san_uri", t.SANURI}, {"tls_client_auth_san_ip", t.SANIP},
		{"tls_client_auth_san_email", t.SANEmail},
	} {
		if f.v != "" {
			out = append(out, f.name)
		}
	}
	return out
}

// Second-factor policies, from least to most strict: none never asks for
// a second factor; optional asks users who enrolled one; required also
// makes users without one enrol at sign-in. A passkey sign-in is
// multi-factor under every policy.
const (
	MFANone     = "none"
	MFAOptional = "optional"
	MFARequired = "required"
)

// StricterMFA returns the stricter of two policies ("" counts as none).
func StricterMFA(a, b string) string {
	rank := func(p string) int {
		switch p {
		case MFARequired:
			return 2
		case MFAOptional:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	if a == "" {
		return MFANone
	}
	return a
}

// Client is a registered client (relying party). Stored clients are
// created through CreateClient; static ones come from config.yaml through
// NewStaticClient. SecretHash is a hash of the client secret; front ends
// must not show it.
type Client struct {
	ID         string `json:"client_id"`
	SecretHash string `json:"secret_hash,omitempty"`
	ClientMetadata
	// RegistrationTokenHash is the hash of the RFC 7592 registration
	// access token of a client registered through /register.
	RegistrationTokenHash string `json:"registration_token_hash,omitempty"`
	// Static is true for clients from config.yaml (never stored).
	Static bool `json:"static,omitempty"`
	// MetadataDocument is true for a client whose client_id is the URL
	// of its metadata document (ParseClientDocument): resolved when
	// used, never stored.
	MetadataDocument bool      `json:"metadata_document,omitempty"`
	Created          time.Time `json:"created"`
}

// NewClient is the input of CreateClient and NewStaticClient. Empty ID:
// one is generated. Empty Secret with a client_secret_* method: one is
// generated. Empty IDTokenSignedResponseAlg: DefaultIDTokenAlg.
type NewClient struct {
	ID     string
	Secret string
	ClientMetadata
}

// PKCERequired tells whether the client's authorization requests need a
// code_challenge: always, unless a confidential client opted out.
func (m ClientMetadata) PKCERequired() bool {
	return m.FAPI2() || m.RequirePKCE == nil || *m.RequirePKCE
}

// WithDefaults is m as it applies: the defaults of the fields left out
// filled in (ID token alg, response types, encryption encs, require_pkce)
// and jwks compacted. Records are stored this way, so the record and
// every view of it say what applies; views of records stored before a
// field existed use it too. The slices are fresh copies.
func (m ClientMetadata) WithDefaults() ClientMetadata {
	m = m.clone()
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = DefaultIDTokenAlg
	}
	if len(m.ResponseTypes) == 0 && slices.Contains(m.GrantTypes, "authorization_code") {
		m.ResponseTypes = []string{"code"}
	}
	m.JWKS = m.JWKS.compacted()
	// A fresh pointer, never shared with the caller's input.
	// As registered: a profile that requires PKCE (FAPI2) makes a false
	// a problem to report, not a value to overwrite.
	required := m.RequirePKCE == nil || *m.RequirePKCE
	m.RequirePKCE = &required
	if m.IDTokenEncryptedResponseAlg != "" && m.IDTokenEncryptedResponseEnc == "" {
		m.IDTokenEncryptedResponseEnc = DefaultEncryptionEnc
	}
	if m.UserinfoEncryptedResponseAlg != "" && m.UserinfoEncryptedResponseEnc == "" {
		m.UserinfoEncryptedResponseEnc = DefaultEncryptionEnc
	}
	if m.AuthorizationEncryptedResponseAlg != "" && m.AuthorizationEncryptedResponseEnc == "" {
		m.AuthorizationEncryptedResponseEnc = DefaultEncryptionEnc
	}
	if m.RequestObjectEncryptionAlg != "" && m.RequestObjectEncryptionEnc == "" {
		m.RequestObjectEncryptionEnc = DefaultEncryptionEnc
	}
	return m
}

// clone copies the slices (and the require_pkce pointer) so the copy
// shares nothing with m.
func (m ClientMetadata) clone() ClientMetadata {
	m.RedirectURIs = slices.Clone(m.RedirectURIs)
	m.PostLogoutRedirectURIs = slices.Clone(m.PostLogoutRedirectURIs)
	m.GrantTypes = slices.Clone(m.GrantTypes)
	m.ResponseTypes = slices.Clone(m.ResponseTypes)
	m.JWKS = slices.Clone(m.JWKS)
	m.RequestURIs = slices.Clone(m.RequestURIs)
	m.TokenExchange = m.TokenExchange.clone()
	if m.RequirePKCE != nil {
		v := *m.RequirePKCE
		m.RequirePKCE = &v
	}
	return m
}

// cloneClient copies the slices so callers cannot change the static set.
func cloneClient(c Client) Client {
	c.ClientMetadata = c.ClientMetadata.clone()
	return c
}

// DeviceCodeGrantType is the device authorization grant (RFC 8628 §3.4).
const DeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"
