package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
)

func TestClientsCmd(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}

	out, err := run("add", "--id", "rp-1", "--name", "Relying Party", "--auth-method", "client_secret_basic",
		"--grant-types", "authorization_code, refresh_token",
		"--redirect-uri", "https://rp.example/cb", "--redirect-uri", "http://127.0.0.1:9000/cb",
		"--post-logout-redirect-uri", "https://rp.example/bye", "--skip-consent", "--id-token-alg", "ES256")
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	m := regexp.MustCompile(`(?m)^client_id: +rp-1\nclient_secret: +([A-Za-z0-9_-]{43})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add printed %q", out)
	}
	c, err := dir.Client(ctx, "rp-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := directory.VerifyClientSecret(c, m[1]); err != nil {
		t.Errorf("printed secret does not verify: %v", err)
	}
	if len(c.RedirectURIs) != 2 || len(c.GrantTypes) != 2 || !c.SkipConsent || c.IDTokenSignedResponseAlg != "ES256" || c.Name != "Relying Party" || !c.PKCERequired() {
		t.Errorf("stored client %+v", c)
	}

	// A confidential legacy client without PKCE; a public one cannot.
	if _, err := run("add", "--id", "legacy", "--auth-method", "client_secret_basic", "--grant-types", "authorization_code",
		"--redirect-uri", "https://legacy.example/cb", "--require-pkce=false"); err != nil {
		t.Fatalf("--require-pkce=false: %v", err)
	}
	if c, err := dir.Client(ctx, "legacy"); err != nil || c.PKCERequired() {
		t.Errorf("legacy client %+v %v", c, err)
	}
	if _, err := run("add", "--auth-method", "none", "--grant-types", "authorization_code", "--redirect-uri", "com.example.app:/cb", "--require-pkce=false"); err == nil || !strings.Contains(err.Error(), "require_pkce") {
		t.Errorf("public client without PKCE: %v", err)
	}

	// A public client: a generated id and no secret line.
	out, err = run("add", "--auth-method", "none", "--grant-types", "authorization_code", "--redirect-uri", "com.example.app:/cb")
	if err != nil || strings.Contains(out, "client_secret") || !strings.HasPrefix(out, "client_id: ") {
		t.Fatalf("public client: %q, %v", out, err)
	}

	// private_key_jwt with --jwks-file.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Use: "sig"}}})
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, set, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("add", "--id", "m2m", "--auth-method", "private_key_jwt", "--grant-types", "client_credentials", "--jwks-file", jwksPath); err != nil || strings.Contains(out, "client_secret") {
		t.Fatalf("private_key_jwt: %q, %v", out, err)
	}

	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CLIENT_ID", "rp-1", "Relying Party", "m2m", "private_key_jwt", "static-web", "config.yaml", "admin API"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, m[1]) || strings.Contains(out, "sha256:") {
		t.Errorf("list output shows a secret or hash:\n%s", out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"duplicate id", []string{"add", "--id", "rp-1", "--auth-method", "none", "--grant-types", "refresh_token"}, "409"},
		{"static id", []string{"add", "--id", "static-web", "--auth-method", "none", "--grant-types", "refresh_token"}, "409"},
		{"invalid redirect URI", []string{"add", "--auth-method", "none", "--grant-types", "authorization_code", "--redirect-uri", "http://rp.example/cb"}, "http only for localhost"},
		{"delete static", []string{"delete", "static-web"}, "config.yaml"},
		{"delete unknown", []string{"delete", "nope"}, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}

	out, err = run("delete", "rp-1")
	if err != nil || out != "deleted client rp-1\n" {
		t.Fatalf("delete: %q, %v", out, err)
	}
	if _, err := dir.Client(ctx, "rp-1"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("client still there: %v", err)
	}
}

// Usage errors are found before any request is sent.
func TestClientsCmdUsage(t *testing.T) {
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	conn := []string{"--server", "http://127.0.0.1:1", "--admin-token", cliToken}
	notJSON := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(notJSON, []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "subcommand"},
		{"unknown subcommand", append([]string{"rotate"}, conn...), "unknown clients subcommand"},
		{"add without auth method", append([]string{"add", "--grant-types", "authorization_code"}, conn...), "--auth-method"},
		{"add without grant types", append([]string{"add", "--auth-method", "none"}, conn...), "--grant-types"},
		{"add with a positional", append([]string{"add", "rp", "--auth-method", "none", "--grant-types", "refresh_token"}, conn...), "flags only"},
		{"jwks file not JSON", append([]string{"add", "--auth-method", "private_key_jwt", "--grant-types", "client_credentials", "--jwks-file", notJSON}, conn...), "not JSON"},
		{"list with an argument", append([]string{"list", "x"}, conn...), "no arguments"},
		{"delete without id", append([]string{"delete"}, conn...), "exactly one"},
		{"no admin token", []string{"list", "--server", "http://127.0.0.1:1"}, "admin token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := clientsRun(context.Background(), tc.args, io.Discard)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
}

// clients show, update and rotate-secret against the real admin handlers.
func TestClientsShowUpdateRotate(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	_, secret, err := dir.CreateClient(ctx, directory.NewClient{ID: "rp-1", ClientMetadata: directory.ClientMetadata{Name: "Relying Party", AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}

	out, err := run("show", "rp-1")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"client_id: rp-1", "client_name: Relying Party", "source: admin API", "token_endpoint_auth_method: client_secret_basic",
		"grant_types: authorization_code", "redirect_uris: https://rp.example/cb", "require_pkce: true"} {
		if !strings.Contains(flat, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if out, err := run("show", "static-web"); err != nil || !strings.Contains(out, "config.yaml") {
		t.Errorf("show static: %v\n%s", err, out)
	}
	out, err = run("show", "rp-1", "--json")
	var view map[string]any
	if err != nil || json.Unmarshal([]byte(out), &view) != nil || view["client_id"] != "rp-1" {
		t.Fatalf("show --json: %v\n%s", err, out)
	}

	out, err = run("update", "rp-1", "--name", "Renamed", "--redirect-uri", "https://rp.example/cb", "--redirect-uri", "http://127.0.0.1/cb",
		"--skip-consent", "--metadata", `{"post_logout_redirect_uris":["https://rp.example/bye"]}`)
	if err != nil || out != "updated client rp-1\n" {
		t.Fatalf("update: %q %v", out, err)
	}
	c, _ := dir.Client(ctx, "rp-1")
	if c.Name != "Renamed" || len(c.RedirectURIs) != 2 || !c.SkipConsent || len(c.PostLogoutRedirectURIs) != 1 || directory.VerifyClientSecret(c, secret) != nil {
		t.Fatalf("after update: %+v", c)
	}
	if _, err := run("update", "rp-1", "--redirect-uri", "http://rp.example/cb"); err == nil || !strings.Contains(err.Error(), "http only for localhost") {
		t.Fatalf("bad redirect URI: %v", err)
	}
	if c2, _ := dir.Client(ctx, "rp-1"); len(c2.RedirectURIs) != 2 {
		t.Fatal("a refused update changed the client")
	}
	if _, err := run("update", "static-web", "--name", "x"); err == nil || !strings.Contains(err.Error(), "config.yaml") {
		t.Fatalf("update static: %v", err)
	}

	out, err = run("rotate-secret", "rp-1")
	m := regexp.MustCompile(`(?m)^client_id: +rp-1\nclient_secret: +([A-Za-z0-9_-]{43})\n`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("rotate-secret: %v\n%s", err, out)
	}
	c, _ = dir.Client(ctx, "rp-1")
	if directory.VerifyClientSecret(c, m[1]) != nil || directory.VerifyClientSecret(c, secret) == nil {
		t.Fatal("after rotate-secret the printed secret must verify and the old one not")
	}
	if out, err := run("show", "rp-1"); err != nil || strings.Contains(out, m[1]) || strings.Contains(out, "sha256:") {
		t.Fatalf("show after rotate: %v\n%s", err, out)
	}
	if _, err := run("rotate-secret", "static-web"); err == nil || !strings.Contains(err.Error(), "config.yaml") {
		t.Fatalf("rotate static: %v", err)
	}

	// A switch to a secret method prints the new secret once.
	if _, _, err := dir.CreateClient(ctx, directory.NewClient{ID: "spa", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example/cb"}}}); err != nil {
		t.Fatal(err)
	}
	out, err = run("update", "spa", "--auth-method", "client_secret_post")
	if err != nil || !strings.Contains(out, "client_secret: ") {
		t.Fatalf("switch to a secret method: %v\n%s", err, out)
	}
}

// The command lines of show, update and rotate-secret that are refused
// before anything is sent.
func TestClientsEditUsage(t *testing.T) {
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	conn := []string{"--server", "http://127.0.0.1:1", "--admin-token", cliToken}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"show without id", []string{"show"}, "exactly one client ID"},
		{"update without id", []string{"update", "--name", "x"}, "exactly one client ID"},
		{"update without a change", []string{"update", "rp"}, "something to change"},
		{"update metadata not JSON", []string{"update", "rp", "--metadata", "["}, "JSON object"},
		{"update twice", []string{"update", "rp", "--name", "x", "--metadata", `{"client_name":"y"}`}, "client_name"},
		{"update secret", []string{"update", "rp", "--metadata", `{"client_secret":"0123456789012345678901234567890123"}`}, "rotate-secret"},
		{"rotate without id", []string{"rotate-secret"}, "exactly one client ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := clientsRun(context.Background(), append(tc.args, conn...), io.Discard)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestClientsLogoutFlags: the back- and front-channel logout metadata
// round-trips through add, show and update (an empty URI removes it), and
// a refused value changes nothing.
func TestClientsLogoutFlags(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	if _, err := run("add", "--id", "rp-lo", "--auth-method", "none", "--grant-types", "authorization_code",
		"--redirect-uri", "https://rp.example/cb",
		"--backchannel-logout-uri", "https://rp.example/bc", "--backchannel-logout-session-required",
		"--frontchannel-logout-uri", "https://rp.example/fc?a=1", "--frontchannel-logout-session-required"); err != nil {
		t.Fatalf("add: %v", err)
	}
	c, err := dir.Client(ctx, "rp-lo")
	if err != nil || c.BackchannelLogoutURI != "https://rp.example/bc" || !c.BackchannelLogoutSessionRequired ||
		c.FrontchannelLogoutURI != "https://rp.example/fc?a=1" || !c.FrontchannelLogoutSessionRequired {
		t.Fatalf("stored %+v %v", c.ClientMetadata, err)
	}
	out, err := run("show", "rp-lo")
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"backchannel_logout_uri: https://rp.example/bc", "backchannel_logout_session_required: true",
		"frontchannel_logout_uri: https://rp.example/fc?a=1", "frontchannel_logout_session_required: true"} {
		if err != nil || !strings.Contains(flat, want) {
			t.Errorf("show lacks %q: %v\n%s", want, err, out)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"http backchannel", []string{"--backchannel-logout-uri", "http://rp.example/bc"}, "backchannel_logout_uri"},
		{"private backchannel", []string{"--backchannel-logout-uri", "https://10.0.0.1/bc"}, "private"},
		{"frontchannel on another origin", []string{"--frontchannel-logout-uri", "https://other.example/fc"}, "redirect_uris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := run(append([]string{"update", "rp-lo"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if got, _ := dir.Client(ctx, "rp-lo"); got.BackchannelLogoutURI != c.BackchannelLogoutURI || got.FrontchannelLogoutURI != c.FrontchannelLogoutURI {
				t.Fatalf("a refused update changed the client: %+v", got.ClientMetadata)
			}
		})
	}

	if _, err := run("update", "rp-lo", "--backchannel-logout-uri", "https://rp.example/bc2", "--frontchannel-logout-session-required=false"); err != nil {
		t.Fatalf("update: %v", err)
	}
	if c, _ := dir.Client(ctx, "rp-lo"); c.BackchannelLogoutURI != "https://rp.example/bc2" || c.FrontchannelLogoutSessionRequired || c.FrontchannelLogoutURI == "" {
		t.Fatalf("after update %+v", c.ClientMetadata)
	}
	if _, err := run("update", "rp-lo", "--backchannel-logout-uri", "", "--backchannel-logout-session-required=false", "--frontchannel-logout-uri", ""); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if c, _ := dir.Client(ctx, "rp-lo"); c.BackchannelLogoutURI != "" || c.FrontchannelLogoutURI != "" || c.BackchannelLogoutSessionRequired {
		t.Fatalf("after removal %+v", c.ClientMetadata)
	}
}

// TestClientsDPoPFlag: dpop_bound_access_tokens (RFC 9449 §5.2) is set
// by add and changed by update, and shown.
func TestClientsDPoPFlag(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	if _, err := run("add", "--id", "rp-dpop", "--auth-method", "none", "--grant-types", "authorization_code",
		"--redirect-uri", "https://rp.example/cb", "--dpop-bound-access-tokens"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if c, err := dir.Client(ctx, "rp-dpop"); err != nil || !c.DPoPBoundAccessTokens {
		t.Fatalf("stored %+v %v", c.ClientMetadata, err)
	}
	if out, err := run("show", "rp-dpop"); err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), "dpop_bound_access_tokens: true") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := run("update", "rp-dpop", "--dpop-bound-access-tokens=false"); err != nil {
		t.Fatalf("update: %v", err)
	}
	if c, _ := dir.Client(ctx, "rp-dpop"); c.DPoPBoundAccessTokens {
		t.Fatalf("after update %+v", c.ClientMetadata)
	}
}

// TestClientsMTLSFlags: a tls_client_auth client is added with its
// subject and bound tokens from flags, and updated to another subject.
func TestClientsMTLSFlags(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	if out, err := run("add", "--id", "rp-mtls", "--auth-method", "tls_client_auth", "--grant-types", "client_credentials",
		"--tls-client-auth-subject-dn", "CN=app,O=Example", "--tls-client-certificate-bound-access-tokens"); err != nil || strings.Contains(out, "client_secret:") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	if c, err := dir.Client(ctx, "rp-mtls"); err != nil || c.TLSClientAuth.SubjectDN != "CN=app,O=Example" || !c.TLSClientCertificateBoundAccessTokens {
		t.Fatalf("stored %+v %v", c.ClientMetadata, err)
	}
	// Two subjects at once are refused; the DN removed and a SAN set is not.
	if _, err := run("update", "rp-mtls", "--tls-client-auth-san-dns", "app.example.org"); err == nil {
		t.Fatal("a second subject was accepted")
	}
	if _, err := run("update", "rp-mtls", "--tls-client-auth-subject-dn", "", "--tls-client-auth-san-dns", "app.example.org"); err != nil {
		t.Fatalf("update: %v", err)
	}
	if c, _ := dir.Client(ctx, "rp-mtls"); c.TLSClientAuth != (directory.TLSClientAuth{SANDNS: "app.example.org"}) {
		t.Fatalf("after update %+v", c.TLSClientAuth)
	}
}

// TestClientsTokenExchangeFlag: a token exchange policy goes in from
// --token-exchange-file at add and update, a refused one changes
// nothing, and a file holding null removes it (with the grant).
func TestClientsTokenExchangeFlag(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	file := func(body string) string {
		p := filepath.Join(t.TempDir(), "policy.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const grant = "urn:ietf:params:oauth:grant-type:token-exchange"
	if _, err := run("add", "--id", "gw", "--auth-method", "client_secret_basic", "--grant-types", grant+",client_credentials",
		"--token-exchange-file", file(`{"subject_token_types":["urn:ietf:params:oauth:token-type:access_token"],"audiences":["https://api.example"],"scopes":["orders.read"]}`)); err != nil {
		t.Fatalf("add: %v", err)
	}
	c, err := dir.Client(ctx, "gw")
	if err != nil || len(c.TokenExchange.Audiences) != 1 || c.TokenExchange.Audiences[0] != "https://api.example" || c.TokenExchange.AllowImpersonation {
		t.Fatalf("stored %+v %v", c.TokenExchange, err)
	}
	if _, err := run("update", "gw", "--token-exchange-file", file(`{"subject_token_types":["urn:ietf:params:oauth:token-type:refresh_token"],"audiences":["https://api.example"]}`)); err == nil || !strings.Contains(err.Error(), "token_exchange") {
		t.Fatalf("refresh tokens as subjects: %v", err)
	}
	if _, err := run("update", "gw", "--token-exchange-file", file(`{"audiences":["x"],"typo":true}`)); err == nil {
		t.Fatal("an unknown member was accepted")
	}
	if got, _ := dir.Client(ctx, "gw"); got.TokenExchange.SubjectTokenTypes[0] != c.TokenExchange.SubjectTokenTypes[0] {
		t.Fatalf("a refused update changed the policy: %+v", got.TokenExchange)
	}
	if _, err := run("update", "gw", "--token-exchange-file", file(`{"subject_token_types":["urn:ietf:params:oauth:token-type:jwt"],"audiences":["https://api.example"],"allow_impersonation":true}`)); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, _ := dir.Client(ctx, "gw"); !got.TokenExchange.AllowImpersonation || got.TokenExchange.SubjectTokenTypes[0] != "urn:ietf:params:oauth:token-type:jwt" {
		t.Fatalf("after update %+v", got.TokenExchange)
	}
	// The grant needs its policy: null alone is refused, with the grant
	// removed too it is accepted.
	if _, err := run("update", "gw", "--token-exchange-file", file(`null`)); err == nil {
		t.Fatal("the policy was removed while the grant stayed")
	}
	if _, err := run("update", "gw", "--token-exchange-file", file(`null`), "--grant-types", "client_credentials"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if got, _ := dir.Client(ctx, "gw"); !got.TokenExchange.IsZero() {
		t.Fatalf("after removal %+v", got.TokenExchange)
	}
}
