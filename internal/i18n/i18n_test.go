package i18n

import (
	"slices"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name, uiLocales, acceptLanguage, want string
	}{
		{"nothing", "", "", "en"},
		{"ui_locales", "ja", "", "ja"},
		{"ui_locales beats Accept-Language", "ja", "de", "ja"},
		{"first supported ui_locales tag wins", "pt zh fr de", "ja", "fr"},
		{"unsupported ui_locales falls to Accept-Language", "pt-BR zh", "de-DE,de;q=0.9", "de"},
		{"unsupported everything falls to English", "pt", "zh-CN, ko;q=0.8", "en"},
		{"region tag picks its language", "fr-CA", "", "fr"},
		{"region in Accept-Language", "", "de-AT", "de"},
		{"script and region", "ja-Jpan-JP", "", "ja"},
		{"q-values order Accept-Language", "", "fr;q=0.5, de;q=0.9, en;q=0.1", "de"},
		{"q=0 refuses a language", "", "ja;q=0, fr;q=0.2", "fr"},
		{"unsupported first, supported later", "", "zh-TW, zh;q=0.9, ja;q=0.5", "ja"},
		{"malformed ui_locales tag is skipped", "!!! ja", "", "ja"},
		{"malformed Accept-Language", "", ";;;q=x", "en"},
		{"wildcard alone", "", "*", "en"},
		{"English region", "en-GB", "ja", "en"},
		{"oversized header ignored", "", strings.Repeat("zh, ", 300) + "ja", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.uiLocales, tt.acceptLanguage); got != tt.want {
				t.Fatalf("Match(%q, %q) = %q, want %q", tt.uiLocales, tt.acceptLanguage, got, tt.want)
			}
		})
	}
}

func TestT(t *testing.T) {
	tests := []struct {
		name, lang, key string
		args            []any
		want            string
	}{
		{"English is the key", "en", "Sign in", nil, "Sign in"},
		{"Japanese", "ja", "Sign in", nil, "サインイン"},
		{"German", "de", "Sign in", nil, "Anmelden"},
		{"French", "fr", "Sign in", nil, "Se connecter"},
		{"arguments", "de", "You approved %s.", []any{"TV"}, "Sie haben TV bestätigt."},
		{"reordered arguments", "ja", "Authenticator app: %s since %s (last code %s).", []any{"有効", "2026-01-02", "なし"}, "認証アプリ：2026-01-02 から有効（最後のコード：なし）。"},
		{"English arguments", "en", "You approved %s.", []any{"TV"}, "You approved TV."},
		{"missing key shows in English", "ja", "Not translated %d", []any{3}, "Not translated 3"},
		{"unsupported language is English", "xx", "Sign in", nil, "Sign in"},
		{"no args: not a format", "ja", "https://x.example/a%2Fb 100%", nil, "https://x.example/a%2Fb 100%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := T(tt.lang, tt.key, tt.args...); got != tt.want {
				t.Fatalf("T(%q, %q) = %q, want %q", tt.lang, tt.key, got, tt.want)
			}
		})
	}
}

func TestSupported(t *testing.T) {
	if got := Supported(); !slices.Equal(got, []string{"en", "ja", "de", "fr"}) {
		t.Fatalf("Supported() = %v", got)
	}
}

// FuzzMatch: whatever a client sends as ui_locales or Accept-Language,
// Match answers a supported language and does not fail.
func FuzzMatch(f *testing.F) {
	f.Add("ja fr-CA", "de-DE,de;q=0.9,en;q=0.1")
	f.Add("", "*;q=0.5, zh-Hant-TW")
	f.Add("x-private-use en-u-ca-gregory", ";q=1.0,,")
	f.Fuzz(func(t *testing.T, ui, al string) {
		if got := Match(ui, al); !slices.Contains(Supported(), got) {
			t.Fatalf("Match(%q, %q) = %q", ui, al, got)
		}
	})
}
