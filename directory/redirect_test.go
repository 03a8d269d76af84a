package directory_test

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"authrim/directory"
)

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"https://rp.example/cb", "http://127.0.0.1/native", "http://[::1]:8080/cb?x=1"}
	for _, tc := range []struct {
		name string
		got  string
		want bool
	}{
		{"exact", "https://rp.example/cb", true},
		{"exact loopback", "http://127.0.0.1/native", true},
		{"loopback, another port", "http://127.0.0.1:53124/native", true},
		{"ipv6 loopback, another port", "http://[::1]:1/cb?x=1", true},
		{"https differs in path", "https://rp.example/cb/", false},
		{"https differs in case", "https://RP.example/cb", false},
		{"https with a port", "https://rp.example:443/cb", false},
		{"loopback, other path", "http://127.0.0.1:5000/other", false},
		{"loopback, other query", "http://[::1]:8080/cb?x=2", false},
		{"loopback, port zero", "http://127.0.0.1:0/native", false},
		{"loopback, port too large", "http://127.0.0.1:65536/native", false},
		{"loopback, userinfo trick", "http://127.0.0.1:80@evil.example/native", false},
		{"loopback, longer host", "http://127.0.0.1.evil.example/native", false},
		{"localhost gets no leeway", "http://localhost:5000/native", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := directory.MatchRedirectURI(reg, tc.got); got != tc.want {
				t.Fatalf("MatchRedirectURI(%q) = %v, want %v", tc.got, got, tc.want)
			}
		})
	}
}

// FuzzRedirectURI: CheckRedirectURI never accepts a URI that runs in the
// browser, carries a fragment or uses http off loopback; MatchRedirectURI
// matches only a registered URI, or one that differs from a registered
// loopback http URI in its port alone, so an authorization response can
// never be sent to a host that was not registered.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range [][2]string{
		{"https://rp.example/cb", "https://rp.example/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:4000/cb"},
		{"http://[::1]:80/cb?a=b", "http://[::1]:81/cb?a=b"},
		{"http://127.0.0.1", "http://127.0.0.1:80@evil.example"},
		{"http://127.0.0.1/", "http://127.0.0.1:1/#frag"},
		{"com.example.app:/cb", "javascript:alert(1)"},
		{"http://localhost/cb", "http://localhost:99/cb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, got string) {
		if directory.CheckRedirectURI(got) == nil {
			u, err := url.Parse(got)
			if err != nil || u.Fragment != "" || strings.Contains(got, "#") {
				t.Fatalf("accepted %q: unparsable or with a fragment", got)
			}
			switch s := strings.ToLower(u.Scheme); {
			case s == "javascript" || s == "data" || s == "file" || s == "vbscript":
				t.Fatalf("accepted %q: scheme %s", got, s)
			case s == "http" && u.Hostname() != "localhost" && !net.ParseIP(u.Hostname()).IsLoopback():
				t.Fatalf("accepted %q: http off loopback", got)
			}
		}
		if !directory.MatchRedirectURI([]string{registered}, got) || got == registered {
			return
		}
		// A match that is not exact: both must be http on the same
		// loopback IP, with the same path and query.
		gu, gerr := url.Parse(got)
		ru, rerr := url.Parse(registered)
		if gerr != nil || rerr != nil {
			t.Fatalf("%q matched %q but does not parse (%v, %v)", got, registered, gerr, rerr)
		}
		if gu.Scheme != "http" || ru.Scheme != "http" || gu.User != nil || ru.User != nil ||
			gu.Hostname() != ru.Hostname() || !slices.Contains([]string{"127.0.0.1", "::1"}, gu.Hostname()) ||
			gu.EscapedPath() != ru.EscapedPath() || gu.RawQuery != ru.RawQuery || gu.Fragment != ru.Fragment {
			t.Fatalf("%q matched registered %q: host, path or query differ", got, registered)
		}
	})
}
