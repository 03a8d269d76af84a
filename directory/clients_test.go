package directory_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/persistence"
)

func jwks(t *testing.T, keys ...any) directory.JWKS {
	t.Helper()
	var set jose.JSONWebKeySet
	for i, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: "k" + string(rune('0'+i)), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var keysOnce = sync.OnceValues(func() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
})

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := keysOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var b64url43 = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestCreateClientWithGeneratedSecret(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	c, secret, err := d.CreateClient(ctx, directory.NewClient{
		ID: "rp-1",
		ClientMetadata: directory.ClientMetadata{
			Name:         "Relying Party",
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{"https://rp.example/cb", "http://127.0.0.1:9000/cb"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !b64url43.MatchString(secret) {
		t.Errorf("generated secret %q: want 32 random bytes in base64url", secret)
	}
	if !strings.HasPrefix(c.SecretHash, "sha256:") || strings.Contains(c.SecretHash, secret) {
		t.Errorf("secret hash %q", c.SecretHash)
	}
	if c.IDTokenSignedResponseAlg != "RS256" || c.Static || c.Created.IsZero() {
		t.Errorf("defaults: alg %q static %v created %v", c.IDTokenSignedResponseAlg, c.Static, c.Created)
	}

	got, err := d.Client(ctx, "rp-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		secret string
		want   error
	}{
		{"right", secret, nil},
		{"wrong", secret[:42] + "x", directory.ErrInvalidCredentials},
		{"empty", "", directory.ErrInvalidCredentials},
		{"the hash itself", got.SecretHash, directory.ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := directory.VerifyClientSecret(got, tc.secret); err != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	// A given secret is kept (and returned once); a public client has none.
	const given = "0123456789abcdef0123456789abcdef"
	c2, s2, err := d.CreateClient(ctx, directory.NewClient{ID: "svc", Secret: given, ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}}})
	if err != nil || s2 != given || directory.VerifyClientSecret(c2, given) != nil {
		t.Fatalf("given secret: %q, %v", s2, err)
	}
	pub, s3, err := d.CreateClient(ctx, directory.NewClient{ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"com.example.app:/cb"}}})
	if err != nil || s3 != "" || pub.SecretHash != "" {
		t.Fatalf("public client: secret %q hash %q, %v", s3, pub.SecretHash, err)
	}
	if len(pub.ID) != 22 {
		t.Errorf("generated client id %q", pub.ID)
	}
	if err := directory.VerifyClientSecret(pub, ""); err != directory.ErrInvalidCredentials {
		t.Errorf("public client with empty secret: %v", err)
	}

	if _, _, err := d.CreateClient(ctx, directory.NewClient{ID: "svc", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"refresh_token"}}}); !errors.Is(err, directory.ErrClientIDTaken) || !errors.Is(err, persistence.ErrConflict) {
		t.Errorf("duplicate id: %v", err)
	}

	list, err := d.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if want := []string{"rp-1", "svc", pub.ID}; len(ids) != 3 || !slices.IsSorted(ids) || !slices.Contains(ids, pub.ID) || !slices.Contains(ids, "rp-1") || !slices.Contains(ids, "svc") {
		t.Errorf("ListClients ids %v, want %v sorted", ids, want)
	}
	if err := d.DeleteClient(ctx, "rp-1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rp-1", "no-such", "bad id"} {
		if err := d.DeleteClient(ctx, id); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("DeleteClient(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := d.Client(ctx, id); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("Client(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestStaticClients(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	stored, err := directory.New(s, fast)
	if err != nil {
		t.Fatal(err)
	}
	// Stored before config.yaml got a static client of the same id.
	if _, _, err := stored.CreateClient(ctx, directory.NewClient{ID: "web", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://old.example/cb"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := stored.CreateClient(ctx, directory.NewClient{ID: "zeta", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"refresh_token"}}}); err != nil {
		t.Fatal(err)
	}

	const secret = "static-secret-static-secret-static-secret"
	web, err := directory.NewStaticClient(directory.NewClient{
		ID:     "web",
		Secret: secret,
		ClientMetadata: directory.ClientMetadata{
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://web.example/cb"},
			SkipConsent:  true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !web.Static || web.SecretHash == "" || directory.VerifyClientSecret(web, secret) != nil {
		t.Fatalf("NewStaticClient: %+v", web)
	}
	opts := fast
	opts.StaticClients = []directory.Client{web}
	d, err := directory.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}

	got, err := d.Client(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Static || got.RedirectURIs[0] != "https://web.example/cb" {
		t.Errorf("static client must win over the stored one: %+v", got)
	}
	got.RedirectURIs[0] = "https://evil.example/cb"
	if again, _ := d.Client(ctx, "web"); again.RedirectURIs[0] != "https://web.example/cb" {
		t.Error("a caller changed the static client through a returned slice")
	}

	if _, _, err := d.CreateClient(ctx, directory.NewClient{ID: "web", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"refresh_token"}}}); !errors.Is(err, directory.ErrClientIDTaken) {
		t.Errorf("create over a static id: %v, want ErrClientIDTaken", err)
	}
	err = d.DeleteClient(ctx, "web")
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, messages.ErrInvalid) || !strings.Contains(ie.Reason, "config.yaml") {
		t.Errorf("DeleteClient(static) = %v, want ErrInvalid mentioning config.yaml", err)
	}

	list, err := d.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "web" || !list[0].Static || list[1].ID != "zeta" || list[1].Static {
		t.Errorf("ListClients = %+v, want static web then stored zeta (shadowed stored web left out)", list)
	}

	if _, err := directory.NewStaticClient(directory.NewClient{ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"refresh_token"}}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("static client without id: %v", err)
	}
	if _, err := directory.NewStaticClient(directory.NewClient{ID: "x", ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("static confidential client without secret: %v", err)
	}
}

func TestClientValidation(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	ec := ecKey(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789abcdef0123456789abcdef-secret"
	base := func(mod func(*directory.NewClient)) directory.NewClient {
		c := directory.NewClient{
			ID: "rp",
			ClientMetadata: directory.ClientMetadata{
				AuthMethod:   "client_secret_basic",
				GrantTypes:   []string{"authorization_code"},
				RedirectURIs: []string{"https://rp.example/cb"},
			},
		}
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		in   directory.NewClient
		want string // part of the reason
	}{
		{"id with a space", base(func(c *directory.NewClient) { c.ID = "r p" }), "client_id"},
		{"id with a colon", base(func(c *directory.NewClient) { c.ID = "urn:rp" }), "client_id"},
		{"id too long", base(func(c *directory.NewClient) { c.ID = strings.Repeat("a", 129) }), "client_id"},
		{"name with control character", base(func(c *directory.NewClient) { c.Name = "a\x1bb" }), "client_name"},
		{"unknown auth method", base(func(c *directory.NewClient) { c.AuthMethod = "client_secret_jwt" }), "token_endpoint_auth_method"},
		{"tls_client_auth naming nothing", base(func(c *directory.NewClient) { c.AuthMethod = directory.AuthTLSClient }), "exactly one"},
		{"tls_client_auth naming two", base(func(c *directory.NewClient) {
			c.AuthMethod, c.TLSClientAuth = directory.AuthTLSClient, directory.TLSClientAuth{SANDNS: "a.example", SubjectDN: "CN=a"}
		}), "exactly one"},
		{"tls_client_auth bad DN", base(func(c *directory.NewClient) {
			c.AuthMethod, c.TLSClientAuth = directory.AuthTLSClient, directory.TLSClientAuth{SubjectDN: "CN=a,"}
		}), "RFC 4514"},
		{"tls_client_auth bad IP", base(func(c *directory.NewClient) {
			c.AuthMethod, c.TLSClientAuth = directory.AuthTLSClient, directory.TLSClientAuth{SANIP: "300.1.1.1"}
		}), "IP address"},
		{"tls_client_auth relative URI", base(func(c *directory.NewClient) {
			c.AuthMethod, c.TLSClientAuth = directory.AuthTLSClient, directory.TLSClientAuth{SANURI: "app"}
		}), "absolute URI"},
		{"SAN with another method", base(func(c *directory.NewClient) { c.TLSClientAuth = directory.TLSClientAuth{SANDNS: "a.example"} }), "only for"},
		{"self-signed without jwks", base(func(c *directory.NewClient) { c.AuthMethod = directory.AuthSelfSignedTLSClient }), "jwks"},
		{"empty auth method", base(func(c *directory.NewClient) { c.AuthMethod = "" }), "token_endpoint_auth_method"},
		{"no grant types", base(func(c *directory.NewClient) { c.GrantTypes = nil }), "grant_types"},
		{"unknown grant type", base(func(c *directory.NewClient) { c.GrantTypes = []string{"password"} }), "unknown grant type"},
		{"grant type twice", base(func(c *directory.NewClient) { c.GrantTypes = []string{"authorization_code", "authorization_code"} }), "twice"},
		{"authorization_code without redirect URI", base(func(c *directory.NewClient) { c.RedirectURIs = nil }), "redirect URI"},
		{"public client with client_credentials", base(func(c *directory.NewClient) {
			c.AuthMethod, c.GrantTypes = "none", []string{"authorization_code", "client_credentials"}
		}), "client_credentials"},
		{"public client with a secret", base(func(c *directory.NewClient) { c.AuthMethod, c.Secret = "none", secret }), "secret"},
		{"private_key_jwt with a secret", base(func(c *directory.NewClient) {
			c.AuthMethod, c.Secret, c.JWKS = "private_key_jwt", secret, jwks(t, &ec.PublicKey)
		}), "secret"},
		{"private_key_jwt without jwks", base(func(c *directory.NewClient) { c.AuthMethod = "private_key_jwt" }), "jwks"},
		{"jwks not a key set", base(func(c *directory.NewClient) {
			c.AuthMethod, c.JWKS = "private_key_jwt", directory.JWKS(`{"keys":"nope"}`)
		}), "jwks"},
		{"jwks empty", base(func(c *directory.NewClient) { c.AuthMethod, c.JWKS = "private_key_jwt", directory.JWKS(`{"keys":[]}`) }), "jwks"},
		{"jwks with a private EC key", base(func(c *directory.NewClient) { c.AuthMethod, c.JWKS = "private_key_jwt", jwks(t, ec) }), "public"},
		{"jwks with a private Ed25519 key", base(func(c *directory.NewClient) { c.AuthMethod, c.JWKS = "private_key_jwt", jwks(t, edPriv) }), "public"},
		{"jwks with a symmetric key", base(func(c *directory.NewClient) {
			c.AuthMethod, c.JWKS = "private_key_jwt", jwks(t, []byte("0123456789abcdef0123456789abcdef"))
		}), "public"},
		{"jwks with a small RSA key", base(func(c *directory.NewClient) { c.AuthMethod, c.JWKS = "private_key_jwt", jwks(t, &smallRSA.PublicKey) }), "2048"},
		{"given secret too short", base(func(c *directory.NewClient) { c.Secret = "short-secret" }), "client_secret"},
		{"unknown id token alg", base(func(c *directory.NewClient) { c.IDTokenSignedResponseAlg = "HS256" }), "id_token_signed_response_alg"},
		{"alg none", base(func(c *directory.NewClient) { c.IDTokenSignedResponseAlg = "none" }), "id_token_signed_response_alg"},
		{"redirect URI relative", base(func(c *directory.NewClient) { c.RedirectURIs = []string{"/cb"} }), "absolute"},
		{"redirect URI with fragment", base(func(c *directory.NewClient) { c.RedirectURIs = []string{"https://rp.example/cb#x"} }), "fragment"},
		{"redirect URI http off loopback", base(func(c *directory.NewClient) { c.RedirectURIs = []string{"http://rp.example/cb"} }), "http only"},
		{"redirect URI javascript", base(func(c *directory.NewClient) { c.RedirectURIs = []string{"javascript:alert(1)"} }), "not allowed"},
		{"redirect URI listed twice", base(func(c *directory.NewClient) {
			c.RedirectURIs = []string{"https://rp.example/cb", "https://rp.example/cb"}
		}), "twice"},
		{"post-logout URI bad", base(func(c *directory.NewClient) { c.PostLogoutRedirectURIs = []string{"myapp:/logout"} }), "reverse domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, sec, err := d.CreateClient(ctx, tc.in)
			if !errors.Is(err, directory.ErrInvalid) || !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if sec != "" {
				t.Error("a secret was returned with an error")
			}
			var ie *directory.InvalidError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, tc.want) {
				t.Errorf("reason %q should mention %q", ie.Reason, tc.want)
			}
			if tc.in.Secret != "" && strings.Contains(err.Error(), tc.in.Secret) {
				t.Errorf("error %q contains the secret", err)
			}
			if _, err := directory.NewStaticClient(tc.in); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("NewStaticClient accepted it: %v", err)
			}
		})
	}
	if list, _ := d.ListClients(ctx); len(list) != 0 {
		t.Errorf("%d clients stored after invalid creates", len(list))
	}

	for _, tc := range []struct {
		name string
		in   directory.NewClient
	}{
		{"private_key_jwt with EC and Ed25519 public keys", base(func(c *directory.NewClient) {
			c.ID, c.AuthMethod, c.JWKS = "pkjwt", "private_key_jwt", jwks(t, &ec.PublicKey, edPriv.Public())
		})},
		{"native app", base(func(c *directory.NewClient) {
			c.ID, c.AuthMethod, c.RedirectURIs = "native", "none", []string{"com.example.app:/oauth2redirect", "http://[::1]:8080/cb", "http://localhost/cb"}
		})},
		{"client_credentials only", directory.NewClient{ID: "m2m", ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}, IDTokenSignedResponseAlg: "EdDSA"}}},
	} {
		t.Run("valid: "+tc.name, func(t *testing.T) {
			c, _, err := d.CreateClient(ctx, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("created client does not validate: %v", err)
			}
		})
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		ok        bool
	}{
		{"https", "https://rp.example/cb?x=1", true},
		{"http localhost", "http://localhost:8080/cb", true},
		{"http 127.0.0.1", "http://127.0.0.1/cb", true},
		{"http ::1", "http://[::1]:9000/cb", true},
		{"native reverse-domain scheme", "com.example.app:/cb", true},
		{"http elsewhere", "http://rp.example/cb", false},
		{"https without host", "https:///cb", false},
		{"relative", "cb", false},
		{"fragment", "https://rp.example/cb#frag", false},
		{"empty fragment", "https://rp.example/cb#", false},
		{"javascript", "javascript:alert(1)", false},
		{"data", "data:text/html,hi", false},
		{"file", "file:///etc/passwd", false},
		{"vbscript", "vbscript:msgbox", false},
		{"native scheme without dot", "myapp:/cb", false},
		{"too long", "https://rp.example/" + strings.Repeat("a", 2048), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := directory.CheckRedirectURI(tc.uri)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestUseJTI(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := fast
	opts.Now = clk.Now
	d, _ := newDirectory(t, opts)
	exp := clk.Now().Add(time.Minute)

	if err := d.UseJTI(ctx, "rp", "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, client, jti string
		want              error
	}{
		{"replay", "rp", "jti-1", directory.ErrReplay},
		{"same jti, other client", "rp2", "jti-1", nil},
		{"other jti", "rp", "jti-2", nil},
		{"empty jti", "rp", "", directory.ErrInvalid},
		{"bad client id", "r p", "jti-3", directory.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := d.UseJTI(ctx, tc.client, tc.jti, exp)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	// Concurrent uses of one fresh jti: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.UseJTI(ctx, "rp", "contended", exp); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, directory.ErrReplay) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d concurrent uses of one jti succeeded, want 1", won)
	}

	// Past exp but within the grace period the record still blocks.
	clk.Add(time.Minute + directory.JTIGrace - time.Second)
	if err := d.UseJTI(ctx, "rp", "jti-1", exp); !errors.Is(err, directory.ErrReplay) {
		t.Errorf("within grace: %v, want ErrReplay", err)
	}
	if n, err := d.SweepJTIs(ctx); err != nil || n != 0 {
		t.Errorf("sweep within grace removed %d (%v), want 0", n, err)
	}
	clk.Add(2 * time.Second)
	if n, err := d.SweepJTIs(ctx); err != nil || n != 4 {
		t.Errorf("sweep removed %d (%v), want 4", n, err)
	}
	// A stale record no longer blocks (the caller's exp check does).
	if err := d.UseJTI(ctx, "rp", "jti-2", clk.Now().Add(time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}

// TestClientIDTokenAlgs: a client may only ask for an ID token algorithm
// the node has keys for (Options.IDTokenAlgs), stored or static; the
// error names the allowed ones.
func TestClientIDTokenAlgs(t *testing.T) {
	ctx := context.Background()
	opts := fast
	opts.IDTokenAlgs = []string{"RS256", "ES256"}
	d, _ := newDirectory(t, opts)
	in := func(id, alg string) directory.NewClient {
		return directory.NewClient{
			ID: id,
			ClientMetadata: directory.ClientMetadata{
				AuthMethod:               "none",
				GrantTypes:               []string{"authorization_code"},
				RedirectURIs:             []string{"https://rp.example/cb"},
				IDTokenSignedResponseAlg: alg,
			},
		}
	}
	for _, alg := range []string{"PS256", "EdDSA", "HS256"} {
		_, _, err := d.CreateClient(ctx, in("c-"+alg, alg))
		if !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), "RS256, ES256") {
			t.Errorf("CreateClient with %s: %v; want ErrInvalid naming RS256, ES256", alg, err)
		}
		if _, err := d.Client(ctx, "c-"+alg); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("client with %s was stored: %v", alg, err)
		}
		_, err = directory.NewStaticClient(in("s-"+alg, alg), opts.IDTokenAlgs...)
		if !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), "RS256, ES256") {
			t.Errorf("NewStaticClient with %s: %v; want ErrInvalid naming RS256, ES256", alg, err)
		}
	}
	for _, alg := range []string{"", "RS256", "ES256"} {
		c, _, err := d.CreateClient(ctx, in("ok-"+alg, alg))
		if err != nil {
			t.Errorf("CreateClient with %q: %v", alg, err)
		} else if want := cmp.Or(alg, directory.DefaultIDTokenAlg); c.IDTokenSignedResponseAlg != want {
			t.Errorf("alg %q, want %q", c.IDTokenSignedResponseAlg, want)
		}
		if _, err := directory.NewStaticClient(in("ok-"+alg, alg), opts.IDTokenAlgs...); err != nil {
			t.Errorf("NewStaticClient with %q: %v", alg, err)
		}
	}
	// Without a list, every algorithm the package supports.
	if _, err := directory.NewStaticClient(in("any", "EdDSA")); err != nil {
		t.Errorf("NewStaticClient without algs: %v", err)
	}
	all, _ := newDirectory(t, fast)
	if _, _, err := all.CreateClient(ctx, in("any", "PS256")); err != nil {
		t.Errorf("CreateClient without Options.IDTokenAlgs: %v", err)
	}

	// A static client built for another node (or by hand) is refused by
	// New, as is a list naming an algorithm the package cannot sign with.
	eddsa, err := directory.NewStaticClient(in("eddsa", "EdDSA"))
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]directory.Options{
		"static client": {Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 1, IDTokenAlgs: opts.IDTokenAlgs, StaticClients: []directory.Client{eddsa}},
		"unknown alg":   {Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 1, IDTokenAlgs: []string{"RS256", "none"}},
	} {
		if _, err := directory.New(openStore(t, t.TempDir()), o); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("New with %s: %v; want ErrInvalid", name, err)
		}
	}
}

