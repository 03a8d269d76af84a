package router

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// CORSRoutes are the endpoints a browser app calls directly (RFC 6749 §3.2
// leaves the token endpoint to the client; SPAs need CORS for it).
var CORSRoutes = []string{"/token", "/userinfo", "/revoke", "/introspect", "/.well-known/openid-configuration", "/.well-known/jwks.json"}

// CORS allows the configured origins, and no others, on CORSRoutes. No
// credentials (cookies) are ever allowed cross-origin: these endpoints
// authenticate by tokens and client credentials.
func CORS(origins []string) echo.MiddlewareFunc {
	if len(origins) == 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:          func(c echo.Context) bool { return !slices.Contains(CORSRoutes, c.Path()) },
		AllowOrigins:     origins,
		AllowMethods:     []string{http.MethodGet, http.MethodPost},
		AllowHeaders:     []string{echo.HeaderAuthorization, echo.HeaderContentType, "DPoP"},
		ExposeHeaders:    []string{"WWW-Authenticate", "ETag"},
		AllowCredentials: false,
		MaxAge:           600,
	})
}
