package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authrim/internal/eventually"
	"authrim/internal/testca"
)

// TestServeHTTPS: `authrim serve` configured through AUTHRIM_HTTP_TLS_*
// serves discovery over https with the operator's certificate and
// advertises https endpoints.
func TestServeHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := testca.New(t)
	leaf := ca.Issue(t)
	certFile, keyFile := leaf.Write(t, t.TempDir())
	port := freePort(t)
	issuer := fmt.Sprintf("https://localhost:%d", port)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"AUTHRIM_CONFIG=",
		"AUTHRIM_ISSUER="+issuer,
		"AUTHRIM_STORAGE_DIR="+dir,
		"AUTHRIM_KEYS_KEK_FILE="+filepath.Join(dir, "kek"),
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", port),
		"AUTHRIM_HTTP_TLS_CERT_FILE="+certFile,
		"AUTHRIM_HTTP_TLS_KEY_FILE="+keyFile,
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	var body string
	eventually.OK(t, 0, "discovery over https", func() error {
		resp, err := client.Get(issuer + "/.well-known/openid-configuration")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(leaf.Serial) != 0 {
			return fmt.Errorf("served certificate %v", got)
		}
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	})
	if !strings.Contains(body, `"token_endpoint":"`+issuer+`/token"`) {
		t.Fatalf("discovery does not advertise https endpoints: %s", body)
	}
}

// TestServeRefusesPlaintextOffLoopback: a node with a public issuer on
// every interface and no TLS (its own or a proxy's) exits at once with
// a message that names the three ways out, and opens nothing.
func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"AUTHRIM_CONFIG=",
		"AUTHRIM_ISSUER=https://id.example.com",
		"AUTHRIM_STORAGE_DIR="+dir,
		"AUTHRIM_KEYS_KEK_FILE="+filepath.Join(dir, "kek"),
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=0.0.0.0:%d", freePort(t)),
	)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{"http.listen", "http.tls.cert_file", "http.trusted_proxies", "http.insecure_plaintext"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not name %s:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused start created %s: %v", dir, err)
	}
}
