package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/router"
)

// Paths served by this front end. The OAuth metadata document is at
// AuthorizationServerPath followed by the issuer's path, if any
// (RFC 8414 §3.1: the well-known segment goes between host and path).
const (
	ConfigurationPath       = "/.well-known/openid-configuration"
	AuthorizationServerPath = "/.well-known/oauth-authorization-server"
	JWKSPath                = "/.well-known/jwks.json"
)

// KeySource gives the current JWKS as precomputed bytes and its ETag.
type KeySource interface {
	JWKS() (body []byte, etag string, ok bool)
}

// Config is what the metadata document is built from.
type Config struct {
	Issuer string
	// JWKSMaxAge is the JWKS Cache-Control max-age; it must not exceed
	// the key publish-ahead time, so caches always hold the next key
	// before it signs.
	JWKSMaxAge time.Duration
	// Metadata is the document without issuer and jwks_uri, which New
	// fills in. The node builds it from what its front ends support.
	Metadata Metadata
	// ProtectedResources, when set, lists the registered resource
	// servers' identifiers (protected_resources, RFC 9728 §4). Operators
	// add them while the node runs, so it is asked at each request: it
	// must be cheap (the node serves it from a cache) and must not change
	// a slice it returned.
	ProtectedResources func() []string
}

// Metadata is the one source of both metadata documents: the OpenID
// Provider metadata (Discovery §3) and the OAuth 2.0 Authorization Server
// metadata (RFC 8414 §2). Fields are set only for capabilities the OP has.
// A field tagged view:"oidc" means something only to OpenID Connect
// (ID tokens, userinfo, claims, sessions and logout) and is left out of
// the OAuth view; every other field is in both, with the same value.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty" view:"oidc"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty" view:"oidc"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	ACRValuesSupported                []string `json:"acr_values_supported,omitempty" view:"oidc"`
	SubjectTypesSupported             []string `json:"subject_types_supported" view:"oidc"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported" view:"oidc"`
	UserinfoSigningAlgValuesSupported []string `json:"userinfo_signing_alg_values_supported,omitempty" view:"oidc"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	ClaimsSupported                   []string `json:"claims_supported,omitempty" view:"oidc"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported" view:"oidc"`
	RequestParameterSupported         bool     `json:"request_parameter_supported" view:"oidc"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported" view:"oidc"`
	RequireRequestURIRegistration     bool     `json:"require_request_uri_registration" view:"oidc"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	PromptValuesSupported             []string `json:"prompt_values_supported,omitempty" view:"oidc"`
	ClaimTypesSupported               []string `json:"claim_types_supported,omitempty" view:"oidc"`
	UILocalesSupported                []string `json:"ui_locales_supported,omitempty"`
	AuthorizationResponseIss          bool     `json:"authorization_response_iss_parameter_supported"`
	// Request objects (OIDC Discovery §3, RFC 9101 §10.5), PAR (RFC 9126
	// §5), registration (RFC 7591) and encrypted responses.
	PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint,omitempty"`
	DeviceAuthorizationEndpoint        string   `json:"device_authorization_endpoint,omitempty"` // RFC 8628 §4
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests"`
	RegistrationEndpoint               string   `json:"registration_endpoint,omitempty"`
	RequestObjectSigningAlgs           []string `json:"request_object_signing_alg_values_supported,omitempty"`
	RequireSignedRequestObject         bool     `json:"require_signed_request_object,omitempty"`
	RequestObjectEncryptionAlgs        []string `json:"request_object_encryption_alg_values_supported,omitempty"`
	RequestObjectEncryptionEncs        []string `json:"request_object_encryption_enc_values_supported,omitempty"`
	IDTokenEncryptionAlgs              []string `json:"id_token_encryption_alg_values_supported,omitempty" view:"oidc"`
	IDTokenEncryptionEncs              []string `json:"id_token_encryption_enc_values_supported,omitempty" view:"oidc"`
	UserinfoEncryptionAlgs             []string `json:"userinfo_encryption_alg_values_supported,omitempty" view:"oidc"`
	UserinfoEncryptionEncs             []string `json:"userinfo_encryption_enc_values_supported,omitempty" view:"oidc"`
	// JWT Secured Authorization Response Mode (JARM §4).
	AuthorizationSigningAlgs    []string `json:"authorization_signing_alg_values_supported,omitempty"`
	AuthorizationEncryptionAlgs []string `json:"authorization_encryption_alg_values_supported,omitempty"`
	AuthorizationEncryptionEncs []string `json:"authorization_encryption_enc_values_supported,omitempty"`
	// Logout reaching the relying parties: Back-Channel Logout 1.0 §2.1
	// (a logout token to backchannel_logout_uri, with sid) and
	// Front-Channel Logout 1.0 §3 (frontchannel_logout_uri framed by the
	// logout page, with iss and sid).
	// Resource servers that accept our access tokens (RFC 9728 §4).
	ProtectedResources                 []string `json:"protected_resources,omitempty"`
	BackchannelLogoutSupported         bool     `json:"backchannel_logout_supported" view:"oidc"`
	BackchannelLogoutSessionSupported  bool     `json:"backchannel_logout_session_supported" view:"oidc"`
	FrontchannelLogoutSupported        bool     `json:"frontchannel_logout_supported" view:"oidc"`
	FrontchannelLogoutSessionSupported bool     `json:"frontchannel_logout_session_supported" view:"oidc"`
	// ClientIDMetadataDocumentSupported: client_ids may be URLs of
	// client ID metadata documents (draft-ietf-oauth-client-id-metadata-document
	// §5); left out when off.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// DPoPSigningAlgs are the JWS algorithms accepted for DPoP proofs
	// (RFC 9449 §5.1).
	DPoPSigningAlgs []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// TLSClientCertificateBoundAccessTokens: access tokens can be bound
	// to the client's certificate (RFC 8705 §3.3).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// MTLSEndpointAliases are the endpoints on the host that asks for
	// client certificates (RFC 8705 §5).
	MTLSEndpointAliases *MTLSEndpointAliases `json:"mtls_endpoint_aliases,omitempty"`
}

