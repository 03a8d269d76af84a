package session

import (
	"strings"
	"testing"
)

func TestSplitTokens(t *testing.T) {
	sid, secret := NewSessionID()
	gid := NewID(16)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"cookie", sid + "." + secret, true},
		{"no dot", sid + secret, false},
		{"short secret", sid + ".abc", false},
		{"bad characters", sid + "." + strings.Repeat("%", 43), false},
		{"overlong", sid + "." + strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := SplitCookie(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("SplitCookie(%q) err = %v", tt.in, err)
			}
		})
	}
	if s, g, sec, err := SplitRefresh(sid + "." + gid + "." + secret); err != nil || s != sid || g != gid || sec != secret {
		t.Fatalf("SplitRefresh: %v", err)
	}
	if _, _, _, err := SplitRefresh(sid + "." + secret); err == nil {
		t.Fatal("a code parsed as a refresh token")
	}
}

// FuzzSplit feeds the token parsers untrusted strings: they must never
// panic, and what they accept must be built of valid parts.
func FuzzSplit(f *testing.F) {
	sid, secret := NewSessionID()
	f.Add(sid + "." + secret)
	f.Add(sid + "." + NewID(16) + "." + secret)
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		if a, b, err := SplitCookie(s); err == nil && a+"."+b != s {
			t.Fatalf("SplitCookie(%q) = %q %q", s, a, b)
		}
		if a, b, c, err := SplitRefresh(s); err == nil && a+"."+b+"."+c != s {
			t.Fatalf("SplitRefresh(%q) = %q %q %q", s, a, b, c)
		}
	})
}
