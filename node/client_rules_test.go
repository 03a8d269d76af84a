package node_test

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authrim/directory"
	fetcher "authrim/http/fetch"
	"authrim/node"
)

// The tests here hold the client rules to one answer: config.yaml, the
// admin API and /register take the same metadata and refuse the same
// clients, naming the same field with the same message.

// jsonCall sends body as JSON to the node and decodes the JSON answer.
func jsonCall(t *testing.T, method, u, token string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	return resp.StatusCode, out
}

// A static private_key_jwt client may publish its keys at jwks_uri, as a
// registered one may: config validation accepts it (it used to refuse it
// while the directory accepted it), and the node fetches the keys through
// the guarded fetcher to check the client's assertions.
func TestStaticPrivateKeyJWTClientWithJWKSURI(t *testing.T) {
	host := newRPHost(t)
	keys := newRPKeys(t)
	jwksURI := host.set("/static-jwks.json", keys.jwks(t), "max-age=300")
	// Set field by field: the same test ran against the release whose
	// ClientConfig had the metadata as its own fields.
	var cc node.ClientConfig
	cc.ID = "static-pkjwt"
	cc.AuthMethod = "private_key_jwt"
	cc.GrantTypes = []string{"client_credentials"}
	cc.JWKSURI = jwksURI

	cfg := testConfig(t, t.TempDir())
	cfg.Clients = []node.ClientConfig{cc}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config validation refused a private_key_jwt client with jwks_uri: %v", err)
	}

	o := requestsOP(t, host, true, func(c *node.Config) { c.Clients = append(c.Clients, cc) })
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: keys.sig, KeyID: "rp-sig"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion := func(key *jose.Signer, jti string) string {
		tok, err := jwt.Signed(*key).Claims(jwt.Claims{Issuer: cc.ID, Subject: cc.ID, Audience: jwt.Audience{o.issuer}, ID: jti,
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	send := func(a string) (int, map[string]any) {
		return o.post(t, "/token", "", url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {a},
		})
	}
	if st, out := send(assertion(&signer, "jti-1")); st != http.StatusOK || out["access_token"] == nil {
		t.Fatalf("assertion signed with the key at jwks_uri: %d %v", st, out)
	}
	if n := host.hitsOf("/static-jwks.json"); n != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1", n)
	}
	// The attacker's move: an assertion signed with a key that is not at
	// the client's jwks_uri, under the kid of one that is.
	other := newRPKeys(t)
	forged, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other.sig, KeyID: "rp-sig"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := send(assertion(&forged, "jti-2")); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("assertion signed with another key: %d %v", st, out)
	}

	// The client rotates: its jwks_uri now holds only a new key, under a
	// new kid, while the node's copy (max-age 300) has the old one.
	next := newRPKeys(t)
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &next.sig.PublicKey, KeyID: "rp-sig-2", Use: "sig", Algorithm: "ES256"}}})
	host.set("/static-jwks.json", b, "max-age=300")
	rotated, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: next.sig, KeyID: "rp-sig-2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Right after the last fetch the copy stands, however many
	// assertions name the new kid: nobody makes the node fetch at will.
	for i := range 3 {
		if st, _ := send(assertion(&rotated, fmt.Sprint("jti-r", i))); st != http.StatusUnauthorized {
			t.Fatalf("new key within the refetch interval: %d", st)
		}
	}
	if n := host.hitsOf("/static-jwks.json"); n != 1 {
		t.Fatalf("jwks_uri fetched %d times within the refetch interval, want 1", n)
	}
	// Past the interval the unknown kid fetches the set again, once,
	// long before max-age: the rotation works.
	o.clock.Advance(fetcher.KeyRefetchInterval + time.Second)
	now = o.clock.Now()
	for i := range 3 {
		if st, out := send(assertion(&rotated, fmt.Sprint("jti-s", i))); st != http.StatusOK {
			t.Fatalf("assertion with the rotated key: %d %v", st, out)
		}
	}
	if n := host.hitsOf("/static-jwks.json"); n != 2 {
		t.Fatalf("jwks_uri fetched %d times after the rotation, want 2", n)
	}
	// The old key is gone from the set: its assertions fail.
	if st, _ := send(assertion(&signer, "jti-old")); st != http.StatusUnauthorized {
		t.Fatalf("assertion with the retired key: %d", st)
	}
}

