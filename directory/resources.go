package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"authrim/persistence"
)

// BucketResources maps a resource identifier to its Resource record
// (JSON).
const BucketResources = persistence.BucketResources

// Limits on resource servers, so a record stays small.
const (
	MaxResourceIDLen  = 512
	maxResourceScopes = 64
	maxScopeLen       = 128
	maxServiceClients = 64
	// MinResourceTokenTTL and MaxResourceTokenTTL bound a resource's
	// access_token_ttl (0 means the node's tokens.access_token_ttl).
	MinResourceTokenTTL = 10 * time.Second
	MaxResourceTokenTTL = 24 * time.Hour
)

// ProviderScopes are the scopes the provider itself answers to (OIDC Core
// §5.4, §11): a resource server may not claim them.
var ProviderScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// ErrResourceTaken: a static or stored resource server has this
// identifier. It matches ErrConflict.
var ErrResourceTaken error = &sentinel{"directory: resource identifier is taken", ErrConflict}

// TTL is a lifetime written as a Go duration ("10m", "90s") in JSON and
// in config.yaml; empty or 0 means the default.
type TTL time.Duration

// MarshalText writes the duration in Go syntax.
func (t TTL) MarshalText() ([]byte, error) { return []byte(time.Duration(t).String()), nil }

// UnmarshalText reads a Go duration; "" is 0.
func (t *TTL) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*t = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (e.g. 90s, 10m): %q", clip(s))
	}
	*t = TTL(v)
	return nil
}

// D is the lifetime as a time.Duration.
func (t TTL) D() time.Duration { return time.Duration(t) }

// ResourceMetadata is what an operator says about a resource server (an
// API that accepts our access tokens, RFC 8707): the one shape of the
// record, the admin API's request and view, and an entry of resources:
// in config.yaml. Empty fields take the node's defaults.
type ResourceMetadata struct {
	// Identifier is the resource indicator clients send as resource=
	// (RFC 8707 §2): an absolute URI without a fragment. It becomes the
	// aud of the access tokens issued for the resource.
	Identifier string `json:"resource" yaml:"resource"`
	// Name is shown to users on the consent page.
	Name string `json:"name,omitempty" yaml:"name"`
	// Scopes are the scopes the resource server defines: a client that
	// asks for the resource may be granted these, and a token for the
	// resource carries only these.
	Scopes []string `json:"scopes" yaml:"scopes"`
	// AccessTokenTTL is the lifetime of its access tokens; 0 means
	// tokens.access_token_ttl.
	AccessTokenTTL TTL `json:"access_token_ttl,omitempty" yaml:"access_token_ttl"`
	// AccessTokenAlg signs its access tokens: one of the node's signing
	// algorithms (keys.algorithms); empty means tokens.access_token_alg.
	AccessTokenAlg string `json:"access_token_signing_alg,omitempty" yaml:"access_token_signing_alg"`
	// EncryptionJWK, when set, is the resource server's public key
	// (RFC 7517 §4, one key): its access tokens are signed, then
	// encrypted to it (a nested JWT, JWE compact) with
	// EncryptionAlg/EncryptionEnc.
	EncryptionJWK JWKS   `json:"access_token_encryption_jwk,omitempty" yaml:"access_token_encryption_jwk"`
	EncryptionAlg string `json:"access_token_encryption_alg,omitempty" yaml:"access_token_encryption_alg"`
	EncryptionEnc string `json:"access_token_encryption_enc,omitempty" yaml:"access_token_encryption_enc"`
	// IntrospectionClient is the client_id the resource server
	// authenticates as at the introspection endpoint (with any client
	// authentication method that client has). Introspection then tells
	// it only about tokens whose aud is Identifier. Empty: the resource
	// server does not introspect.
	IntrospectionClient string `json:"introspection_client,omitempty" yaml:"introspection_client"`
	// ServiceClients are the client_ids that may get access tokens for
	// the resource with client_credentials (no user, so no consent: only
	// the operator can allow it). Each gets the scopes it asks for among
	// Scopes, all of them when it asks for none. Users' tokens for the
	// resource do not depend on this list.
	ServiceClients []string `json:"service_clients,omitempty" yaml:"service_clients"`
}

// Resource is a registered resource server. Static ones come from
// config.yaml (resources:) and cannot be changed at run time; the others
// are stored, managed through the admin API.
type Resource struct {
	ResourceMetadata
	Static  bool      `json:"static,omitempty"`
	Created time.Time `json:"created"`
}

