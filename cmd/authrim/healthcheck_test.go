package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("http:\n  listen: 0.0.0.0:"+port+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		// Without --url: /readyz at the configured http.listen.
		{"listen from AUTHRIM_HTTP_LISTEN", nil, map[string]string{"AUTHRIM_HTTP_LISTEN": "127.0.0.1:" + port}, 0, ""},
		{"listen from the file, every interface", nil, map[string]string{"AUTHRIM_CONFIG": cfgFile}, 0, ""},
		{"ready", []string{"--url", srv.URL + "/readyz"}, nil, 0, ""},
		{"not ready", []string{"--url", srv.URL + "/draining"}, nil, 1, "status 503"},
		{"redirect not followed", []string{"--url", srv.URL + "/moved"}, nil, 1, "status 302"},
		{"nothing listens", []string{"--url", closed.URL + "/readyz"}, nil, 1, "connection refused"},
		{"no answer in time", []string{"--url", srv.URL + "/hang", "--timeout", "200ms"}, nil, 1, "deadline exceeded"},
		{"not http", []string{"--url", "file:///etc/passwd"}, nil, 2, "must be an http or https URL"},
		{"no host", []string{"--url", "http:///readyz"}, nil, 2, "must be an http or https URL"},
		{"zero timeout", []string{"--url", srv.URL + "/readyz", "--timeout", "0s"}, nil, 2, "must be positive"},
		{"argument", []string{"x"}, nil, 2, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AUTHRIM_CONFIG", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
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

// A configuration that does not load leaves the default URL (the node
// would not have started on it either).
func TestHealthcheckUnloadableConfig(t *testing.T) {
	t.Setenv("AUTHRIM_CONFIG", "")
	t.Setenv("AUTHRIM_HTTP_LISTE", "127.0.0.1:1")
	if u, ok := configHealthURL(); ok {
		t.Fatalf("configHealthURL = %q, true on an unknown variable", u)
	}
}
