package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestThemeRefusedAtStart: a theme that cannot render is refused when
// the pages are built (at start), with an error naming the file.
func TestThemeRefusedAtStart(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		logo  string
		want  string // in the error; "" means the theme is accepted
	}{
		{"good override", map[string]string{"login.html": `{{template "top" .}}<p>{{T "Sign in"}}</p>{{template "bottom" .}}`}, "", ""},
		{"parse error", map[string]string{"login.html": `{{template "top" .}}{{if .Error}}`}, "", "login.html"},
		{"unknown function", map[string]string{"consent.html": `{{nope .Title}}`}, "", "consent.html"},
		{"fails to execute", map[string]string{"mfa.html": `{{template "top" .}}{{.Title.Missing}}{{template "bottom" .}}`}, "", "mfa.html"},
		{"calls a missing template", map[string]string{"error.html": `{{template "header" .}}`}, "", "error.html"},
		{"layout breaks every page", map[string]string{"layout.html": `{{define "top"}}{{.Title.X}}{{end}}{{define "bottom"}}{{end}}`}, "", "layout.html"},
		{"unknown template name", map[string]string{"signin.html": `hi`}, "", "signin.html"},
		{"logo missing", map[string]string{"brand.css": `body{}`}, "logo.png", "ui.logo"},
		{"logo not an image", map[string]string{"brand.css": `body{}`}, "brand.css", "ui.logo"},
		{"logo present", map[string]string{"logo.png": "\x89PNG"}, "logo.png", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := newPageSet(Theme{Dir: dir, Logo: tt.logo})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	if _, err := newPageSet(Theme{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil || !strings.Contains(err.Error(), "ui.theme_dir") {
		t.Fatalf("missing theme_dir: %v", err)
	}
}

// TestBuiltInPagesRenderInEveryLanguage: each page renders in each
// language with <html lang> set to it.
func TestBuiltInPagesRenderInEveryLanguage(t *testing.T) {
	ps, err := newPageSet(Theme{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "ja", "de", "fr"} {
		for name, data := range samplePageData {
			var b strings.Builder
			if err := ps.lang(lang).ExecuteTemplate(&b, name, data); err != nil {
				t.Fatalf("%s %s: %v", lang, name, err)
			}
			if !strings.Contains(b.String(), `<html lang="`+lang+`">`) {
				t.Fatalf("%s %s: no <html lang=%q>", lang, name, lang)
			}
		}
	}
	var b strings.Builder
	_ = ps.lang("ja").ExecuteTemplate(&b, "login.html", samplePageData["login.html"])
	if !strings.Contains(b.String(), `<strong>App</strong>（<strong class="client-host">app.example</strong>）に進むにはサインインしてください。`) {
		t.Fatalf("ja sign-in page:\n%s", b.String())
	}
}

// TestTBEscapes: a name shown in bold or quoted inside a translated
// sentence (TB, TH) is escaped: a client calling itself <script> stays
// text.
func TestTBEscapes(t *testing.T) {
	ps, err := newPageSet(Theme{})
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"Title": "Sign in", "ClientName": `<script>alert(1)</script>`, "RID": "r", "CSRF": "c"}
	var b strings.Builder
	if err := ps.lang("en").ExecuteTemplate(&b, "login.html", data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") || !strings.Contains(b.String(), "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>") {
		t.Fatalf("client name not escaped:\n%s", b.String())
	}
	data = map[string]any{"Title": "Allow access?", "ClientName": `<img src=x onerror=alert(1)>`, "ClientHost": `evil.example"><b>`, "RID": "r", "CSRF": "c"}
	b.Reset()
	if err := ps.lang("ja").ExecuteTemplate(&b, "consent.html", data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<img src=x") || strings.Contains(b.String(), `"><b>`) ||
		!strings.Contains(b.String(), "<q>&lt;img src=x onerror=alert(1)&gt;</q> と名乗っていますが") {
		t.Fatalf("consent page does not escape the client's name and host:\n%s", b.String())
	}
}
