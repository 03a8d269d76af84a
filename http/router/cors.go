package router

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// CORS allows the configured origins, and no others, on the paths whose
// routes declare CORS (the endpoints a browser app calls directly: RFC
// 6749 §3.2 leaves the token endpoint to the client; SPAs need CORS for
// it). No credentials (cookies) are ever allowed cross-origin: these
// endpoints authenticate by tokens and client credentials.
func CORS(origins []string, paths map[string]bool) echo.MiddlewareFunc {
	if len(origins) == 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:      func(c echo.Context) bool { return !paths[c.Path()] },
		AllowOrigins: origins,
		AllowMethods: []string{http.MethodGet, http.MethodPost},
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType, "DPoP"},
		// DPoP-Nonce: a browser client must read the server's nonce
		// (RFC 9449 §8).
		ExposeHeaders:    []string{"WWW-Authenticate", "ETag", "DPoP-Nonce"},
		AllowCredentials: false,
		MaxAge:           600,
	})
}