// A client secret has one length rule, 32..512 characters, found by
// config validation with the message the admin API gives: a 600-character
// secret used to pass config validation and fail at start with another
// message. Neither message shows the secret.
func TestClientSecretLengthOneRule(t *testing.T) {
	long := strings.Repeat("s", 600)
	var cc node.ClientConfig
	cc.ID = "long-secret"
	cc.Secret = long
	cc.AuthMethod = "client_secret_basic"
	cc.GrantTypes = []string{"client_credentials"}
	cfg := testConfig(t, t.TempDir())
	cfg.Clients = []node.ClientConfig{cc}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("config validation accepted a 600-character secret")
	}

	o := startOP(t)
	status, out := jsonCall(t, http.MethodPost, o.issuer+"/admin/clients", adminToken, map[string]any{
		"client_id": "long-secret", "client_secret": long, "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"client_credentials"},
	})
	desc, _ := out["error_description"].(string)
	msg, ok := strings.CutPrefix(desc, "client_secret: ")
	if status != http.StatusBadRequest || !ok || msg == "" {
		t.Fatalf("admin API with a 600-character secret: %d %v", status, out)
	}
	if want := "clients[0]: secret: " + msg; !strings.Contains(err.Error(), want) {
		t.Errorf("config validation said %q, want %q (the admin API's message)", err, want)
	}
	for _, s := range []string{desc, err.Error()} {
		if strings.Contains(s, long[:32]) {
			t.Errorf("a message shows the secret: %q", s)
		}
	}
}

