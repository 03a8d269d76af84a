package node_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"authrim/node"
)

// tlsJar keeps cookies as a browser on the https issuer would, while the
// test talks plain http to the node's listener (TLS ends in front of it).
type tlsJar struct{ *cookiejar.Jar }

func asHTTPS(u *url.URL) *url.URL { v := *u; v.Scheme = "https"; return &v }

func (j tlsJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.Jar.SetCookies(asHTTPS(u), cs) }
func (j tlsJar) Cookies(u *url.URL) []*http.Cookie        { return j.Jar.Cookies(asHTTPS(u)) }

// TestSessionCookieHostPrefix: under an https issuer the session cookie is
// __Host-authrim_session (Secure, Path=/, no Domain), and only that name
// is read: the same value planted under the plain name (what a sibling
// subdomain or an http page could set) is not a session. On
// http://localhost the plain name stays (browsers refuse the prefix
// without TLS).
func TestSessionCookieHostPrefix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		https  bool
		cookie string
	}{
		{"https issuer", true, "__Host-authrim_session"},
		{"http localhost", false, "authrim_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startOPWith(t, func(c *node.Config) {
				if tc.https {
					c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
				}
			})
			base := "http://" + strings.TrimPrefix(strings.TrimPrefix(o.issuer, "https://"), "http://")
			jar, _ := cookiejar.New(nil)
			b := &http.Client{Jar: tlsJar{jar}, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}
			q := url.Values{}
			for k, v := range baseParams() {
				q.Set(k, v)
			}
			resp, err := b.Get(base + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			set := resp.Header.Values("Set-Cookie")
			if len(set) != 1 || !strings.HasPrefix(set[0], tc.cookie+"=") {
				t.Fatalf("Set-Cookie %q, want one %s", set, tc.cookie)
			}
			attrs := strings.ToLower(set[0])
			if strings.Contains(attrs, "domain=") || !strings.Contains(attrs, "path=/;") && !strings.HasSuffix(attrs, "path=/") ||
				strings.Contains(attrs, "; secure") != tc.https {
				t.Fatalf("Set-Cookie %q: want Path=/, no Domain, Secure only under https", set[0])
			}
			value := strings.TrimPrefix(strings.SplitN(set[0], ";", 2)[0], tc.cookie+"=")
			p := get(t, b, base+"/authorize?"+q.Encode())
			f := hidden(p.body)
			f.Set("username", "alice")
			f.Set("password", userPassword)
			if tc.https {
				// The same session under the unprefixed name: not read.
				req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Cookie", "authrim_session="+value)
				planted := fetch(t, &http.Client{Timeout: 10 * time.Second}, req)
				if planted.status != http.StatusBadRequest || planted.isConsent() {
					t.Fatalf("an unprefixed cookie was read as the session: %d %s", planted.status, planted.body)
				}
			}
			if p = postForm(t, b, base+"/login", f); !p.isConsent() {
				t.Fatalf("sign-in with the %s cookie: %d %s", tc.cookie, p.status, p.body)
			}
		})
	}
}
