package directory_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
)

func TestParseRegistration(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		redirect bool   // a RedirectURIError
		err      string // part of the reason; "" = valid
	}{
		{"minimal", `{"redirect_uris":["https://rp.example/cb"]}`, false, ""},
		{"unknown metadata ignored", `{"redirect_uris":["https://rp.example/cb"],"logo_uri":"https://x","software_statement":"e30"}`, false, ""},
		{"no redirect_uris", `{}`, true, "redirect_uris"},
		{"http redirect", `{"redirect_uris":["http://rp.example/cb"]}`, true, "http only"},
		{"native redirect", `{"redirect_uris":["com.example.app:/cb"]}`, false, ""},
		{"bad post-logout", `{"redirect_uris":["https://rp.example/cb"],"post_logout_redirect_uris":["javascript:x"]}`, true, "not allowed"},
		{"implicit", `{"redirect_uris":["https://rp.example/cb"],"response_types":["code id_token"]}`, false, "response_types"},
		{"redirects without the code grant", `{"redirect_uris":["https://rp.example/cb"],"grant_types":["client_credentials"]}`, false, "authorization_code"},
		{"wrong type", `{"redirect_uris":"https://rp.example/cb"}`, false, "redirect_uris"},
		{"wrong type nested", `{"redirect_uris":["https://rp.example/cb"],"require_pushed_authorization_requests":"yes"}`, false, "require_pushed_authorization_requests"},
		{"not an object", `[1]`, false, "JSON object"},
		{"trailing data", `{"redirect_uris":["https://rp.example/cb"]} {}`, false, "one JSON object"},
		{"too large", `{"client_name":"` + strings.Repeat("a", directory.MaxRegistrationBody) + `"}`, false, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := directory.ParseRegistration([]byte(tc.body))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.Client.AuthMethod != "client_secret_basic" || len(r.Client.GrantTypes) != 1 || r.Client.GrantTypes[0] != "authorization_code" {
					t.Errorf("defaults: %+v", r.Client)
				}
				return
			}
			var re *directory.RedirectURIError
			if !errors.Is(err, directory.ErrInvalid) || errors.As(err, &re) != tc.redirect || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want ErrInvalid (redirect %v) about %q", err, tc.redirect, tc.err)
			}
		})
	}
}