// ResourceRules are what the resource rules depend on besides the
// resource itself.
type ResourceRules struct {
	// Algorithms are the node's keys.algorithms (none: every algorithm
	// this package supports).
	Algorithms []string
	// Issuer is the provider's issuer: tokens with aud = issuer are the
	// provider's own (userinfo), so no resource may take it.
	Issuer string
}

// WithDefaults is m with the encryption content algorithm defaulted, the
// key compacted and the slices copied.
func (m ResourceMetadata) WithDefaults() ResourceMetadata {
	m.Scopes = slices.Clone(m.Scopes)
	m.ServiceClients = slices.Clone(m.ServiceClients)
	m.EncryptionJWK = m.EncryptionJWK.compacted()
	if m.EncryptionAlg != "" && m.EncryptionEnc == "" {
		m.EncryptionEnc = DefaultEncryptionEnc
	}
	return m
}

// AllowsService tells whether client may get tokens for the resource
// with client_credentials.
func (m ResourceMetadata) AllowsService(client string) bool {
	return slices.Contains(m.ServiceClients, client)
}

// HasScope tells whether the resource server defines scope s.
func (m ResourceMetadata) HasScope(s string) bool { return slices.Contains(m.Scopes, s) }

// EncryptionKey is the public key (JWK JSON) its access tokens are
// encrypted to, or nil when they are only signed.
func (m ResourceMetadata) EncryptionKey() ([]byte, error) {
	if len(m.EncryptionJWK) == 0 {
		return nil, nil
	}
	set := append(append([]byte(`{"keys":[`), m.EncryptionJWK...), "]}"...)
	return EncryptionKey(set, m.EncryptionAlg)
}

// ValidateResource is the one rule set for a resource server, applied to
// config.yaml's resources (node.Config.Validate), the admin API's creates
// and updates. It returns every problem found, in a stable order.
func ValidateResource(m ResourceMetadata, r ResourceRules) []Problem {
	m = m.WithDefaults()
	var p []Problem
	add := func(field, format string, args ...any) {
		p = append(p, Problem{field, fmt.Sprintf(format, args...)})
	}
	if msg := ResourceIDProblem(m.Identifier); msg != "" {
		add("resource", "%s", msg)
	} else if r.Issuer != "" && strings.TrimSuffix(m.Identifier, "/") == strings.TrimSuffix(r.Issuer, "/") {
		add("resource", "must not be the issuer (tokens for the issuer are the provider's own)")
	}
	if len(m.Name) > maxClientNameLen || !utf8.ValidString(m.Name) || strings.ContainsFunc(m.Name, unicode.IsControl) {
		add("name", "must be at most %d bytes of UTF-8 without control characters", maxClientNameLen)
	}
	if len(m.Scopes) > maxResourceScopes {
		add("scopes", "at most %d scopes", maxResourceScopes)
	}
	seen := map[string]bool{}
	for _, s := range m.Scopes {
		switch {
		case !ValidScopeToken(s):
			add("scopes", "%q is not a scope token (1..%d characters of RFC 6749 §3.3, no space, quote or backslash)", clip(s), maxScopeLen)
		case slices.Contains(ProviderScopes, s):
			add("scopes", "%q is a scope of the provider itself", s)
		case seen[s]:
			add("scopes", "%q listed twice", s)
		}
		seen[s] = true
	}
	if t := m.AccessTokenTTL.D(); t != 0 && (t < MinResourceTokenTTL || t > MaxResourceTokenTTL) {
		add("access_token_ttl", "must be 0 (the node's default) or between %s and %s", MinResourceTokenTTL, MaxResourceTokenTTL)
	}
	sign, _ := Rules{Algorithms: r.Algorithms}.algs()
	if a := m.AccessTokenAlg; a != "" && !slices.Contains(sign, a) {
		add("access_token_signing_alg", "must be one of %s, got %q", strings.Join(sign, ", "), clip(a))
	}
	switch {
	case len(m.EncryptionJWK) == 0 && (m.EncryptionAlg != "" || m.EncryptionEnc != ""):
		add("access_token_encryption_jwk", "is required with access_token_encryption_alg/enc")
	case len(m.EncryptionJWK) > 0:
		if !slices.Contains(EncryptionAlgs, m.EncryptionAlg) {
			add("access_token_encryption_alg", "must be one of %s, got %q", strings.Join(EncryptionAlgs, ", "), clip(m.EncryptionAlg))
		}
		if !slices.Contains(EncryptionEncs, m.EncryptionEnc) {
			add("access_token_encryption_enc", "must be one of %s, got %q", strings.Join(EncryptionEncs, ", "), clip(m.EncryptionEnc))
		}
		set := append(append([]byte(`{"keys":[`), m.EncryptionJWK...), "]}"...)
		if _, err := parseJWKS(set); err != nil {
			add("access_token_encryption_jwk", "must be one public JWK: %s", strings.TrimPrefix(err.Error(), "directory: invalid: "))
		} else if slices.Contains(EncryptionAlgs, m.EncryptionAlg) {
			if _, err := m.EncryptionKey(); err != nil {
				add("access_token_encryption_jwk", "is not a key for %s (RSA for RSA-OAEP*, EC for ECDH-ES*; use enc or unset)", m.EncryptionAlg)
			}
		}
	}
	if c := m.IntrospectionClient; c != "" && idProblems(c) != nil {
		add("introspection_client", "is not a client_id")
	}
	if len(m.ServiceClients) > maxServiceClients {
		add("service_clients", "at most %d clients", maxServiceClients)
	}
	for i, c := range m.ServiceClients {
		switch {
		case idProblems(c) != nil:
			add("service_clients", "%q is not a client_id", clip(c))
		case slices.Contains(m.ServiceClients[:i], c):
			add("service_clients", "%q listed twice", clip(c))
		}
	}
	return p
}

