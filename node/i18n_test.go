package node_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"authrim/config"
	"authrim/internal/docexample"
	"authrim/node"
)

var htmlLangRE = regexp.MustCompile(`<html lang="([^"]*)">`)

// getLang fetches u with an Accept-Language header (none when empty).
func getLang(t *testing.T, b *http.Client, u, acceptLanguage string) (page, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body)}, resp.Header
}

func pageLang(t *testing.T, p page) string {
	t.Helper()
	m := htmlLangRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no <html lang> in %d %s", p.status, p.body)
	}
	return m[1]
}

// TestPagesFollowUILocales: the sign-in page's language is the request's
// ui_locales (OIDC Core §3.1.2.1) if one is supported, else the browser's
// Accept-Language, else English; it is in <html lang> and
// Content-Language, and the text is translated.
func TestPagesFollowUILocales(t *testing.T) {
	o := startOP(t)
	tests := []struct {
		name, uiLocales, acceptLanguage string
		wantLang, wantText              string
	}{
		{"English by default", "", "", "en", ">Sign in</button>"},
		{"ui_locales", "ja", "", "ja", ">サインイン</button>"},
		{"ui_locales beats Accept-Language", "ja", "de-DE,de;q=0.9", "ja", ">サインイン</button>"},
		{"first supported ui_locales tag", "pt-BR fr-CA de", "ja", "fr", ">Se connecter</button>"},
		{"unsupported ui_locales falls to Accept-Language", "pt zh", "zh-CN, de;q=0.5, fr;q=0.4", "de", ">Anmelden</button>"},
		{"region in Accept-Language picks its language", "", "fr-CA", "fr", ">Se connecter</button>"},
		{"nothing supported is English", "ko", "pt-BR, zh;q=0.8", "en", ">Sign in</button>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := baseParams()
			if tt.uiLocales != "" {
				params["ui_locales"] = tt.uiLocales
			}
			p, h := getLang(t, browser(t), o.authorizeURL(params), tt.acceptLanguage)
			if !p.isLogin() {
				t.Fatalf("want the sign-in page, got %d %s", p.status, p.body)
			}
			if got := pageLang(t, p); got != tt.wantLang {
				t.Fatalf("<html lang=%q>, want %q", got, tt.wantLang)
			}
			if got := h.Get("Content-Language"); got != tt.wantLang {
				t.Fatalf("Content-Language %q, want %q", got, tt.wantLang)
			}
			if !strings.Contains(p.body, tt.wantText) {
				t.Fatalf("page lacks %q:\n%s", tt.wantText, p.body)
			}
		})
	}
}

// TestUILocalesCarriedThroughTheFlow: the pages after /authorize (a
// failed sign-in, consent) keep the authorization request's ui_locales,
// though their POSTs carry neither it nor an Accept-Language.
func TestUILocalesCarriedThroughTheFlow(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	params := baseParams()
	params["ui_locales"] = "ja"
	p, _ := getLang(t, b, o.authorizeURL(params), "en-US")
	p = o.login(t, b, p, "wrong password")
	if pageLang(t, p) != "ja" || !strings.Contains(p.body, "ユーザー名またはパスワードが正しくありません。") {
		t.Fatalf("failed sign-in page not in Japanese: %d %s", p.status, p.body)
	}
	p = o.login(t, b, p, userPassword)
	if !p.isConsent() || pageLang(t, p) != "ja" || !strings.Contains(p.body, "アクセスを許可しますか？") || !strings.Contains(p.body, "メールアドレスを見る") {
		t.Fatalf("consent page not in Japanese: %d %s", p.status, p.body)
	}
	// A request without ui_locales in the same browser is in English.
	p, _ = getLang(t, b, o.authorizeURL(baseParams()), "")
	if pageLang(t, p) != "en" {
		t.Fatalf("the next request kept the earlier one's language: %s", p.body)
	}
}

// TestErrorAndLogoutPagesTranslated: the error page a bad request gets
// and the logout confirmation (RP-Initiated Logout 1.0 §2 ui_locales)
// are translated too.
func TestErrorAndLogoutPagesTranslated(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	p, _ := getLang(t, b, o.issuer+"/authorize?client_id=nobody&ui_locales=de", "")
	if p.status != http.StatusBadRequest || pageLang(t, p) != "de" || !strings.Contains(p.body, "Unbekannter Client.") {
		t.Fatalf("error page: %d %s", p.status, p.body)
	}
	o.signIn(t, b, o.authorizeURL(baseParams()))
	p, _ = getLang(t, b, o.issuer+"/logout?"+url.Values{"ui_locales": {"fr"}}.Encode(), "ja")
	if pageLang(t, p) != "fr" || !strings.Contains(p.body, "Voulez-vous vous déconnecter") {
		t.Fatalf("logout page: %d %s", p.status, p.body)
	}
	// The confirmation keeps the language to the signed-out page.
	f := hidden(p.body)
	p = postForm(t, b, o.issuer+"/logout", f)
	if pageLang(t, p) != "fr" || !strings.Contains(p.body, "Vous êtes déconnecté.") {
		t.Fatalf("signed-out page: %d %s", p.status, p.body)
	}
}

