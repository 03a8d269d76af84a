package useragent

import (
	"slices"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	tests := []struct{ name, ua, want string }{
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"},
		{"firefox ubuntu", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Ubuntu"},
		{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"edge windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"opera mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on macOS"},
		{"safari mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"chrome ios", "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iPad"},
		{"chrome android", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"samsung", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"chromeos", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Headless Chrome on Linux"},
		{"curl", "curl/8.5.0", "curl"},
		{"go client", "Go-http-client/1.1", "Go HTTP client"},
		{"system only", "Mozilla/5.0 (Windows NT 10.0)", "Browser on Windows"},
		{"empty", "", "Unknown browser"},
		{"markup is never echoed", "<script>alert(1)</script>", "Unknown browser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summary(tt.ua); got != tt.want {
				t.Fatalf("Summary(%q) = %q, want %q", tt.ua, got, tt.want)
			}
		})
	}
}

// FuzzSummary: any header gives a summary made of the fixed names only
// (nothing of the header reaches the page).
func FuzzSummary(f *testing.F) {
	for _, s := range []string{"", "Firefox/1 (X11; Linux)", "Chrome/1 Edg/1 (Windows)", "\xff\x00iPhone", strings.Repeat("Linux", 200)} {
		f.Add(s)
	}
	var browsers, systems []string
	for _, r := range uaBrowsers {
		browsers = append(browsers, r.name)
	}
	for _, r := range uaSystems {
		systems = append(systems, r.name)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := Summary(ua)
		if got == unknownDevice {
			return
		}
		b, s, both := strings.Cut(got, " on ")
		switch {
		case !both && slices.Contains(browsers, got):
		case both && (b == "Browser" || slices.Contains(browsers, b)) && slices.Contains(systems, s):
		default:
			t.Fatalf("Summary(%q) = %q: not made of the known names", ua, got)
		}
	})
}