// ResourceIDProblem says what is wrong with a resource indicator (RFC
// 8707 §2: an absolute URI, no fragment), or "" when nothing is.
func ResourceIDProblem(id string) string {
	if id == "" || len(id) > MaxResourceIDLen {
		return fmt.Sprintf("must be an absolute URI of 1..%d characters", MaxResourceIDLen)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "must be an absolute URI without spaces or control characters"
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") {
		return "must be an absolute URI (RFC 8707 §2)"
	}
	if strings.Contains(id, "#") {
		return "must not contain a fragment (RFC 8707 §2)"
	}
	return ""
}

// ValidScopeToken tells whether s is a scope-token (RFC 6749 §3.3) of at
// most 128 characters.
func ValidScopeToken(s string) bool {
	if s == "" || len(s) > maxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

func (d *Directory) resourceProblems(ctx context.Context, m ResourceMetadata) error {
	if err := invalidProblems(ValidateResource(m, d.resourceRules)); err != nil {
		return err
	}
	if c := m.IntrospectionClient; c != "" {
		if _, err := d.Client(ctx, c); errors.Is(err, ErrNotFound) {
			return invalidProblems([]Problem{{"introspection_client", fmt.Sprintf("no client %q", c)}})
		} else if err != nil {
			return err
		}
	}
	for _, c := range m.ServiceClients {
		if _, err := d.Client(ctx, c); errors.Is(err, ErrNotFound) {
			return invalidProblems([]Problem{{"service_clients", fmt.Sprintf("no client %q", clip(c))}})
		} else if err != nil {
			return err
		}
	}
	return nil
}

// CreateResource registers a resource server. An error wraps ErrInvalid
// for bad input (ValidateResource's problems, or an introspection_client
// or service client that is not a client) and ErrResourceTaken when a static or stored
// resource has the identifier.
func (d *Directory) CreateResource(ctx context.Context, m ResourceMetadata) (Resource, error) {
	m = m.WithDefaults()
	if err := d.resourceProblems(ctx, m); err != nil {
		return Resource{}, err
	}
	if _, ok := d.staticResources[m.Identifier]; ok {
		return Resource{}, fmt.Errorf("%w: %q (a static resource)", ErrResourceTaken, m.Identifier)
	}
	r := Resource{ResourceMetadata: m, Created: d.now().UTC()}
	rec, err := json.Marshal(r)
	if err != nil {
		return Resource{}, fmt.Errorf("directory: encode resource: %w", err)
	}
	if err := d.store.Create(ctx, BucketResources, m.Identifier, rec); err != nil {
		if errors.Is(err, persistence.ErrConflict) {
			return Resource{}, fmt.Errorf("%w: %q", ErrResourceTaken, m.Identifier)
		}
		return Resource{}, fmt.Errorf("directory: create resource: %w", err)
	}
	return r, nil
}

// Resource returns the resource server with this identifier: a static one
// if config.yaml has it, else a stored one, else ErrNotFound.
func (d *Directory) Resource(ctx context.Context, id string) (Resource, error) {
	if r, ok := d.staticResources[id]; ok {
		return cloneResource(r), nil
	}
	if ResourceIDProblem(id) != "" {
		return Resource{}, fmt.Errorf("%w: resource", ErrNotFound)
	}
	b, err := d.store.Get(ctx, BucketResources, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return Resource{}, fmt.Errorf("%w: resource %q", ErrNotFound, id)
	}
	if err != nil {
		return Resource{}, fmt.Errorf("directory: get resource: %w", err)
	}
	var r Resource
	if err := json.Unmarshal(b, &r); err != nil {
		return Resource{}, fmt.Errorf("directory: decode resource %q: %w", id, err)
	}
	r.Static = false
	return r, nil
}

// ListResources returns static and stored resource servers, sorted by
// identifier (a stored one shadowed by a static one is left out).
func (d *Directory) ListResources(ctx context.Context) ([]Resource, error) {
	out := make([]Resource, 0, len(d.staticResources))
	for _, r := range d.staticResources {
		out = append(out, cloneResource(r))
	}
	err := d.store.List(ctx, BucketResources, "", func(id string, b []byte) error {
		if _, shadowed := d.staticResources[id]; shadowed {
			return nil
		}
		var r Resource
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("directory: decode resource %q: %w", id, err)
		}
		r.Static = false
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list resources: %w", err)
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Identifier, b.Identifier) })
	return out, nil
}