// TestThemeDressesThePages: a theme directory's template override, style
// sheet and logo, and the product name, show on the pages; the theme's
// files are served under /assets/theme/ (not its templates), and the
// pages' CSP stays as strict (no inline style or script).
func TestThemeDressesThePages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("signed_out.html", `{{template "top" .}}<p id="themed">{{T "You are signed out."}} (themed)</p>{{template "bottom" .}}`)
	write("brand.css", `main { border-top: 4px solid #c00; }`)
	write("logo.svg", `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`)
	o := startOPWith(t, func(c *node.Config) {
		c.UI = node.UIConfig{ThemeDir: dir, ProductName: "Example ID", Logo: "logo.svg"}
	})
	b := browser(t)
	p, h := getLang(t, b, o.authorizeURL(baseParams()), "")
	for _, want := range []string{
		`<title>Sign in · Example ID</title>`, `<link rel="stylesheet" href="/assets/theme/brand.css">`,
		`<img class="logo" src="/assets/theme/logo.svg" alt="">`, `<span class="product">Example ID</span>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("sign-in page lacks %s:\n%s", want, p.body)
		}
	}
	if csp := h.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "style-src 'self'") {
		t.Fatalf("CSP loosened by the theme: %q", csp)
	}
	// Without a session, /logout shows the signed-out page.
	p, _ = getLang(t, browser(t), o.issuer+"/logout", "de")
	if !strings.Contains(p.body, `<p id="themed">Sie sind abgemeldet. (themed)</p>`) {
		t.Fatalf("override not used (or not translated): %s", p.body)
	}
	for path, want := range map[string]int{
		"/assets/theme/brand.css": 200, "/assets/theme/logo.svg": 200,
		"/assets/theme/signed_out.html": 404, "/assets/theme/../theme/brand.css": 404, "/assets/theme/..%2fkek": 404, "/assets/theme/nope.css": 404,
		"/assets/style.css": 200,
	} {
		resp, err := http.Get(o.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && strings.HasSuffix(path, ".css") && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Errorf("GET %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
		}
	}
}

// TestBrokenThemeStopsTheStart: a template override that does not parse
// stops the node's start with an error naming the file.
func TestBrokenThemeStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "login.html")
	if err := os.WriteFile(bad, []byte(`{{template "top" .}}{{if .Error}}<p>{{.Error}}</p>{{template "bottom" .}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.UI.ThemeDir = dir
	_, err := node.Start(t.Context(), cfg, node.Options{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("start with a broken login.html: %v", err)
	}
}

// TestREADMELanguagesExample: the README's language example works
// against a node, and its theme config loads and validates.
func TestREADMELanguagesExample(t *testing.T) {
	o := startOP(t)
	out := docexample.Run(t, "../README.md", "ui-locales", "ISSUER="+o.issuer)
	if want := "en ja de fr\n<html lang=\"ja\">\n<h1>Déconnecté</h1>\n"; out != want {
		t.Fatalf("README example printed %q, want %q", out, want)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- example: theme-config -->")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	yaml, _, ok3 := strings.Cut(rest, "\n```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no theme-config yaml block")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(yaml+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, nil)
	if err != nil {
		t.Fatalf("README theme config: %v", err)
	}
	if cfg.UI != (node.UIConfig{ThemeDir: "/etc/authrim/theme", ProductName: "Example ID", Logo: "logo.svg"}) {
		t.Fatalf("README theme config loaded as %+v", cfg.UI)
	}
}

// TestUIConfigValidated: ui keys that cannot work stop the start with a
// message naming the key.
func TestUIConfigValidated(t *testing.T) {
	tests := []struct {
		name string
		ui   node.UIConfig
		want string
	}{
		{"logo without theme_dir", node.UIConfig{Logo: "logo.png"}, "ui.logo"},
		{"logo as a path", node.UIConfig{ThemeDir: "/t", Logo: "../kek"}, "ui.logo"},
		{"product name too long", node.UIConfig{ProductName: strings.Repeat("x", 65)}, "ui.product_name"},
		{"product name with a newline", node.UIConfig{ProductName: "a\nb"}, "ui.product_name"},
		{"fine", node.UIConfig{ThemeDir: "/t", Logo: "logo.png", ProductName: "Example ID"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := node.Default()
			cfg.UI = tt.ui
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil && strings.Contains(err.Error(), "ui.") {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want a problem with %s", err, tt.want)
			}
		})
	}
}