// FuzzParseRegistration: any body is either refused with ErrInvalid or
// gives a client whose redirect URIs pass CheckRedirectURI.
func FuzzParseRegistration(f *testing.F) {
	for _, s := range []string{`{"redirect_uris":["https://rp.example/cb"],"jwks":{"keys":[]},"request_uris":["https://x/r"]}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, `{"redirect_uris":[1]}`, `null`, `{"jwks":null}`,
		`{"redirect_uris":["http://127.0.0.1:9/cb"],"frontchannel_logout_uri":"http://127.0.0.1:9/fc?a=1","backchannel_logout_uri":"https://rp.example/bc"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := directory.ParseRegistration(body)
		if err != nil {
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("error outside ErrInvalid: %v", err)
			}
			return
		}
		for _, u := range r.Client.RedirectURIs {
			if directory.CheckRedirectURI(u) != nil {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
		// Logout URIs: back-channel https, front-channel http(s), neither
		// with a fragment or userinfo.
		if u := r.Client.BackchannelLogoutURI; u != "" {
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || strings.Contains(u, "#") {
				t.Fatalf("accepted backchannel_logout_uri %q", u)
			}
		}
		if u := r.Client.FrontchannelLogoutURI; u != "" {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || strings.Contains(u, "#") {
				t.Fatalf("accepted frontchannel_logout_uri %q", u)
			}
		}
	})
}

func TestRegisteredClientLifecycle(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	in := directory.NewClient{
		ID:     "chosen",
		Secret: "chosen-secret-0123456789abcdefghijkl",
		ClientMetadata: directory.ClientMetadata{
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://rp.example/cb"},
			SkipConsent:  true,
		},
	}
	c, secret, tok, err := d.RegisterClient(ctx, in, "")
	if err != nil {
		t.Fatal(err)
	}
	// The registrant chooses neither id, secret nor consent skipping.
	if c.ID == "chosen" || secret == "" || secret == in.Secret || c.SkipConsent || tok == "" || strings.Contains(c.RegistrationTokenHash, tok) {
		t.Fatalf("registered %+v secret %q token %q", c, secret, tok)
	}
	if _, err := d.RegisteredClient(ctx, c.ID, tok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ id, tok string }{{c.ID, "wrong"}, {c.ID, ""}, {"nobody", tok}} {
		if _, err := d.RegisteredClient(ctx, bad.id, bad.tok); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// An admin-created client has no registration token.
	admin, _, err := d.CreateClient(ctx, directory.NewClient{ID: "admin-made", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RegisteredClient(ctx, admin.ID, ""); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("admin client through its empty token: %v", err)
	}
	if _, _, err := d.UpdateRegisteredClient(ctx, admin.ID, directory.NewClient{ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("update of an admin client: %v", err)
	}

	// Update keeps the secret while the method uses one.
	up, newSecret, err := d.UpdateRegisteredClient(ctx, c.ID, directory.NewClient{
		ClientMetadata: directory.ClientMetadata{
			Name:         "Renamed",
			AuthMethod:   "client_secret_post",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://rp.example/cb2"},
		},
	})
	if err != nil || newSecret != "" || up.Name != "Renamed" || directory.VerifyClientSecret(up, secret) != nil || up.RegistrationTokenHash != c.RegistrationTokenHash {
		t.Fatalf("update: %+v %q %v", up, newSecret, err)
	}
	// A bad update changes nothing.
	if _, _, err := d.UpdateRegisteredClient(ctx, c.ID, directory.NewClient{ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"client_credentials"}}}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("bad update: %v", err)
	}
	if got, _ := d.Client(ctx, c.ID); got.Name != "Renamed" || got.AuthMethod != "client_secret_post" {
		t.Fatalf("after a bad update: %+v", got)
	}
	// Switching to none drops the secret.
	up, _, err = d.UpdateRegisteredClient(ctx, c.ID, directory.NewClient{ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil || up.SecretHash != "" {
		t.Fatalf("to none: %+v %v", up, err)
	}
}

func TestClientMetadataRules(t *testing.T) {
	ctx := context.Background()
	opts := fast
	opts.IDTokenAlgs = []string{"RS256", "ES256", "RSA-OAEP-256"}
	d, _ := newDirectory(t, opts)
	ec := ecKey(t)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	encSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ec.PublicKey, Use: "sig"}, {Key: &rs.PublicKey, Use: "enc", KeyID: "e"}}})
	sigOnly := jwks(t, &ec.PublicKey)
	base := func(m directory.ClientMetadata, set directory.JWKS) directory.NewClient {
		m.AuthMethod, m.GrantTypes, m.RedirectURIs, m.JWKS = "none", []string{"authorization_code"}, []string{"https://rp.example/cb"}, set
		return directory.NewClient{ClientMetadata: m}
	}
	for _, tc := range []struct {
		name string
		in   directory.NewClient
		want string // "" = valid
	}{
		{"encrypted ID token to an RSA enc key", base(directory.ClientMetadata{IDTokenEncryptedResponseAlg: "RSA-OAEP"}, encSet), ""},
		{"ECDH-ES without keys", base(directory.ClientMetadata{IDTokenEncryptedResponseAlg: "ECDH-ES"}, nil), "jwks"},
		{"enc key missing", base(directory.ClientMetadata{UserinfoEncryptedResponseAlg: "RSA-OAEP-256"}, sigOnly), "no public key"},
		{"enc without alg", base(directory.ClientMetadata{IDTokenEncryptedResponseEnc: "A128GCM"}, encSet), "needs"},
		{"userinfo signed with a key the node lacks", base(directory.ClientMetadata{UserinfoSignedResponseAlg: "PS256"}, nil), "userinfo_signed_response_alg"},
		{"userinfo signed", base(directory.ClientMetadata{UserinfoSignedResponseAlg: "ES256"}, nil), ""},
		{"request objects encrypted to the node's key", base(directory.ClientMetadata{RequestObjectEncryptionAlg: "RSA-OAEP-256"}, nil), ""},
		{"request objects encrypted with an alg the node lacks", base(directory.ClientMetadata{RequestObjectEncryptionAlg: "ECDH-ES"}, nil), "request_object_encryption_alg"},
		{"signed request objects without keys", base(directory.ClientMetadata{RequestObjectSigningAlg: "ES256"}, nil), "needs jwks"},
		{"unsigned request objects", base(directory.ClientMetadata{RequestObjectSigningAlg: "none"}, nil), ""},
		{"request_uris over http", base(directory.ClientMetadata{RequestURIs: []string{"http://rp.example/r"}}, nil), "https"},
		{"jwks_uri and jwks", base(directory.ClientMetadata{JWKSURI: "https://rp.example/jwks"}, sigOnly), "mutually exclusive"},
		{"application_type", base(directory.ClientMetadata{ApplicationType: "desktop"}, nil), "application_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := d.CreateClient(ctx, tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.IDTokenEncryptedResponseAlg != "" && c.IDTokenEncryptedResponseEnc != directory.DefaultEncryptionEnc {
					t.Errorf("default enc: %q", c.IDTokenEncryptedResponseEnc)
				}
				return
			}
			if !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid about %q", err, tc.want)
			}
		})
	}
	k, err := directory.EncryptionKey(encSet, "RSA-OAEP-256")
	if err != nil || !strings.Contains(string(k), `"kid":"e"`) {
		t.Fatalf("EncryptionKey: %s %v", k, err)
	}
}