// TestValidateClientDefaultIDTokenAlg: a client that names no ID token
// alg gets RS256, so a node without RS256 keys refuses it, saying the
// alg is the default rather than blaming a value nobody wrote.
func TestValidateClientDefaultIDTokenAlg(t *testing.T) {
	m := directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}
	p := directory.ValidateClient("rp", "", m, directory.Rules{Algorithms: []string{"ES256"}})
	if len(p) != 1 || p[0].Field != "id_token_signed_response_alg" || !strings.Contains(p[0].Message, "the default") {
		t.Fatalf("problems %v, want one about the default id_token_signed_response_alg", p)
	}
	if p := directory.ValidateClient("rp", "", m, directory.Rules{Algorithms: []string{"RS256"}}); len(p) != 0 {
		t.Fatalf("problems %v with RS256 keys", p)
	}
}

// TestUseDPoPJTI: a DPoP proof id is used once per key, apart from
// assertion ids, until its expiry plus the grace; the sweeper then
// deletes it.
func TestUseDPoPJTI(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := fast
	opts.Now = clk.Now
	d, _ := newDirectory(t, opts)
	exp := clk.Now().Add(time.Minute)
	if err := d.UseDPoPJTI(ctx, "jkt-a", "j", exp); err != nil {
		t.Fatal(err)
	}
	if err := d.UseDPoPJTI(ctx, "jkt-a", "j", exp); !errors.Is(err, directory.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := d.UseDPoPJTI(ctx, "jkt-b", "j", exp); err != nil {
		t.Fatalf("other key: %v", err)
	}
	if err := d.UseJTI(ctx, "rp", "j", exp); err != nil {
		t.Fatalf("an assertion jti shares no space with DPoP proofs: %v", err)
	}
	for _, bad := range []struct{ jkt, jti string }{{"", "j"}, {"jkt-a", ""}, {"jkt-a", strings.Repeat("x", 2000)}} {
		if err := d.UseDPoPJTI(ctx, bad.jkt, bad.jti, exp); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%q/%q: %v", bad.jkt, bad.jti, err)
		}
	}
	clk.Add(time.Minute + directory.JTIGrace + time.Second)
	if n, err := d.SweepJTIs(ctx); err != nil || n != 3 {
		t.Fatalf("sweep removed %d (%v), want 3", n, err)
	}
}

// TestMTLSClients: RFC 8705 clients are created with no secret, and
// their subject and binding are kept.
func TestMTLSClients(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	ec := ecKey(t)
	c, sec, err := d.CreateClient(ctx, directory.NewClient{ID: "pki", ClientMetadata: directory.ClientMetadata{
		AuthMethod: directory.AuthTLSClient, GrantTypes: []string{"client_credentials"},
		TLSClientAuth:                         directory.TLSClientAuth{SubjectDN: "CN=app,O=Example"},
		TLSClientCertificateBoundAccessTokens: true,
	}})
	if err != nil || sec != "" || c.TLSClientAuth.SubjectDN != "CN=app,O=Example" || !c.TLSClientCertificateBoundAccessTokens {
		t.Fatalf("tls_client_auth: %+v %q %v", c, sec, err)
	}
	if _, _, err := d.CreateClient(ctx, directory.NewClient{ID: "self", ClientMetadata: directory.ClientMetadata{
		AuthMethod: directory.AuthSelfSignedTLSClient, GrantTypes: []string{"client_credentials"}, JWKS: jwks(t, &ec.PublicKey),
	}}); err != nil {
		t.Fatalf("self_signed_tls_client_auth: %v", err)
	}
}
