package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/http/router"
	"authrim/internal/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// pageCSP is every page's Content-Security-Policy: nothing inline, no
// frames in or out; images (a theme's logo) from here only. The
// front-channel logout page alone adds the frame sources it needs
// (renderFrontchannel); the TOTP setup page adds data: images (setupCSP).
const pageCSP = cspBase + "; img-src 'self'"

const cspBase = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action *; frame-ancestors 'none'; base-uri 'none'"

// Keys of the per-request values pages read from the echo context.
const (
	pagesKey = "authrim.pages"
	langKey  = "authrim.lang"
)

// defaultPages are the built-in templates without a theme, for a
// request that did not come through the Handler's routes.
var defaultPages = func() *pageSet {
	ps, err := newPageSet(Theme{})
	if err != nil {
		panic("auth: built-in templates: " + err.Error())
	}
	return ps
}()

// withPages is every route's middleware: the handler's page set (its
// theme) travels with the request to render.
func (h *Handler) withPages(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(pagesKey, h.pages)
		return next(c)
	}
}

func pagesOf(c echo.Context) *pageSet {
	if ps, ok := c.Get(pagesKey).(*pageSet); ok && ps != nil {
		return ps
	}
	return defaultPages
}

// useUILocales makes uiLocales (the ui_locales of the authorization or
// logout request this page belongs to) decide the page's language, over
// the browser's Accept-Language (OIDC Core §3.1.2.1). Empty changes
// nothing.
func useUILocales(c echo.Context, uiLocales string) {
	if uiLocales != "" {
		c.Set(langKey, i18n.Match(uiLocales, c.Request().Header.Get("Accept-Language")))
	}
}

// pageLang is the language of this request's page: the flow's
// ui_locales (useUILocales), else Accept-Language, else English.
func pageLang(c echo.Context) string {
	if l, ok := c.Get(langKey).(string); ok && l != "" {
		return l
	}
	l := i18n.Match("", c.Request().Header.Get("Accept-Language"))
	c.Set(langKey, l)
	return l
}

// tr translates a message of a page into the page's language.
func tr(c echo.Context, key string, args ...any) string {
	return i18n.T(pageLang(c), key, args...)
}

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
	// The page's language depends on Accept-Language (when no ui_locales
	// chose it).
	h.Add("Vary", "Accept-Language")
	h.Set("Content-Language", pageLang(c))
	c.Response().WriteHeader(status)
	return pagesOf(c).lang(pageLang(c)).ExecuteTemplate(c.Response(), name, data)
}

// errorPage shows a message: key is its English text (a format when args
// are given), shown in the page's language.
func errorPage(c echo.Context, status int, key string, args ...any) error {
	return render(c, status, "error.html", map[string]any{"Title": tr(c, "Cannot continue"), "Message": tr(c, key, args...)})
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

// assetsRoute serves the embedded CSS and JS, and the theme's files under
// /assets/theme/.
func (h *Handler) assetsRoute() router.Route {
	return router.Route{Method: http.MethodGet, Path: "/assets/*", Handler: h.serveAsset, Limit: router.Lenient}
}

var assets = cacheAssets(http.FileServer(http.FS(assetFS)))

func (h *Handler) serveAsset(c echo.Context) error {
	if h.pages.serveTheme(c) {
		return nil
	}
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
