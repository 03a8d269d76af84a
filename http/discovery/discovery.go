package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
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
}

// Metadata is the provider metadata document (Discovery §3). Fields are
// added as the OP gains the capability they describe, never before.
type Metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
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
	md, err := json.Marshal(Metadata{
		Issuer:  cfg.Issuer,
		JWKSURI: base + JWKSPath,
	})
	if err != nil {
		return nil, err
	}
	return &Handler{
		metadata: md,
		keys:     keys,
		cacheCtl: fmt.Sprintf("public, max-age=%d", int(cfg.JWKSMaxAge.Seconds())),
	}, nil
}

// Mount registers the routes.
func (h *Handler) Mount(e *echo.Echo) {
	e.GET(ConfigurationPath, h.configuration)
	e.GET(JWKSPath, h.jwks)
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
