package directory_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/http/fetch"
	"authrim/internal/netguard"
	"authrim/persistence"
)

// TestLogoutMetadata covers backchannel_logout_uri (Back-Channel Logout
// 1.0 §2.2) and frontchannel_logout_uri (Front-Channel Logout 1.0 §2) at
// CreateClient, under the default rules (no private addresses) and with
// private addresses allowed; a refused client is not stored.
func TestLogoutMetadata(t *testing.T) {
	ctx := context.Background()
	strict, strictStore := newDirectory(t, fast)
	open := fast
	open.AllowPrivateAddresses = true
	lax, _ := newDirectory(t, open)

	client := func(m directory.ClientMetadata) directory.NewClient {
		m.AuthMethod, m.GrantTypes = "none", []string{"authorization_code"}
		if m.RedirectURIs == nil {
			m.RedirectURIs = []string{"https://rp.example/cb", "http://127.0.0.1:8080/cb"}
		}
		return directory.NewClient{ClientMetadata: m}
	}
	bc := func(uri string) directory.NewClient {
		return client(directory.ClientMetadata{BackchannelLogoutURI: uri, BackchannelLogoutSessionRequired: true})
	}
	fc := func(uri string) directory.NewClient {
		return client(directory.ClientMetadata{FrontchannelLogoutURI: uri, FrontchannelLogoutSessionRequired: true})
	}
	for _, tc := range []struct {
		name   string
		in     directory.NewClient
		strict string // problem under the default rules; "" = valid
		lax    string // problem with private addresses allowed
	}{
		{"backchannel https", bc("https://rp.example/logout?x=1"), "", ""},
		{"backchannel on a port", bc("https://rp.example:8443/logout"), "", ""},
		{"backchannel over http", bc("http://rp.example/logout"), "backchannel_logout_uri", "absolute https URL"},
		{"backchannel with a fragment", bc("https://rp.example/logout#f"), "fragment", "fragment"},
		{"backchannel relative", bc("/logout"), "absolute https URL", "absolute https URL"},
		{"backchannel with userinfo", bc("https://u:p@rp.example/logout"), "absolute https URL", "absolute https URL"},
		{"backchannel on 10.0.0.1", bc("https://10.0.0.1/logout"), "private", ""},
		{"backchannel on 127.0.0.1", bc("https://127.0.0.1:9443/logout"), "private", ""},
		{"backchannel on ::1", bc("https://[::1]/logout"), "private", ""},
		{"backchannel on a mapped private address", bc("https://[::ffff:192.168.1.1]/logout"), "private", ""},
		{"backchannel on link-local", bc("https://169.254.169.254/latest"), "private", ""},
		{"backchannel on localhost", bc("https://localhost/logout"), "private", ""},
		{"backchannel on LOCALHOST.", bc("https://LOCALHOST./logout"), "private", ""},
		{"backchannel under .localhost", bc("https://app.localhost/logout"), "private", ""},
		{"backchannel on a short IPv4 form", bc("https://127.1/logout"), "private", ""},
		{"backchannel on a decimal IPv4 form", bc("https://2130706433/logout"), "private", ""},
		{"backchannel on a hex IPv4 form", bc("https://0x7f000001/logout"), "private", ""},
		{"backchannel on a public address", bc("https://93.184.215.14/logout"), "", ""},
		{"backchannel session without uri", client(directory.ClientMetadata{BackchannelLogoutSessionRequired: true}), "backchannel_logout_session_required", "backchannel_logout_session_required"},

		{"frontchannel on a redirect origin", fc("https://rp.example/fc?app=1"), "", ""},
		{"frontchannel with the default port spelt", fc("https://RP.example:443/fc"), "", ""},
		{"frontchannel on loopback http", fc("http://127.0.0.1:8080/fc"), "", ""},
		{"frontchannel on another origin", fc("https://evil.example/fc"), "redirect_uris", "redirect_uris"},
		{"frontchannel on another port", fc("https://rp.example:8443/fc"), "redirect_uris", "redirect_uris"},
		{"frontchannel on another loopback port", fc("http://127.0.0.1:9090/fc"), "redirect_uris", "redirect_uris"},
		{"frontchannel over http of an https redirect", fc("http://rp.example/fc"), "https", "https"},
		{"frontchannel with a fragment", fc("https://rp.example/fc#x"), "fragment", "fragment"},
		{"frontchannel with a native scheme", fc("com.example.app:/fc"), "frontchannel_logout_uri", "frontchannel_logout_uri"},
		{"frontchannel javascript", fc("javascript://rp.example/%0aalert(1)"), "frontchannel_logout_uri", "frontchannel_logout_uri"},
		{"frontchannel without redirect uris", directory.NewClient{ClientMetadata: directory.ClientMetadata{
			AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}, FrontchannelLogoutURI: "https://rp.example/fc"}},
			"redirect_uris", "redirect_uris"},
		{"frontchannel session without uri", client(directory.ClientMetadata{FrontchannelLogoutSessionRequired: true}), "frontchannel_logout_session_required", "frontchannel_logout_session_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, run := range []struct {
				name string
				d    *directory.Directory
				want string
			}{{"default", strict, tc.strict}, {"private allowed", lax, tc.lax}} {
				before := countClients(t, strictStore)
				c, _, err := run.d.CreateClient(ctx, tc.in)
				if run.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", run.name, err)
					}
					got, err := run.d.Client(ctx, c.ID)
					if err != nil || got.BackchannelLogoutURI != tc.in.BackchannelLogoutURI || got.FrontchannelLogoutURI != tc.in.FrontchannelLogoutURI ||
						got.BackchannelLogoutSessionRequired != tc.in.BackchannelLogoutSessionRequired ||
						got.FrontchannelLogoutSessionRequired != tc.in.FrontchannelLogoutSessionRequired {
						t.Fatalf("%s: stored %+v, %v", run.name, got.ClientMetadata, err)
					}
					continue
				}
				if !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), run.want) {
					t.Fatalf("%s: got %v, want ErrInvalid about %q", run.name, err, run.want)
				}
				if run.d == strict && countClients(t, strictStore) != before {
					t.Fatalf("%s: a refused client was stored", run.name)
				}
			}
		})
	}
}

