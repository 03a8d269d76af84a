package auth

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/internal/i18n"
)

// Theme is how an operator dresses the pages (config ui.*).
type Theme struct {
	// Dir holds template overrides (an *.html of the same name as a
	// built-in template replaces it), style sheets (*.css, linked after
	// the built-in one, in name order) and images. Empty: no theme.
	Dir string
	// ProductName is shown in every page's title and header
	// ("Authrim" when empty).
	ProductName string
	// Logo is an image file in Dir shown in the header, served at
	// /assets/theme/NAME.
	Logo string
}

// DefaultProductName names the product when the theme does not.
const DefaultProductName = "Authrim"

// themePrefix is where a theme's files are served.
const themePrefix = "/assets/theme/"

// maxThemeFile bounds a theme file read at start.
const maxThemeFile = 4 << 20

// themeAssetTypes are the files of a theme that are served, by
// extension; anything else (its templates) is not.
var themeAssetTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".svg":   "image/svg+xml",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
}

// pageSet is the templates of every supported language, parsed once at
// start, with the theme applied, and the theme's files.
type pageSet struct {
	byLang map[string]*template.Template
	// files are the theme's served files by name.
	files map[string][]byte
}

// lang returns the templates of lang (English when unsupported).
func (ps *pageSet) lang(l string) *template.Template {
	if t, ok := ps.byLang[l]; ok {
		return t
	}
	return ps.byLang[i18n.Default]
}