// UpdateResource changes a stored resource server: change gets its
// metadata and returns the new one, which must keep the identifier and
// pass ValidateResource. Static resources are refused with ErrInvalid.
func (d *Directory) UpdateResource(ctx context.Context, id string, change func(ResourceMetadata) (ResourceMetadata, error)) (Resource, error) {
	if _, ok := d.staticResources[id]; ok {
		return Resource{}, invalid("resource %q is static: static resources are managed in config.yaml", clip(id))
	}
	if ResourceIDProblem(id) != "" {
		return Resource{}, fmt.Errorf("%w: resource", ErrNotFound)
	}
	var out Resource
	err := d.store.Update(ctx, BucketResources, id, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: resource %q", ErrNotFound, id)
		}
		var cur Resource
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode resource %q: %w", id, err)
		}
		m, err := change(cur.ResourceMetadata.WithDefaults())
		if err != nil {
			return nil, err
		}
		m = m.WithDefaults()
		if m.Identifier != id {
			return nil, invalid("resource cannot change: create another resource server")
		}
		if err := d.resourceProblems(ctx, m); err != nil {
			return nil, err
		}
		out = Resource{ResourceMetadata: m, Created: cur.Created}
		return json.Marshal(out)
	})
	if err != nil {
		return Resource{}, err
	}
	return out, nil
}

// DeleteResource removes a stored resource server. Tokens already issued
// for it stay valid until they expire; refresh tokens of grants that
// covered it can no longer be exchanged for it (it is unknown).
func (d *Directory) DeleteResource(ctx context.Context, id string) error {
	if _, ok := d.staticResources[id]; ok {
		return invalid("resource %q is static: static resources are managed in config.yaml", clip(id))
	}
	if ResourceIDProblem(id) != "" {
		return fmt.Errorf("%w: resource", ErrNotFound)
	}
	if err := d.store.Delete(ctx, BucketResources, id); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("%w: resource %q", ErrNotFound, id)
		}
		return fmt.Errorf("directory: delete resource: %w", err)
	}
	return nil
}

// ResourcesFor returns the resource servers whose introspection_client is
// clientID (static and stored).
func (d *Directory) ResourcesFor(ctx context.Context, clientID string) ([]Resource, error) {
	all, err := d.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r Resource) bool { return r.IntrospectionClient != clientID }), nil
}

func cloneResource(r Resource) Resource {
	r.Scopes = slices.Clone(r.Scopes)
	r.EncryptionJWK = bytes.Clone(r.EncryptionJWK)
	return r
}

// GetIdentifier is r's identifier, "" for a nil r.
func (r *Resource) GetIdentifier() string {
	if r == nil {
		return ""
	}
	return r.Identifier
}