// TestClientRulesAgreeEverywhere runs the same clients through every way
// a client comes to be: config validation (node.Config.Validate), static
// client construction (directory.NewStaticClient), the admin API (POST
// /admin/clients) and dynamic registration (POST /register). Each must
// accept or refuse alike and name the same problems with the same
// messages; /register answers invalid_redirect_uri for redirect URI
// problems and invalid_client_metadata for the rest (RFC 7591 §3.2.2).
//
// The one intended difference is not tested here: a static client's
// client_id and secret must be given, while the admin API generates them
// when left out, and a registrant chooses neither (cases about them skip
// /register).
func TestClientRulesAgreeEverywhere(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Registration.Open = true; c.RateLimit.Enabled = false })
	// The node's config: the same keys.algorithms (RS256, ES256).
	cfg := testConfig(t, t.TempDir())
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keySet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	const secret = "0123456789abcdef0123456789abcdef-secret"

	web := map[string]any{"token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{"https://rp.example/cb"}}
	public := map[string]any{"token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"com.example.app:/cb"}}
	service := map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}}
	with := func(base map[string]any, kv ...any) map[string]any {
		m := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for i, tc := range []struct {
		name     string
		id       string // "" = a valid one
		secret   string
		meta     map[string]any
		field    string // the field at fault; "" = valid
		register bool   // /register applies (it takes no id or secret)
	}{
		{"confidential web client", "", secret, web, "", true},
		{"public native app", "", "", public, "", true},
		{"private_key_jwt with jwks_uri", "", "", with(service, "jwks_uri", "https://rp.example/jwks"), "", true},
		{"private_key_jwt with jwks", "", "", with(service, "jwks", json.RawMessage(keySet)), "", true},
		{"service with a shared secret", "", secret, with(service, "token_endpoint_auth_method", "client_secret_post"), "", true},
		{"600-character secret", "", strings.Repeat("s", 600), web, "client_secret", false},
		{"short secret", "", "short-secret", web, "client_secret", false},
		{"secret for a public client", "", secret, public, "client_secret", false},
		{"client_id with a space", "a b", secret, web, "client_id", false},
		{"unknown auth method", "", "", with(web, "token_endpoint_auth_method", "tls_client_auth"), "token_endpoint_auth_method", true},
		{"unknown grant type", "", secret, with(web, "grant_types", []string{"password"}), "grant_types", true},
		{"public client_credentials", "", "", with(public, "grant_types", []string{"authorization_code", "client_credentials"}), "grant_types", true},
		{"redirect URIs without the code grant", "", secret, with(web, "grant_types", []string{"client_credentials"}), "grant_types", true},
		{"implicit response type", "", secret, with(web, "response_types", []string{"id_token"}), "response_types", true},
		{"code grant without redirect URIs", "", secret, with(web, "redirect_uris", nil), "redirect_uris", true},
		{"http redirect off loopback", "", secret, with(web, "redirect_uris", []string{"http://rp.example/cb"}), "redirect_uris", true},
		{"script post-logout URI", "", secret, with(web, "post_logout_redirect_uris", []string{"javascript:alert(1)"}), "post_logout_redirect_uris", true},
		{"private_key_jwt without keys", "", "", service, "jwks", true},
		{"jwks and jwks_uri", "", "", with(service, "jwks", json.RawMessage(keySet), "jwks_uri", "https://rp.example/jwks"), "jwks_uri", true},
		{"jwks_uri over http", "", "", with(service, "jwks_uri", "http://rp.example/jwks"), "jwks_uri", true},
		{"ID token alg the node has no key for", "", secret, with(web, "id_token_signed_response_alg", "PS256"), "id_token_signed_response_alg", true},
		{"public client without PKCE", "", "", with(public, "require_pkce", false), "require_pkce", true},
		{"assertion alg without private_key_jwt", "", secret, with(web, "token_endpoint_auth_signing_alg", "ES256"), "token_endpoint_auth_signing_alg", true},
		{"encrypted ID tokens without keys", "", secret, with(web, "id_token_encrypted_response_alg", "ECDH-ES"), "id_token_encrypted_response_alg", true},
		{"JARM alg the node signs with", "", secret, with(web, "authorization_signed_response_alg", "ES256"), "", true},
		{"JARM alg the node has no key for", "", secret, with(web, "authorization_signed_response_alg", "PS256"), "authorization_signed_response_alg", true},
		{"encrypted JARM without keys", "", secret, with(web, "authorization_encrypted_response_alg", "RSA-OAEP-256"), "authorization_encrypted_response_alg", true},
		{"JARM enc without alg", "", secret, with(web, "authorization_encrypted_response_enc", "A128GCM"), "authorization_encrypted_response_enc", true},
		{"control character in the name", "", secret, with(web, "client_name", "a\x1bb"), "client_name", true},
		{"unknown application type", "", secret, with(web, "application_type", "desktop"), "application_type", true},
		{"request_uris over http", "", secret, with(web, "request_uris", []string{"http://rp.example/r"}), "request_uris", true},
		{"logout URIs", "", secret, with(web, "backchannel_logout_uri", "https://rp.example/bc", "frontchannel_logout_uri", "https://rp.example/fc"), "", true},
		{"backchannel logout over http", "", secret, with(web, "backchannel_logout_uri", "http://rp.example/bc"), "backchannel_logout_uri", true},
		{"backchannel logout with a fragment", "", secret, with(web, "backchannel_logout_uri", "https://rp.example/bc#f"), "backchannel_logout_uri", true},
		{"frontchannel logout on another origin", "", secret, with(web, "frontchannel_logout_uri", "https://other.example/fc"), "frontchannel_logout_uri", true},
		{"frontchannel sid without the URI", "", secret, with(web, "frontchannel_logout_session_required", true), "frontchannel_logout_session_required", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := cmp.Or(tc.id, fmt.Sprintf("agree-%d", i))
			raw, _ := json.Marshal(tc.meta)
			var m directory.ClientMetadata
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("test metadata: %v", err)
			}

			// Each entry point's problems, as "field: message".
			got := map[string][]string{}

			c := cfg
			c.Clients = []node.ClientConfig{{ID: id, Secret: tc.secret, ClientMetadata: m}}
			if err := c.Validate(); err != nil {
				got["config"] = configProblems(t, err)
			}

			if _, err := directory.NewStaticClient(directory.NewClient{ID: id, Secret: tc.secret, ClientMetadata: m}, cfg.Keys.Algorithms...); err != nil {
				var ie *directory.InvalidError
				if !errors.As(err, &ie) || len(ie.Problems) == 0 {
					t.Fatalf("NewStaticClient: %v, want an InvalidError with Problems", err)
				}
				for _, p := range ie.Problems {
					got["static"] = append(got["static"], p.String())
				}
			}

			body := with(tc.meta, "client_id", id)
			if tc.secret != "" {
				body["client_secret"] = tc.secret
			}
			st, out := jsonCall(t, http.MethodPost, o.issuer+"/admin/clients", adminToken, body)
			switch {
			case st == http.StatusBadRequest && out["error"] == "invalid_request":
				got["admin"] = strings.Split(out["error_description"].(string), "; ")
			case st != http.StatusCreated:
				t.Fatalf("admin API: %d %v", st, out)
			}

			if tc.register {
				st, out := jsonCall(t, http.MethodPost, o.issuer+"/register", "", tc.meta)
				switch {
				case st == http.StatusBadRequest:
					want := "invalid_client_metadata"
					if tc.field == "redirect_uris" || tc.field == "post_logout_redirect_uris" {
						want = "invalid_redirect_uri"
					}
					if out["error"] != want {
						t.Errorf("/register: error %v, want %s", out["error"], want)
					}
					got["register"] = strings.Split(out["error_description"].(string), "; ")
				case st != http.StatusCreated:
					t.Fatalf("/register: %d %v", st, out)
				}
			}

			entries := []string{"config", "static", "admin"}
			if tc.register {
				entries = append(entries, "register")
			}
			for _, e := range entries {
				p := got[e]
				if tc.field == "" {
					if len(p) > 0 {
						t.Errorf("%s refused a valid client: %q", e, p)
					}
					continue
				}
				if !slices.ContainsFunc(p, func(s string) bool { return strings.HasPrefix(s, tc.field+": ") }) {
					t.Errorf("%s: %q, want a problem with %s", e, p, tc.field)
				}
				if !slices.Equal(p, got["config"]) {
					t.Errorf("%s says %q, config validation %q", e, p, got["config"])
				}
			}
			for _, p := range slices.Concat(got["config"], got["admin"]) {
				if tc.secret != "" && strings.Contains(p, tc.secret) {
					t.Errorf("a problem shows the secret: %q", p)
				}
			}
		})
	}
}

// configProblems returns Validate's problems with clients[0] as "field:
// message", the credentials under their RFC 7591 names (id is client_id,
// secret client_secret) so they compare with the other entry points'.
func configProblems(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "clients[0]: ")
		if !ok {
			if line != "invalid configuration:" {
				t.Errorf("config problem outside clients[0]: %q", line)
			}
			continue
		}
		field, msg, _ := strings.Cut(rest, ": ")
		switch field {
		case "id":
			field = "client_id"
		case "secret":
			field = "client_secret"
		}
		out = append(out, field+": "+msg)
	}
	return out
}