// newPageSet parses the built-in templates with the theme's overrides
// for every language and executes each against sample data, so a broken
// override stops the start naming its file instead of failing requests.
func newPageSet(th Theme) (*pageSet, error) {
	product := th.ProductName
	if product == "" {
		product = DefaultProductName
	}
	sources := map[string]string{}
	builtin, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range builtin {
		b, err := templateFS.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sources[path.Base(p)] = string(b)
	}
	overridden := map[string]string{} // name -> file path
	ps := &pageSet{byLang: map[string]*template.Template{}, files: map[string][]byte{}}
	var css []string
	if th.Dir != "" {
		entries, err := os.ReadDir(th.Dir)
		if err != nil {
			return nil, fmt.Errorf("ui.theme_dir: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || strings.HasPrefix(name, ".") {
				continue
			}
			full := filepath.Join(th.Dir, name)
			ext := strings.ToLower(filepath.Ext(name))
			if ext != ".html" && themeAssetTypes[ext] == "" {
				continue
			}
			b, err := readBounded(full)
			if err != nil {
				return nil, fmt.Errorf("ui.theme_dir: %w", err)
			}
			switch {
			case ext == ".html":
				if _, ok := sources[name]; !ok {
					return nil, fmt.Errorf("ui.theme_dir: %s: no built-in template has this name (one of %s)", full, strings.Join(sortedKeys(sources), ", "))
				}
				sources[name] = string(b)
				overridden[name] = full
			default:
				ps.files[name] = b
				if ext == ".css" {
					css = append(css, themePrefix+name)
				}
			}
		}
	}
	slices.Sort(css)
	logo := ""
	if th.Logo != "" {
		if strings.ContainsAny(th.Logo, `/\`) {
			return nil, fmt.Errorf("ui.logo: %q must be a file name in ui.theme_dir", th.Logo)
		}
		if _, ok := ps.files[th.Logo]; !ok || !strings.HasPrefix(themeAssetTypes[strings.ToLower(filepath.Ext(th.Logo))], "image/") {
			return nil, fmt.Errorf("ui.logo: %q is not an image file in ui.theme_dir %q", th.Logo, th.Dir)
		}
		logo = themePrefix + th.Logo
	}
	names := sortedKeys(sources)
	for _, lang := range i18n.Supported() {
		t := template.New("").Funcs(pageFuncs(lang, product, logo, css))
		for _, name := range names {
			if _, err := t.New(name).Parse(sources[name]); err != nil {
				return nil, templateError(name, overridden, err)
			}
		}
		for _, name := range names {
			data, ok := samplePageData[name]
			if !ok {
				continue // a partial (layout.html)
			}
			if err := t.ExecuteTemplate(io.Discard, name, data); err != nil {
				return nil, templateError(name, overridden, err)
			}
		}
		ps.byLang[lang] = t
	}
	return ps, nil
}

// templateError names the file a template came from: the operator's
// override, or the built-in one (a bug of ours, or an override of
// layout.html that broke it).
func templateError(name string, overridden map[string]string, err error) error {
	if f, ok := overridden[name]; ok {
		return fmt.Errorf("ui.theme_dir: template %s: %w", f, err)
	}
	if len(overridden) > 0 {
		return fmt.Errorf("ui.theme_dir: built-in template %s fails with the overrides (%s): %w", name, strings.Join(sortedValues(overridden), ", "), err)
	}
	return fmt.Errorf("auth: built-in template %s: %w", name, err)
}

func readBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxThemeFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxThemeFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxThemeFile)
	}
	return b, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// pageFuncs are the functions templates may call, bound to one language:
//
//   - T translates a message (its English text, a fmt format when args
//     follow) into the page's language: see internal/i18n.
//   - TB is T with each argument shown in bold (<strong>): for names
//     inside a sentence. The translation and the arguments are escaped.
//   - TH is T for a sentence with marked-up parts: arguments made by q
//     (a quotation), strong (bold) or host (a client's host, set apart)
//     keep their markup, any other is escaped, as is the translation.
//   - lang is the page's language (BCP 47), product the product name,
//     logo the logo's URL ("" without one), themeCSS the theme's style
//     sheets.
func pageFuncs(lang, product, logo string, css []string) template.FuncMap {
	return template.FuncMap{
		"T": func(key string, args ...any) string { return i18n.T(lang, key, args...) },
		"TB": func(key string, args ...any) template.HTML {
			bold := make([]any, len(args))
			for i, a := range args {
				bold[i] = "<strong>" + html.EscapeString(fmt.Sprint(a)) + "</strong>"
			}
			return template.HTML(fmt.Sprintf(html.EscapeString(i18n.Text(lang, key)), bold...))
		},
		"TH": func(key string, args ...any) template.HTML {
			return template.HTML(fmt.Sprintf(html.EscapeString(i18n.Text(lang, key)), htmlArgs(args)...))
		},
		"q":      func(s string) template.HTML { return template.HTML("<q>" + html.EscapeString(s) + "</q>") },
		"strong": func(s string) template.HTML { return template.HTML("<strong>" + html.EscapeString(s) + "</strong>") },
		"host": func(s string) template.HTML {
			return template.HTML(`<strong class="client-host">` + html.EscapeString(s) + "</strong>")
		},
		"lang":     func() string { return lang },
		"product":  func() string { return product },
		"logo":     func() string { return logo },
		"themeCSS": func() []string { return css },
	}
}

// serveTheme serves a theme file under /assets/theme/; false when the
// request is not for one.
func (ps *pageSet) serveTheme(c echo.Context) bool {
	p := c.Request().URL.Path
	if !strings.HasPrefix(p, themePrefix) {
		return false
	}
	name := strings.TrimPrefix(p, themePrefix)
	b, ok := ps.files[name]
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !ok {
		_ = c.NoContent(http.StatusNotFound)
		return true
	}
	ct := themeAssetTypes[strings.ToLower(filepath.Ext(name))]
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(name))
	}
	h.Set("Cache-Control", "public, max-age=3600")
	// A theme's SVG opened by itself runs nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
	_ = c.Blob(http.StatusOK, ct, b)
	return true
}

// htmlArgs escapes the arguments of TH, but for markup made by q and
// strong (template.HTML from those functions, already escaped).
func htmlArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if h, ok := a.(template.HTML); ok {
			out[i] = string(h)
			continue
		}
		out[i] = html.EscapeString(fmt.Sprint(a))
	}
	return out
}
