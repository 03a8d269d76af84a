package auth

import (
	"strings"
	"testing"
)

func TestHintDomain(t *testing.T) {
	for hint, want := range map[string]string{
		"alice@Corp.Example":   "corp.example",
		"alice":                "",
		"":                     "",
		"@corp.example":        "",
		"alice@":               "",
		"a@b@corp.example":     "",
		"alice @corp.example":  "",
		"alice@corp.example.":  "",
		"alice@.corp.example":  "",
		"alice@corp..example":  "",
		"<alice@corp.example>": "",
		"alice@corp.example\n": "",
		"x" + strings.Repeat("y", 400) + "@corp.example": "",
	} {
		if got := hintDomain(hint); got != want {
			t.Errorf("hintDomain(%q) = %q, want %q", hint, got, want)
		}
	}
}

// FuzzHintDomain: any login_hint gives "" or a lower-case domain without
// "@", spaces or empty labels at its ends.
func FuzzHintDomain(f *testing.F) {
	for _, s := range []string{"alice@corp.example", "a@b@c", "@", "alice@Corp.Example", "x@.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hint string) {
		d := hintDomain(hint)
		if d == "" {
			return
		}
		if strings.ContainsAny(d, "@ \t\r\n") || d != strings.ToLower(d) || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || !strings.HasSuffix(strings.ToLower(hint), "@"+d) {
			t.Fatalf("hintDomain(%q) = %q", hint, d)
		}
	})
}