func TestPushedRequests(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	opts := fast
	opts.Now = func() time.Time { return now }
	d, _ := newDirectory(t, opts)
	v := url.Values{"scope": {"openid"}, "state": {"s"}}
	uri, err := d.PushRequest(ctx, "c1", v, time.Minute)
	if err != nil || !strings.HasPrefix(uri, directory.PushedURIPrefix) || len(uri) < len(directory.PushedURIPrefix)+43 {
		t.Fatalf("push: %q %v", uri, err)
	}
	if _, err := d.TakePushedRequest(ctx, "c2", uri); !errors.Is(err, directory.ErrPushedUnknown) {
		t.Fatalf("another client: %v", err)
	}
	got, err := d.TakePushedRequest(ctx, "c1", uri)
	if err != nil || got.Encode() != v.Encode() {
		t.Fatalf("take: %v %v", got, err)
	}
	if _, err := d.TakePushedRequest(ctx, "c1", uri); !errors.Is(err, directory.ErrPushedUnknown) {
		t.Fatalf("second take: %v", err)
	}
	uri, _ = d.PushRequest(ctx, "c1", v, time.Minute)
	stale, _ := d.PushRequest(ctx, "c1", v, time.Minute)
	now = now.Add(time.Minute)
	if _, err := d.TakePushedRequest(ctx, "c1", uri); !errors.Is(err, directory.ErrPushedUnknown) {
		t.Fatalf("expired: %v", err)
	}
	if n, err := d.SweepJTIs(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v (the stale pushed request)", n, err)
	}
	_ = stale
	for _, bad := range []string{"", "urn:ietf:params:oauth:request_uri:", "https://x", directory.PushedURIPrefix + strings.Repeat("a", 100)} {
		if _, err := d.TakePushedRequest(ctx, "c1", bad); !errors.Is(err, directory.ErrPushedUnknown) {
			t.Errorf("%q: %v", bad, err)
		}
	}

	// Request-object jtis: once per client, apart from assertion jtis.
	exp := now.Add(time.Minute)
	if err := d.UseRequestJTI(ctx, "c1", "j", exp); err != nil {
		t.Fatal(err)
	}
	if err := d.UseRequestJTI(ctx, "c1", "j", exp); !errors.Is(err, directory.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := d.UseJTI(ctx, "c1", "j", exp); err != nil {
		t.Fatalf("an assertion jti shares no space with request objects: %v", err)
	}
	if err := d.UseRequestJTI(ctx, "c2", "j", exp); err != nil {
		t.Fatalf("another client's jti: %v", err)
	}
}
