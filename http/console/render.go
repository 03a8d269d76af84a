package console

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/internal/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// pageCSP: nothing inline and no script at all; forms post to the
// console only; never framed.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageSet is the templates parsed once per language ({{T}} translates
// into that language).
type pageSet struct {
	byLang map[string]*template.Template
}

func newPageSet() (*pageSet, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	ps := &pageSet{byLang: map[string]*template.Template{}}
	for _, lang := range i18n.Supported() {
		t := template.New("").Funcs(template.FuncMap{
			"T":    func(key string, args ...any) string { return i18n.T(lang, key, args...) },
			"lang": func() string { return lang },
			"when": func(t any) string {
				switch v := t.(type) {
				case *time.Time:
					if v == nil {
						return ""
					}
					return v.UTC().Format("2006-01-02 15:04 MST")
				case time.Time:
					if v.IsZero() {
						return ""
					}
					return v.UTC().Format("2006-01-02 15:04 MST")
				}
				return ""
			},
		})
		for _, n := range names {
			b, err := templateFS.ReadFile(n)
			if err != nil {
				return nil, err
			}
			if _, err := t.New(path.Base(n)).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("console: template %s: %w", n, err)
			}
		}
		for name, data := range samplePageData {
			if err := t.ExecuteTemplate(io.Discard, name, data); err != nil {
				return nil, fmt.Errorf("console: template %s (%s): %w", name, lang, err)
			}
		}
		ps.byLang[lang] = t
	}
	return ps, nil
}

func pageLang(e echo.Context) string {
	return i18n.Match("", e.Request().Header.Get("Accept-Language"))
}

// tr translates a message of a page into the page's language.
func (c *Console) tr(e echo.Context, key string, args ...any) string {
	return i18n.T(pageLang(e), key, args...)
}

// render writes a page; never cached (CSRF tokens, per-admin data).
// Pages of a signed-in admin get the navigation and the CSRF token.
func (c *Console) render(e echo.Context, status int, name string, data map[string]any) error {
	h := e.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Language")
	lang := pageLang(e)
	h.Set("Content-Language", lang)
	if s := sessionOf(e); s.Sub != "" {
		data["CSRF"] = s.CSRF
		data["Admin"] = adminOf(e).Username
	}
	data["Base"] = Base
	e.Response().WriteHeader(status)
	t, ok := c.pages.byLang[lang]
	if !ok {
		t = c.pages.byLang[i18n.Default]
	}
	return t.ExecuteTemplate(e.Response(), name, data)
}

// errorPage shows a message (its English text, translated).
func (c *Console) errorPage(e echo.Context, status int, key string, args ...any) error {
	return c.render(e, status, "error.html", map[string]any{"Title": c.tr(e, "Cannot continue"), "Message": c.tr(e, key, args...)})
}

// message shows a message already in the page's language.
func (c *Console) message(e echo.Context, status int, msg string) error {
	return c.render(e, status, "error.html", map[string]any{"Title": c.tr(e, "Cannot continue"), "Message": msg})
}

// fail answers an unexpected error: logged, never shown.
func (c *Console) fail(e echo.Context, err error) error {
	c.logger.ErrorContext(e.Request().Context(), "console: request failed", "path", e.Path(), "err", err)
	return c.errorPage(e, http.StatusInternalServerError, "Something went wrong. Try again.")
}

// asset serves the console's stylesheet.
func (c *Console) asset(e echo.Context) error {
	name := e.Param("file")
	b, err := assetFS.ReadFile("assets/" + path.Base(name))
	if err != nil || path.Ext(name) != ".css" {
		return echo.ErrNotFound
	}
	h := e.Response().Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	return e.Blob(http.StatusOK, "text/css; charset=utf-8", b)
}
