package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: exit 0 only for a 200 from the URL itself; a redirect
// (even to a healthy URL), an error status, no listener or no answer in
// time is 1; a URL that is not http(s) is a usage error.
func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/draining", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/readyz", http.StatusFound) })
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closed.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ready", []string{"--url", srv.URL + "/readyz"}, 0, ""},
		{"not ready", []string{"--url", srv.URL + "/draining"}, 1, "status 503"},
		{"redirect not followed", []string{"--url", srv.URL + "/moved"}, 1, "status 302"},
		{"nothing listens", []string{"--url", closed.URL + "/readyz"}, 1, "connection refused"},
		{"no answer in time", []string{"--url", srv.URL + "/hang", "--timeout", "200ms"}, 1, "deadline exceeded"},
		{"not http", []string{"--url", "file:///etc/passwd"}, 2, "must be an http or https URL"},
		{"no host", []string{"--url", "http:///readyz"}, 2, "must be an http or https URL"},
		{"zero timeout", []string{"--url", srv.URL + "/readyz", "--timeout", "0s"}, 2, "must be positive"},
		{"argument", []string{"x"}, 2, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runIO(context.Background(), append([]string{"healthcheck"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q: %s", tc.stderr, stderr.String())
			}
			if code == 0 && strings.TrimSpace(stdout.String()) != "ok" {
				t.Errorf("stdout %q, want ok", stdout.String())
			}
		})
	}
}