// MTLSEndpointAliases is mtls_endpoint_aliases (RFC 8705 §5): the
// endpoints a client uses when it authenticates with, or holds tokens
// bound to, its certificate.
type MTLSEndpointAliases struct {
	TokenEndpoint                      string `json:"token_endpoint,omitempty"`
	RevocationEndpoint                 string `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint              string `json:"introspection_endpoint,omitempty"`
	UserinfoEndpoint                   string `json:"userinfo_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	DeviceAuthorizationEndpoint        string `json:"device_authorization_endpoint,omitempty"`
}

// Handler serves discovery and the JWKS.
type Handler struct {
	base      Metadata
	resources func() []string
	docs      atomic.Pointer[documents]
	oauthPath string
	keys      KeySource
	cacheCtl  string
}

// documents are both views rendered for one list of resources.
type documents struct {
	resources []string
	openid    []byte
	oauth     []byte
}

func render(m Metadata, resources []string) (*documents, error) {
	m.ProtectedResources = resources
	openid, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	oauth, err := OAuthView(openid)
	if err != nil {
		return nil, err
	}
	return &documents{resources: resources, openid: openid, oauth: oauth}, nil
}

// current returns the documents for the resources registered now,
// rendering them again only when the list changed.
func (h *Handler) current() (*documents, error) {
	d := h.docs.Load()
	if h.resources == nil {
		return d, nil
	}
	list := h.resources()
	if !slices.IsSorted(list) {
		list = slices.Sorted(slices.Values(list))
	}
	if slices.Equal(list, d.resources) {
		return d, nil
	}
	d, err := render(h.base, list)
	if err != nil {
		return nil, err
	}
	h.docs.Store(d)
	return d, nil
}

// New precomputes the metadata document.
func New(cfg Config, keys KeySource) (*Handler, error) {
	base := strings.TrimSuffix(cfg.Issuer, "/")
	m := cfg.Metadata
	m.Issuer = cfg.Issuer
	m.JWKSURI = base + JWKSPath
	if m.SubjectTypesSupported == nil {
		m.SubjectTypesSupported = []string{"public"}
	}
	if m.ResponseTypesSupported == nil {
		m.ResponseTypesSupported = []string{}
	}
	d, err := render(m, nil)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		base:      m,
		resources: cfg.ProtectedResources,
		oauthPath: AuthorizationServerPath + strings.TrimSuffix(u.Path, "/"),
		keys:      keys,
		cacheCtl:  fmt.Sprintf("public, max-age=%d", int(cfg.JWKSMaxAge.Seconds())),
	}
	h.docs.Store(d)
	return h, nil
}

// oidcOnly are the JSON names of the fields tagged view:"oidc".
var oidcOnly = func() []string {
	var names []string
	t := reflect.TypeFor[Metadata]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("view") == "oidc" {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
	}
	return names
}()

// OAuthView derives the RFC 8414 document from the OpenID one: the same
// members, less those only OpenID Connect defines. Deriving it (rather
// than filling a second struct) keeps the two from disagreeing.
func OAuthView(openid []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(openid, &doc); err != nil {
		return nil, err
	}
	for _, name := range oidcOnly {
		delete(doc, name)
	}
	return json.Marshal(doc)
}

// Name is the front end's name in metrics and the route table.
func (h *Handler) Name() string { return "discovery" }

// Routes are public documents browser apps may read cross-origin.
func (h *Handler) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: ConfigurationPath, Handler: h.configuration, Limit: router.Lenient, CORS: true},
		{Method: http.MethodGet, Path: h.oauthPath, Handler: h.authorizationServer, Limit: router.Lenient, CORS: true},
		{Method: http.MethodGet, Path: JWKSPath, Handler: h.jwks, Limit: router.Lenient, CORS: true},
	}
}

func (h *Handler) configuration(c echo.Context) error {
	d, err := h.current()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.openid)
}

func (h *Handler) authorizationServer(c echo.Context) error {
	d, err := h.current()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.oauth)
}

func (h *Handler) jwks(c echo.Context) error {
	body, etag, ok := h.keys.JWKS()
	if !ok {
		c.Response().Header().Set("Retry-After", "1")
		return c.NoContent(http.StatusServiceUnavailable)
	}
	hd := c.Response().Header()
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", h.cacheCtl)
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// etagMatches implements If-None-Match's list and weak comparison
// (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if p == "*" || p == etag {
			return true
		}
	}
	return false
}
