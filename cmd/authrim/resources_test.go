package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func resourcesRun(ctx context.Context, args []string, stdout *bytes.Buffer) error {
	return cmdLine(ctx, strings.NewReader(""), stdout, append([]string{"resources"}, args...)...)
}

// TestResourcesCmd: create, list, get, update and delete a resource
// server through the CLI and the real admin API; bad input is refused
// and changes nothing; static ones cannot be changed.
func TestResourcesCmd(t *testing.T) {
	srv, dir := adminServer(t)
	ctx := context.Background()
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := resourcesRun(ctx, append(args, conn...), &out)
		return out.String(), err
	}
	const api = "https://api.example/v1"
	if out, err := run("create", api, "--name", "Orders", "--scopes", "read, write", "--access-token-ttl", "5m"); err != nil || !strings.Contains(out, "created resource "+api) {
		t.Fatalf("create: %v %q", err, out)
	}
	r, err := dir.Resource(ctx, api)
	if err != nil || r.Name != "Orders" || !reflect.DeepEqual(r.Scopes, []string{"read", "write"}) || r.AccessTokenTTL.D().String() != "5m0s" {
		t.Fatalf("stored %+v %v", r, err)
	}
	out, err := run("list")
	if err != nil || !strings.Contains(out, api) || !strings.Contains(out, "https://static-api.example/") || !strings.Contains(out, "config.yaml") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("get", api); err != nil || !strings.Contains(out, "Orders") {
		t.Fatalf("get: %v\n%s", err, out)
	}
	if out, err := run("get", api, "--json"); err != nil || !strings.Contains(out, `"resource": "`+api+`"`) {
		t.Fatalf("get --json: %v\n%s", err, out)
	}

	// Refused, and nothing changes.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	jwkFile := filepath.Join(t.TempDir(), "api.jwk")
	os.WriteFile(jwkFile, jwk, 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"create relative", []string{"create", "/api", "--scopes", "a"}, "absolute URI"},
		{"create duplicate", []string{"create", api, "--scopes", "a"}, "identifier"},
		{"create provider scope", []string{"create", "https://b.example/", "--scopes", "openid"}, "provider"},
		{"update bad ttl", []string{"update", api, "--access-token-ttl", "1s"}, "access_token_ttl"},
		{"update key without alg", []string{"update", api, "--encryption-jwk-file", jwkFile}, "access_token_encryption_alg"},
		{"update nothing", []string{"update", api}, "something to change"},
		{"update static", []string{"update", "https://static-api.example/", "--name", "x"}, "static"},
		{"delete static", []string{"delete", "https://static-api.example/"}, "static"},
		{"get unknown", []string{"get", "https://nope.example/"}, "no such resource"},
		{"update unknown service client", []string{"update", api, "--service-clients", "ghost"}, "service_clients"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	if after, _ := dir.Resource(ctx, api); !reflect.DeepEqual(after, r) {
		t.Fatalf("refused commands changed the resource: %+v -> %+v", r, after)
	}

	if _, err := run("update", api, "--scopes", "read", "--encryption-jwk-file", jwkFile, "--encryption-alg", "RSA-OAEP-256", "--access-token-ttl", ""); err != nil {
		t.Fatalf("update: %v", err)
	}
	if u, _ := dir.Resource(ctx, api); !reflect.DeepEqual(u.Scopes, []string{"read"}) || u.EncryptionAlg != "RSA-OAEP-256" || len(u.EncryptionJWK) == 0 || u.AccessTokenTTL != 0 {
		t.Fatalf("updated %+v", u)
	}
	if _, err := run("update", api, "--service-clients", "static-web"); err != nil {
		t.Fatalf("update service clients: %v", err)
	}
	if u, _ := dir.Resource(ctx, api); !reflect.DeepEqual(u.ServiceClients, []string{"static-web"}) {
		t.Fatalf("service clients %+v", u.ServiceClients)
	}
	if _, err := run("update", api, "--service-clients", ""); err != nil {
		t.Fatalf("clear service clients: %v", err)
	}
	if u, _ := dir.Resource(ctx, api); len(u.ServiceClients) != 0 {
		t.Fatalf("service clients not cleared: %+v", u.ServiceClients)
	}
	if out, err := run("delete", api); err != nil || !strings.Contains(out, "deleted resource") {
		t.Fatalf("delete: %v %q", err, out)
	}
	if _, err := dir.Resource(ctx, api); err == nil {
		t.Fatal("still there after delete")
	}
}