// TestRegistrationLogoutMetadata: a registration (RFC 7591) that names a
// private backchannel_logout_uri passes the node-independent parse but is
// refused when created under the node's rules, and changes nothing.
func TestRegistrationLogoutMetadata(t *testing.T) {
	ctx := context.Background()
	d, s := newDirectory(t, fast)
	reg, err := directory.ParseRegistration([]byte(`{"redirect_uris":["https://rp.example/cb"],"token_endpoint_auth_method":"none",
		"backchannel_logout_uri":"https://10.0.0.1/bc","backchannel_logout_session_required":true}`))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, _, _, err := d.RegisterClient(ctx, reg.Client, ""); !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), "backchannel_logout_uri") {
		t.Fatalf("register: %v, want ErrInvalid about backchannel_logout_uri", err)
	}
	if n := countClients(t, s); n != 0 {
		t.Fatalf("%d clients stored", n)
	}
	if _, err := directory.ParseRegistration([]byte(`{"redirect_uris":["https://rp.example/cb"],"backchannel_logout_uri":"http://rp.example/bc"}`)); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("http backchannel parsed: %v", err)
	}
}

// TestPrivateHostAgreesWithFetch keeps netguard.Public, which the
// directory applies at registration, the rule http/fetch applies when it
// connects.
func TestPrivateHostAgreesWithFetch(t *testing.T) {
	for _, a := range []string{"10.0.0.1", "127.0.0.1", "::1", "::ffff:10.1.2.3", "64:ff9b::a00:1", "100.64.0.1", "198.18.0.1",
		"169.254.169.254", "fe80::1", "fc00::1", "0.1.2.3", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "93.184.215.14", "2606:4700::1",
		"64:ff9b::5db8:d70e", "192.0.2.1", "8.8.8.8"} {
		ip := netip.MustParseAddr(a)
		if netguard.Public(ip) != fetch.Public(ip) {
			t.Errorf("%s: netguard %v, fetch %v", a, netguard.Public(ip), fetch.Public(ip))
		}
		if netguard.PrivateHost(a) == fetch.Public(ip) {
			t.Errorf("PrivateHost(%s) = %v", a, netguard.PrivateHost(a))
		}
	}
	for _, h := range []string{"rp.example", "example.com.", "a1.example", "xn--bcher-kva.example"} {
		if netguard.PrivateHost(h) {
			t.Errorf("PrivateHost(%s) = true", h)
		}
	}
}

func countClients(t *testing.T, s persistence.Backend) int {
	t.Helper()
	n := 0
	if err := s.List(context.Background(), directory.BucketClients, "", func(string, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
