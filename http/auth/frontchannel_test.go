package auth

import "testing"

// TestFrameURL: iss and sid are appended to the registered URI's query,
// which is kept byte for byte (Front-Channel Logout 1.0 §2); a URI that is
// not plain http(s) or whose host could break out of a CSP source list is
// never framed.
func TestFrameURL(t *testing.T) {
	const iss, sid = "https://op.example", "s1d"
	for _, tc := range []struct {
		name        string
		raw         string
		session     bool
		src, origin string
		ok          bool
	}{
		{"no query", "https://rp.example/fc", true, "https://rp.example/fc?iss=https%3A%2F%2Fop.example&sid=s1d", "https://rp.example", true},
		{"query kept as it is", "https://rp.example/fc?b=2&a=%2F", true, "https://rp.example/fc?b=2&a=%2F&iss=https%3A%2F%2Fop.example&sid=s1d", "https://rp.example", true},
		{"without session", "https://rp.example/fc?b=2", false, "https://rp.example/fc?b=2", "https://rp.example", true},
		{"port and case", "https://RP.example:8443/fc", false, "https://RP.example:8443/fc", "https://rp.example:8443", true},
		{"loopback http", "http://127.0.0.1:9/fc", false, "http://127.0.0.1:9/fc", "http://127.0.0.1:9", true},
		{"script scheme", "javascript://rp.example/%0aalert(1)", false, "", "", false},
		{"fragment", "https://rp.example/fc#x", false, "", "", false},
		{"userinfo", "https://u@rp.example/fc", false, "", "", false},
		{"no host", "https:///fc", false, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, origin, ok := frameURL(tc.raw, tc.session, iss, sid)
			if ok != tc.ok || src != tc.src || origin != tc.origin {
				t.Errorf("frameURL(%q) = %q %q %v, want %q %q %v", tc.raw, src, origin, ok, tc.src, tc.origin, tc.ok)
			}
		})
	}
	if got := frameSources([]frontFrame{{Origin: "https://a.example"}, {Origin: "https://b.example"}, {Origin: "https://a.example"}}); got != "https://a.example https://b.example" {
		t.Errorf("frameSources: %q", got)
	}
}
