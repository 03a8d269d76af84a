package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/router"
)

// Paths served by this front end.
const (
	ConfigurationPath = "/.well-known/openid-configuration"
	JWKSPath          = "/.well-known/jwks.json"
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
}

// Metadata is the provider metadata document (Discovery §3, RFC 8414,
// RFC 9207). Fields are set only for capabilities the OP has.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	ACRValuesSupported                []string `json:"acr_values_supported,omitempty"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	UserinfoSigningAlgValuesSupported []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	ClaimsSupported                   []string `json:"claims_supported,omitempty"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	RequireRequestURIRegistration     bool     `json:"require_request_uri_registration"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	PromptValuesSupported             []string `json:"prompt_values_supported,omitempty"`
	ClaimTypesSupported               []string `json:"claim_types_supported,omitempty"`
	UILocalesSupported                []string `json:"ui_locales_supported,omitempty"`
	AuthorizationResponseIss          bool     `json:"authorization_response_iss_parameter_supported"`
	// Request objects (OIDC Discovery §3, RFC 9101 §10.5), PAR (RFC 9126
	// §5), registration (RFC 7591) and encrypted responses.
	PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests"`
	RegistrationEndpoint               string   `json:"registration_endpoint,omitempty"`
	RequestObjectSigningAlgs           []string `json:"request_object_signing_alg_values_supported,omitempty"`
	RequireSignedRequestObject         bool     `json:"require_signed_request_object,omitempty"`
	RequestObjectEncryptionAlgs        []string `json:"request_object_encryption_alg_values_supported,omitempty"`
	RequestObjectEncryptionEncs        []string `json:"request_object_encryption_enc_values_supported,omitempty"`
	IDTokenEncryptionAlgs              []string `json:"id_token_encryption_alg_values_supported,omitempty"`
	IDTokenEncryptionEncs              []string `json:"id_token_encryption_enc_values_supported,omitempty"`
	UserinfoEncryptionAlgs             []string `json:"userinfo_encryption_alg_values_supported,omitempty"`
	UserinfoEncryptionEncs             []string `json:"userinfo_encryption_enc_values_supported,omitempty"`
	// Logout reaching the relying parties: Back-Channel Logout 1.0 §2.1
	// (a logout token to backchannel_logout_uri, with sid) and
	// Front-Channel Logout 1.0 §3 (frontchannel_logout_uri framed by the
	// logout page, with iss and sid).
	BackchannelLogoutSupported         bool `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported  bool `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported        bool `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported bool `json:"frontchannel_logout_session_supported"`
	// ClientIDMetadataDocumentSupported: client_ids may be URLs of
	// client ID metadata documents (draft-ietf-oauth-client-id-metadata-document
	// §5); left out when off.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
}

// Handler serves discovery and the JWKS.
type Handler struct {
	metadata []byte
	keys     KeySource
	cacheCtl string
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
	md, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Handler{
		metadata: md,
		keys:     keys,
		cacheCtl: fmt.Sprintf("public, max-age=%d", int(cfg.JWKSMaxAge.Seconds())),
	}, nil
}

// Name is the front end's name in metrics and the route table.
func (h *Handler) Name() string { return "discovery" }

// Routes are public documents browser apps may read cross-origin.
func (h *Handler) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: ConfigurationPath, Handler: h.configuration, Limit: router.Lenient, CORS: true},
		{Method: http.MethodGet, Path: JWKSPath, Handler: h.jwks, Limit: router.Lenient, CORS: true},
	}
}

func (h *Handler) configuration(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, h.metadata)
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
