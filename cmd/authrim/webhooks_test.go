package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"authrim/http/management"
	"authrim/http/router"
	"authrim/persistence/bbolt"
	"authrim/webhooks"
)

// TestWebhooksCmd: create, list, show, update, rotate, deliveries and
// delete through the CLI and the real admin API; bad input is refused
// and changes nothing.
func TestWebhooksCmd(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	svc := &webhooks.Service{Store: store, Sealer: testKEK(t)}
	e := echo.New()
	router.Mount(e, management.NewAdmin(cliToken, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).WithWebhooks(svc))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := cmdLine(context.Background(), strings.NewReader(""), &out, append(append([]string{"webhooks"}, args...), conn...)...)
		return out.String(), err
	}
	out, err := run("create", "https://hooks.example.com/authrim", "--events", "sign_in_*, admin_user_*", "--description", "SIEM")
	if err != nil || !strings.Contains(out, "secret:      whsec_") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`id:\s+(wh_\S+)`).FindStringSubmatch(out)[1]
	secret := regexp.MustCompile(`(whsec_\S+)`).FindString(out)
	if out, err := run("list"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "sign_in_*,admin_user_*") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("show", id); err != nil || !strings.Contains(out, "SIEM") || strings.Contains(out, "whsec_") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := run("update", id, "--events", "*", "--disable"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	if out, err := run("rotate-secret", id); err != nil || !strings.Contains(out, "whsec_") || strings.Contains(out, secret) {
		t.Fatalf("rotate-secret: %v\n%s", err, out)
	}
	if out, err := run("deliveries", id); err != nil || !strings.Contains(out, "no deliveries yet") {
		t.Fatalf("deliveries: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"create", "http://hooks.example.com/x", "--events", "*"},
		{"create", "https://hooks.example.com/x"},
		{"create", "https://hooks.example.com/x", "--events", "Not A Type"},
		{"update", id, "--enable", "--disable"},
		{"update", id},
		{"show", "wh_unknown"},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if out, _ := run("list"); strings.Count(out, "wh_") != 1 {
		t.Fatalf("refusals changed the list:\n%s", out)
	}
	if out, err := run("delete", id); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if out, _ := run("list"); !strings.Contains(out, "no webhooks") {
		t.Fatalf("after delete:\n%s", out)
	}
}
