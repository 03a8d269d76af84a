package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"authrim/connectors"
	"authrim/connectors/registry"
	"authrim/http/management"
	"authrim/http/router"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// TestConnectorsCmd: add (YAML file, secret from --secret-file), list,
// show and remove through the CLI and the real admin API; config.yaml's
// connector is listed read-only and cannot be removed; a bad connector
// is refused and stores nothing; no secret is printed or stored in the
// clear.
func TestConnectorsCmd(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	svc := &registry.Service{Store: store, Sealer: testKEK(t), Static: []connectors.Config{
		{ID: "google", Type: "google", ClientID: "g", ClientSecret: "static-google-secret"},
	}}
	e := echo.New()
	router.Mount(e, management.NewAdmin(cliToken, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).WithConnectors(svc))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := cmdLine(context.Background(), strings.NewReader(""), &out, append(append([]string{"connectors"}, args...), conn...)...)
		return out.String(), err
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "corp-client-secret-for-cli"
	corp := write("corp.yaml", "id: corp\ntype: oidc\nname: Corp SSO\nissuer: https://sso.corp.example\nclient_id: authrim\nallowed_domains: [corp.example]\n")
	secretFile := write("secret", secret+"\n")

	out, err := run("add", "--file", corp, "--secret-file", secretFile)
	if err != nil || !strings.Contains(out, "id:           corp") || !strings.Contains(out, "set (never shown)") || strings.Contains(out, secret) {
		t.Fatalf("add: %v\n%s", err, out)
	}
	raw, err := store.Get(context.Background(), persistence.BucketConnectors, "corp")
	if err != nil || bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("stored record %s %v", raw, err)
	}
	if out, err := run("list"); err != nil || !strings.Contains(out, "google") || !strings.Contains(out, "config (read-only)") || !strings.Contains(out, "corp") || strings.Contains(out, "static-google-secret") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("show", "corp"); err != nil || !strings.Contains(out, "https://sso.corp.example") || !strings.Contains(out, "corp.example") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"add", "--file", write("plain.yaml", "id: dir\ntype: ldap\nldap:\n  url: ldap://ldap.corp.example\n  bind_dn: cn=a,dc=x\n  bind_password: p\n  user_base: dc=x\n")},
		{"add", "--file", corp, "--secret-file", secretFile}, // the id again
		{"add", "--file", write("typo.yaml", "id: x\ntype: oidc\nisuer: https://a.example\n")},
		{"add"},
		{"show", "nope"},
		{"remove", "google"},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if out, _ := run("list"); strings.Count(out, "\n") != 3 {
		t.Fatalf("refusals changed the list:\n%s", out)
	}
	if out, err := run("remove", "corp"); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if out, _ := run("list"); strings.Contains(out, "corp") {
		t.Fatalf("after remove:\n%s", out)
	}
}
