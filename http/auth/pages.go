package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/http/router"
	"authrim/internal/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// pageFuncs are the functions templates may call. T translates a
// message (its English text) into the page's language: see internal/i18n.
var pageFuncs = template.FuncMap{
	"T": func(key string, args ...any) string { return i18n.T(i18n.Default, key, args...) },
}

var pages = template.Must(template.New("").Funcs(pageFuncs).ParseFS(templateFS, "templates/*.html"))

// pageCSP is every page's Content-Security-Policy: nothing inline, no
// frames in or out. The front-channel logout page alone adds the frame
// sources it needs (renderFrontchannel).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action *; frame-ancestors 'none'; base-uri 'none'"

// render writes a page; HTML pages are never cached (they carry CSRF
// tokens and per-request data).
func render(c echo.Context, status int, name string, data map[string]any) error {
	return renderWithCSP(c, status, name, data, pageCSP)
}

// renderWithCSP is render with another Content-Security-Policy.
func renderWithCSP(c echo.Context, status int, name string, data map[string]any, csp string) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(status)
	return pages.ExecuteTemplate(c.Response(), name, data)
}

func errorPage(c echo.Context, status int, msg string) error {
	return render(c, status, "error.html", map[string]any{"Title": "Cannot continue", "Message": msg})
}

// csrfToken binds a form to the session: only a page that could read the
// cookie secret can produce it.
func csrfToken(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf:" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func csrfOK(secret, purpose, got string) bool {
	return secret != "" && hmac.Equal([]byte(csrfToken(secret, purpose)), []byte(got))
}

// assetsRoute serves the embedded CSS and JS.
func assetsRoute() router.Route {
	return router.Route{Method: http.MethodGet, Path: "/assets/*", Handler: serveAsset, Limit: router.Lenient}
}

var assets = cacheAssets(http.FileServer(http.FS(assetFS)))

func serveAsset(c echo.Context) error {
	assets.ServeHTTP(c.Response(), c.Request())
	return nil
}

func cacheAssets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
