package directory

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/internal/memo"
	"authrim/persistence"
)

// Client authentication methods (RFC 7591 §2, OIDC Core §9), grant types
// and ID token signing algorithms a client may register.
var (
	AuthMethods     = []string{"client_secret_basic", "client_secret_post", "none", "private_key_jwt"}
	GrantTypes      = []string{"authorization_code", "refresh_token", "client_credentials"}
	IDTokenSignAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}
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

// DefaultEncryptionEnc is the content encryption when a client names only
// the key algorithm (OIDC Dynamic Client Registration §2).
const DefaultEncryptionEnc = "A128CBC-HS256"

// DefaultIDTokenAlg is the ID token algorithm when a client names none
// (OIDC Dynamic Client Registration §2: RS256 is the default).
const DefaultIDTokenAlg = "RS256"

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

// secretHashPrefix marks how SecretHash was made. SHA-256 without salt or
// stretching is right here, unlike for passwords: client secrets are long
// random strings (generated ones carry 256 bits), so there is nothing to
// guess and a fast hash costs an attacker as much as a slow one.
const secretHashPrefix = "sha256:"

// Client is a registered client (relying party). Stored clients are
// created through CreateClient; static ones come from config.yaml through
// NewStaticClient. SecretHash is a hash of the client secret; front ends
// must not show it.
type Client struct {
	ID                       string          `json:"client_id"`
	Name                     string          `json:"client_name,omitempty"`
	SecretHash               string          `json:"secret_hash,omitempty"`
	RedirectURIs             []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	AuthMethod               string          `json:"token_endpoint_auth_method"`
	GrantTypes               []string        `json:"grant_types"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	// SkipConsent marks a first-party client whose users are not asked.
	SkipConsent bool `json:"skip_consent,omitempty"`
	ClientMetadata
	// RegistrationTokenHash is the hash of the RFC 7592 registration
	// access token of a client registered through /register.
	RegistrationTokenHash string `json:"registration_token_hash,omitempty"`
	// Static is true for clients from config.yaml (never stored).
	Static  bool      `json:"static,omitempty"`
	Created time.Time `json:"created"`
}

// NewClient is the input of CreateClient and NewStaticClient. Empty ID:
// one is generated. Empty Secret with a client_secret_* method: one is
// generated. Empty IDTokenSignedResponseAlg: DefaultIDTokenAlg.
type NewClient struct {
	ID                       string
	Name                     string
	Secret                   string
	RedirectURIs             []string
	PostLogoutRedirectURIs   []string
	AuthMethod               string
	GrantTypes               []string
	IDTokenSignedResponseAlg string
	JWKS                     json.RawMessage
	SkipConsent              bool
	ClientMetadata
}

// ClientMetadata is the registration metadata for request objects and
// encrypted or signed responses (OIDC Dynamic Client Registration §2,
// RFC 9101 §10.5, RFC 9126 §6). Empty fields mean "not used".
type ClientMetadata struct {
	// JWKSURI is where the client publishes its keys (https); a client
	// has jwks or jwks_uri, never both (RFC 7591 §2).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// RequestURIs are the request_uri values the client may send (https);
	// only these are fetched.
	RequestURIs []string `json:"request_uris,omitempty"`
	// ApplicationType is "web" (default) or "native".
	ApplicationType string `json:"application_type,omitempty"`
	// RequestObjectSigningAlg, when set, is the only alg accepted for the
	// client's request objects; empty accepts any of
	// RequestObjectSigningAlgs, unsigned ones included unless the node
	// requires signed objects.
	RequestObjectSigningAlg    string `json:"request_object_signing_alg,omitempty"`
	RequestObjectEncryptionAlg string `json:"request_object_encryption_alg,omitempty"`
	RequestObjectEncryptionEnc string `json:"request_object_encryption_enc,omitempty"`
	// RequirePAR: authorization requests only through /par.
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty"`
	// TokenEndpointAuthSigningAlg, when set, is the only alg accepted
	// for the client's private_key_jwt assertions (OIDC Dynamic Client
	// Registration §2).
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	// RequirePKCE: authorization requests must carry an S256
	// code_challenge. Unset means true (RFC 9700 §2.1.1); only a
	// confidential client may turn it off (a legacy RP without PKCE),
	// and still gets PKCE checked when it sends a challenge.
	RequirePKCE                  *bool  `json:"require_pkce,omitempty"`
	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg,omitempty"`
	IDTokenEncryptedResponseEnc  string `json:"id_token_encrypted_response_enc,omitempty"`
	UserinfoSignedResponseAlg    string `json:"userinfo_signed_response_alg,omitempty"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseEnc string `json:"userinfo_encrypted_response_enc,omitempty"`
}

// PKCERequired tells whether the client's authorization requests need a
// code_challenge: always, unless a confidential client opted out.
func (m ClientMetadata) PKCERequired() bool { return m.RequirePKCE == nil || *m.RequirePKCE }

// needsSecret tells whether method authenticates with a shared secret
// (RFC 6749 §2.3.1).
func needsSecret(method string) bool {
	return method == "client_secret_basic" || method == "client_secret_post"
}

// HashClientSecret returns the SecretHash form of secret.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyClientSecret checks secret against c.SecretHash in constant time.
// ErrInvalidCredentials when it does not match or c has no secret.
func VerifyClientSecret(c Client, secret string) error {
	got := HashClientSecret(secret)
	// Compare even when c has no hash, so the time does not tell.
	ok := subtle.ConstantTimeCompare([]byte(got), []byte(c.SecretHash)) == 1
	if !ok || c.SecretHash == "" || !needsSecret(c.AuthMethod) {
		return ErrInvalidCredentials
	}
	return nil
}

// checkClientID applies the client_id syntax: 1..128 characters from the
// RFC 3986 §2.3 unreserved set, so an id needs no escaping in a URL, a
// form or an HTTP Basic user-id (RFC 6749 §2.3.1 forbids ':' there
// unescaped).
func checkClientID(id string) error {
	if id == "" || len(id) > MaxClientIDLen {
		return invalid("client_id must be 1..%d characters", MaxClientIDLen)
	}
	for _, r := range id {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r))) {
			return invalid("client_id may only contain A-Z a-z 0-9 . _ ~ -")
		}
	}
	return nil
}

// Validate checks a client record against the registration rules (the
// same rules CreateClient and NewStaticClient apply to their input). The
// error wraps ErrInvalid and lists every problem.
func (c Client) Validate() error {
	p := c.problems(IDTokenSignAlgs, EncryptionAlgs)
	switch {
	case needsSecret(c.AuthMethod):
		if !validSecretHash(c.SecretHash) {
			p = append(p, c.AuthMethod+" needs a client secret")
		}
	case c.SecretHash != "":
		p = append(p, "a client using "+c.AuthMethod+" must not have a client secret")
	}
	return invalidAll(p)
}

func validSecretHash(h string) bool {
	raw, ok := strings.CutPrefix(h, secretHashPrefix)
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	return err == nil && len(b) == sha256.Size
}

// problems lists what is wrong with c apart from its secret. algs are the
// ID token algorithms it may choose from, opEnc the JWE key algorithms the
// node has keys for (for request objects encrypted to it).
func (c Client) problems(algs, opEnc []string) []string {
	var p []string
	add := func(err error) {
		if err != nil {
			p = append(p, reason(err))
		}
	}
	add(checkClientID(c.ID))
	if len(c.Name) > maxClientNameLen || !utf8.ValidString(c.Name) || strings.ContainsFunc(c.Name, unicode.IsControl) {
		p = append(p, fmt.Sprintf("client_name must be at most %d bytes of UTF-8 without control characters", maxClientNameLen))
	}
	if !slices.Contains(AuthMethods, c.AuthMethod) {
		p = append(p, fmt.Sprintf("token_endpoint_auth_method must be one of %s, got %q", strings.Join(AuthMethods, ", "), clip(c.AuthMethod)))
	}
	if len(c.GrantTypes) == 0 {
		p = append(p, "grant_types must not be empty")
	}
	for i, g := range c.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			p = append(p, fmt.Sprintf("unknown grant type %q (known: %s)", clip(g), strings.Join(GrantTypes, ", ")))
		} else if slices.Contains(c.GrantTypes[:i], g) {
			p = append(p, fmt.Sprintf("grant type %q listed twice", g))
		}
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		p = append(p, "authorization_code needs at least one redirect URI")
	}
	if c.AuthMethod == "none" && slices.Contains(c.GrantTypes, "client_credentials") {
		// RFC 6749 §4.4: only confidential clients.
		p = append(p, "a public client (none) cannot use client_credentials")
	}
	if c.AuthMethod == "none" && !c.PKCERequired() {
		// RFC 9700 §2.1.1: PKCE is what protects a public client's code.
		p = append(p, "require_pkce false is only for confidential clients, not token_endpoint_auth_method none")
	}
	p = append(p, checkURIs("redirect_uris", c.RedirectURIs)...)
	p = append(p, checkURIs("post_logout_redirect_uris", c.PostLogoutRedirectURIs)...)
	if !slices.Contains(algs, c.IDTokenSignedResponseAlg) {
		p = append(p, algProblem(c.IDTokenSignedResponseAlg, algs))
	}
	if len(c.JWKS) > 0 {
		if _, err := parseJWKS(c.JWKS); err != nil {
			p = append(p, reason(err))
		}
	} else if c.AuthMethod == "private_key_jwt" && c.JWKSURI == "" {
		p = append(p, "private_key_jwt needs jwks or jwks_uri (the client's public keys)")
	}
	if a := c.TokenEndpointAuthSigningAlg; a != "" {
		switch {
		case !slices.Contains(TokenEndpointAuthSigningAlgs, a):
			// "none" among them: OIDC Dynamic Client Registration §2.
			p = append(p, fmt.Sprintf("token_endpoint_auth_signing_alg must be one of %s, got %q", strings.Join(TokenEndpointAuthSigningAlgs, ", "), clip(a)))
		case c.AuthMethod != "private_key_jwt":
			// It pins the alg of JWT client authentication; with another
			// method it would be stored and never apply.
			p = append(p, "token_endpoint_auth_signing_alg is only for token_endpoint_auth_method private_key_jwt")
		}
	}
	p = append(p, c.ClientMetadata.problems(c.JWKS, algs, opEnc)...)
	return p
}

// problems checks the metadata; jwks is the client's inline key set.
func (m ClientMetadata) problems(jwks json.RawMessage, signAlgs, opEnc []string) []string {
	var p []string
	if m.JWKSURI != "" {
		if len(jwks) > 0 {
			// RFC 7591 §2: jwks and jwks_uri must not both be present.
			p = append(p, "jwks and jwks_uri are mutually exclusive")
		}
		if err := checkHTTPSURI("jwks_uri", m.JWKSURI); err != nil {
			p = append(p, reason(err))
		}
	}
	if len(m.RequestURIs) > maxURIs {
		p = append(p, fmt.Sprintf("request_uris has more than %d entries", maxURIs))
	}
	for _, u := range m.RequestURIs {
		if err := checkHTTPSURI("request_uris", u); err != nil {
			p = append(p, reason(err))
		}
	}
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		p = append(p, fmt.Sprintf("application_type must be web or native, got %q", clip(m.ApplicationType)))
	}
	hasKeys := len(jwks) > 0 || m.JWKSURI != ""
	if a := m.RequestObjectSigningAlg; a != "" {
		if !slices.Contains(RequestObjectSigningAlgs, a) {
			p = append(p, fmt.Sprintf("request_object_signing_alg must be one of %s, got %q", strings.Join(RequestObjectSigningAlgs, ", "), clip(a)))
		} else if a != "none" && !hasKeys {
			p = append(p, "request_object_signing_alg "+a+" needs jwks or jwks_uri")
		}
	}
	p = append(p, encProblems("request_object_encryption", m.RequestObjectEncryptionAlg, m.RequestObjectEncryptionEnc, opEnc, nil)...)
	if a := m.UserinfoSignedResponseAlg; a != "" && !slices.Contains(signAlgs, a) {
		p = append(p, fmt.Sprintf("userinfo_signed_response_alg must be one of %s (the algorithms this node signs with), got %q", strings.Join(signAlgs, ", "), clip(a)))
	}
	for _, e := range []struct{ field, alg, enc string }{
		{"id_token_encrypted_response", m.IDTokenEncryptedResponseAlg, m.IDTokenEncryptedResponseEnc},
		{"userinfo_encrypted_response", m.UserinfoEncryptedResponseAlg, m.UserinfoEncryptedResponseEnc},
	} {
		probs := encProblems(e.field, e.alg, e.enc, EncryptionAlgs, nil)
		p = append(p, probs...)
		if len(probs) > 0 || e.alg == "" {
			continue
		}
		switch {
		case !hasKeys:
			p = append(p, e.field+"_alg needs jwks or jwks_uri (the client's encryption key)")
		case len(jwks) > 0:
			if _, err := EncryptionKey(jwks, e.alg); err != nil {
				p = append(p, e.field+"_alg: "+reason(err))
			}
		}
	}
	return p
}

// encProblems checks an *_alg / *_enc pair: enc needs alg (OIDC Dynamic
// Client Registration §2), and both must be supported.
func encProblems(field, alg, enc string, algs, _ []string) []string {
	var p []string
	if alg == "" {
		if enc != "" {
			p = append(p, field+"_enc needs "+field+"_alg")
		}
		return p
	}
	if !slices.Contains(algs, alg) {
		if len(algs) == 0 {
			p = append(p, fmt.Sprintf("%s_alg %q: this node has no encryption keys", field, clip(alg)))
		} else {
			p = append(p, fmt.Sprintf("%s_alg must be one of %s, got %q", field, strings.Join(algs, ", "), clip(alg)))
		}
	}
	if enc != "" && !slices.Contains(EncryptionEncs, enc) {
		p = append(p, fmt.Sprintf("%s_enc must be one of %s, got %q", field, strings.Join(EncryptionEncs, ", "), clip(enc)))
	}
	return p
}

// checkHTTPSURI accepts an absolute https URL without userinfo (the URLs
// the node fetches).
func checkHTTPSURI(field, raw string) error {
	if len(raw) > maxURILen {
		return invalid("%s entry is longer than %d bytes", field, maxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return invalid("%s %q must be an absolute https URL", field, clip(raw))
	}
	return nil
}

// EncryptionKey picks the client's public key to encrypt to with alg from
// its JWK set (JSON): a key whose use is "enc" (or unset), whose alg (if
// set) is alg and whose type fits (RSA for RSA-OAEP*, EC for ECDH-ES*). It
// returns the key as JSON.
func EncryptionKey(jwks []byte, alg string) ([]byte, error) {
	// Every encrypted response asks again with the same bytes: parse once.
	h := sha256.Sum256(jwks)
	return encryptionKeys.Get(alg+"\x00"+string(h[:]), func() ([]byte, error) { return encryptionKey(jwks, alg) })
}

// encryptionKeys remembers EncryptionKey's answers by key set and alg.
var encryptionKeys = memo.New[[]byte](1024)

func encryptionKey(jwks []byte, alg string) ([]byte, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, invalid("client key set is not a JWK set")
	}
	for _, k := range set.Keys {
		if k.Use == "sig" || (k.Algorithm != "" && k.Algorithm != alg) || !k.IsPublic() {
			continue
		}
		_, isRSA := k.Key.(*rsa.PublicKey)
		_, isEC := k.Key.(*ecdsa.PublicKey)
		if (strings.HasPrefix(alg, "RSA-") && isRSA) || (strings.HasPrefix(alg, "ECDH-ES") && isEC) {
			return json.Marshal(k)
		}
	}
	return nil, invalid("no public key for %s encryption (use \"enc\" or unset) in the client's keys", clip(alg))
}

func checkURIs(field string, uris []string) []string {
	var p []string
	if len(uris) > maxURIs {
		p = append(p, fmt.Sprintf("%s has more than %d entries", field, maxURIs))
		uris = uris[:maxURIs]
	}
	for i, u := range uris {
		if err := CheckRedirectURI(u); err != nil {
			p = append(p, reason(err))
		} else if slices.Contains(uris[:i], u) {
			p = append(p, fmt.Sprintf("%s lists %q twice", field, clip(u)))
		}
	}
	return p
}

// parseJWKS parses a JWK set (RFC 7517 §5) that may hold only public
// signing keys: RSA of at least 2048 bits, EC or Ed25519. A private or
// symmetric key here means the client leaked it to us, so it is refused
// rather than stripped.
func parseJWKS(raw json.RawMessage) (*jose.JSONWebKeySet, error) {
	if len(raw) > maxJWKSLen {
		return nil, invalid("jwks is larger than %d bytes", maxJWKSLen)
	}
	var set jose.JSONWebKeySet
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&set); err != nil || dec.More() {
		return nil, invalid("jwks is not a JWK set ({\"keys\": [...]}) of supported keys")
	}
	if len(set.Keys) == 0 {
		return nil, invalid("jwks must hold at least one key")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, invalid("jwks key %d is not a public key: send public keys only", i)
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				return nil, invalid("jwks key %d: RSA keys need at least %d bits", i, minRSABits)
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, invalid("jwks key %d: only RSA, EC and Ed25519 keys are supported", i)
		}
		if k.Use != "" && k.Use != "sig" && k.Use != "enc" {
			return nil, invalid("jwks key %d: use must be sig or enc", i)
		}
	}
	return &set, nil
}

// algProblem says that alg is not one of algs.
func algProblem(alg string, algs []string) string {
	return fmt.Sprintf("id_token_signed_response_alg must be one of %s (the algorithms this node signs with), got %q", strings.Join(algs, ", "), clip(alg))
}

// build checks in and returns the client it describes with its plaintext
// secret (given or generated, "" when the method takes none). algs are the
// ID token algorithms the client may choose from, opEnc the JWE algorithms
// the node can decrypt.
func (in NewClient) build(now time.Time, algs, opEnc []string) (Client, string, error) {
	c := Client{
		ID:                       in.ID,
		Name:                     in.Name,
		RedirectURIs:             slices.Clone(in.RedirectURIs),
		PostLogoutRedirectURIs:   slices.Clone(in.PostLogoutRedirectURIs),
		AuthMethod:               in.AuthMethod,
		GrantTypes:               slices.Clone(in.GrantTypes),
		IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg,
		SkipConsent:              in.SkipConsent,
		ClientMetadata:           in.ClientMetadata.normalized(),
		Created:                  now.UTC(),
	}
	if c.IDTokenSignedResponseAlg == "" {
		c.IDTokenSignedResponseAlg = DefaultIDTokenAlg
	}
	if len(bytes.TrimSpace(in.JWKS)) > 0 && !bytes.Equal(bytes.TrimSpace(in.JWKS), []byte("null")) {
		var buf bytes.Buffer
		if len(in.JWKS) > maxJWKSLen || json.Compact(&buf, in.JWKS) != nil {
			c.JWKS = in.JWKS // let problems() report it
		} else {
			c.JWKS = buf.Bytes()
		}
	}
	p := c.problems(algs, opEnc)
	secret := in.Secret
	switch {
	case needsSecret(c.AuthMethod):
		if secret == "" {
			var err error
			if secret, err = randomToken(32); err != nil {
				return Client{}, "", err
			}
		}
		// Given secrets must be long enough to be unguessable, which is
		// what makes the fast hash acceptable.
		if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
			p = append(p, fmt.Sprintf("client_secret must be %d..%d characters (leave it out to have one generated)", MinSecretLen, MaxSecretLen))
		} else {
			c.SecretHash = HashClientSecret(secret)
		}
	case secret != "":
		p = append(p, "a client using "+c.AuthMethod+" must not have a client secret")
		secret = ""
	}
	if err := invalidAll(p); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// NewStaticClient builds a static client from config values: it validates
// in like CreateClient, hashes the secret in memory and sets Static. The
// ID must be given, and so must the secret for client_secret_* methods
// (a generated one could not be told to anyone). idTokenAlgs are the ID
// token algorithms the node has keys for (Options.IDTokenAlgs); none given
// means IDTokenSignAlgs.
func NewStaticClient(in NewClient, idTokenAlgs ...string) (Client, error) {
	var p []string
	if in.ID == "" {
		p = append(p, "client_id must be given for a static client")
	}
	if needsSecret(in.AuthMethod) && in.Secret == "" {
		p = append(p, "a static client using "+in.AuthMethod+" needs a secret")
	}
	if err := invalidAll(p); err != nil {
		return Client{}, err
	}
	signAlgs, encAlgs := splitAlgs(idTokenAlgs)
	if len(signAlgs) == 0 {
		signAlgs = IDTokenSignAlgs
	}
	c, _, err := in.build(time.Time{}, signAlgs, encAlgs)
	if err != nil {
		return Client{}, err
	}
	c.Static = true
	return c, nil
}

// CreateClient registers a client and returns it with its secret in clear:
// the only time the secret is available (only its hash is stored). The
// secret is "" for methods that use none. An error wraps ErrInvalid for
// bad input (including an ID token algorithm outside Options.IDTokenAlgs)
// and ErrClientIDTaken when a static or stored client has the ID.
func (d *Directory) CreateClient(ctx context.Context, in NewClient) (Client, string, error) {
	return d.createClient(ctx, in, "", nil)
}

// createClient is CreateClient that also records a registration access
// token hash (RFC 7592) when regHash is not empty. spend, when set, runs
// once the client passed every check and before it is stored; its undo
// runs if the client then cannot be stored.
func (d *Directory) createClient(ctx context.Context, in NewClient, regHash string, spend func(context.Context) (undo func(), err error)) (Client, string, error) {
	if in.ID == "" {
		id, err := randomToken(16)
		if err != nil {
			return Client{}, "", err
		}
		in.ID = id
	}
	c, secret, err := in.build(d.now(), d.idTokenAlgs, d.encAlgs)
	if err == nil {
		err = d.policy(c)
	}
	if err != nil {
		return Client{}, "", err
	}
	if _, ok := d.static[c.ID]; ok {
		return Client{}, "", fmt.Errorf("%w: %q (a static client)", ErrClientIDTaken, c.ID)
	}
	c.RegistrationTokenHash = regHash
	rec, err := json.Marshal(c)
	if err != nil {
		return Client{}, "", fmt.Errorf("directory: encode client: %w", err)
	}
	undo := func() {}
	if spend != nil {
		if undo, err = spend(ctx); err != nil {
			return Client{}, "", err
		}
	}
	if err := d.store.Create(ctx, BucketClients, c.ID, rec); err != nil {
		undo()
		if errors.Is(err, persistence.ErrConflict) {
			return Client{}, "", fmt.Errorf("%w: %q", ErrClientIDTaken, c.ID)
		}
		return Client{}, "", fmt.Errorf("directory: create client: %w", err)
	}
	return c, secret, nil
}

// policy applies the node's rules beyond the registration rules: with
// signed request objects required, a client cannot register none.
func (d *Directory) policy(c Client) error {
	if d.requireSigned && c.RequestObjectSigningAlg == "none" {
		return invalid("request_object_signing_alg none: this server requires signed request objects")
	}
	return nil
}

// Client returns the client with this id: a static one if config.yaml has
// it, else a stored one, else ErrNotFound.
func (d *Directory) Client(ctx context.Context, id string) (Client, error) {
	if c, ok := d.static[id]; ok {
		return cloneClient(c), nil
	}
	if checkClientID(id) != nil {
		return Client{}, fmt.Errorf("%w: client", ErrNotFound)
	}
	b, err := d.store.Get(ctx, BucketClients, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return Client{}, fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err != nil {
		return Client{}, fmt.Errorf("directory: get client: %w", err)
	}
	c, err := d.clients.get(id, b, func(b []byte) (Client, error) {
		var c Client
		err := json.Unmarshal(b, &c)
		c.Static = false
		return c, err
	}, cloneClient)
	if err != nil {
		return Client{}, fmt.Errorf("directory: decode client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns static and stored clients, sorted by ID. A stored
// client shadowed by a static one of the same ID is left out, as Client
// would never return it.
func (d *Directory) ListClients(ctx context.Context) ([]Client, error) {
	out := make([]Client, 0, len(d.static))
	for _, c := range d.static {
		out = append(out, cloneClient(c))
	}
	err := d.store.List(ctx, BucketClients, "", func(id string, b []byte) error {
		if _, shadowed := d.static[id]; shadowed {
			return nil
		}
		var c Client
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("directory: decode client %q: %w", id, err)
		}
		c.Static = false
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list clients: %w", err)
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient removes a stored client. Static clients are refused with
// ErrInvalid: they come back from config.yaml on every start.
func (d *Directory) DeleteClient(ctx context.Context, id string) error {
	if _, ok := d.static[id]; ok {
		return invalid("client %q is static: static clients are managed in config.yaml", id)
	}
	if checkClientID(id) != nil {
		return fmt.Errorf("%w: client", ErrNotFound)
	}
	if err := d.store.Delete(ctx, BucketClients, id); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		return fmt.Errorf("directory: delete client: %w", err)
	}
	return nil
}

// cloneClient copies the slices so callers cannot change the static set.
func cloneClient(c Client) Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.JWKS = slices.Clone(c.JWKS)
	c.RequestURIs = slices.Clone(c.RequestURIs)
	return c
}

// normalized fills defaults: an encryption alg without enc gets
// DefaultEncryptionEnc.
func (m ClientMetadata) normalized() ClientMetadata {
	m.RequestURIs = slices.Clone(m.RequestURIs)
	// Stored explicitly, so the record and every view of it say what
	// applies; a fresh pointer, never shared with the caller's input.
	required := m.PKCERequired()
	m.RequirePKCE = &required
	if m.IDTokenEncryptedResponseAlg != "" && m.IDTokenEncryptedResponseEnc == "" {
		m.IDTokenEncryptedResponseEnc = DefaultEncryptionEnc
	}
	if m.UserinfoEncryptedResponseAlg != "" && m.UserinfoEncryptedResponseEnc == "" {
		m.UserinfoEncryptedResponseEnc = DefaultEncryptionEnc
	}
	if m.RequestObjectEncryptionAlg != "" && m.RequestObjectEncryptionEnc == "" {
		m.RequestObjectEncryptionEnc = DefaultEncryptionEnc
	}
	return m
}

// splitAlgs separates a keys.algorithms list into JWS and JWE algorithms.
func splitAlgs(algs []string) (sign, enc []string) {
	for _, a := range algs {
		if slices.Contains(EncryptionAlgs, a) {
			enc = append(enc, a)
		} else {
			sign = append(sign, a)
		}
	}
	return sign, enc
}
