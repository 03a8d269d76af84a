package main

import (
	"authrim/internal/freeport"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles authrim once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "authrim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startServe runs `authrim serve` with env and waits for /readyz.
func startServe(t *testing.T, bin, base string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready: %s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

func TestKill9AndRestartKeepsTheSameKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{
		"AUTHRIM_STORAGE_DIR=" + dir,
		"AUTHRIM_KEYS_KEK_FILE=" + filepath.Join(dir, "kek"),
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", port),
		"AUTHRIM_ADMIN_TOKEN=process-test-admin-token",
	}
	p := startServe(t, bin, base, env)
	before := jwksKids(t, base)
	if len(before) != 4 {
		t.Fatalf("kids %v, want 4", before)
	}
	// A rotation acknowledged just before the crash must survive it: it
	// moves each next key's activation time, which `keys list` shows.
	keys := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--server", base, "--admin-token", "process-test-admin-token")
		if code := run(context.Background(), append([]string{"keys"}, args...), &out, &errb); code != 0 {
			t.Fatalf("keys %v: %d %s", args, code, errb.String())
		}
		var next []string
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, " next ") {
				next = append(next, strings.Join(strings.Fields(line), " "))
			}
		}
		if len(next) != 2 {
			t.Fatalf("want two next keys:\n%s", out.String())
		}
		return strings.Join(next, "\n")
	}
	beforeRotate := keys("list")
	rotated := keys("rotate")
	if rotated == beforeRotate {
		t.Fatal("rotate did not move the next keys' activation")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = p.cmd.Process.Wait()

	startServe(t, bin, base, env)
	if after := jwksKids(t, base); !slices.Equal(before, after) {
		t.Fatalf("kids after kill -9 %v, want %v", after, before)
	}
	if after := keys("list"); after != rotated {
		t.Fatalf("the acknowledged rotation was lost:\nafter restart\n%s\nacknowledged\n%s", after, rotated)
	}
}

func TestServeRejectsBadConfigListingEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("issuer: ftp://example.com\nhttp:\n  listen: nowhere\nkeys:\n  algorithms: [HS256]\n  rotation_perod: 1h\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", path}, &out, &errb)
	if code == 0 {
		t.Fatal("serve accepted a bad config")
	}
	msg := errb.String()
	for _, want := range []string{"issuer", "http.listen", "keys.algorithms", "keys.rotation_perod"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a rejected config still created a data dir")
	}
}

func TestKeysCommandNeedsTokenAndReason(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"keys", "list", "--admin-token", ""}, "no admin token"},
		{"revoke without reason", []string{"keys", "revoke", "abc", "--admin-token", "x"}, "--reason"},
		{"revoke without kid", []string{"keys", "revoke", "--reason", "r", "--admin-token", "x"}, "exactly one KID"},
		{"unknown subcommand", []string{"keys", "spin"}, "unknown keys subcommand"},
	}
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2 (%s)", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("stderr %q does not say %q", errb.String(), tt.want)
			}
		})
	}
}

// runtime.gc_percent reaches the Go runtime of `authrim serve` (the node's
// own metrics show it), and GOGC in the environment wins over it.
func TestServeAppliesGCPercent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"default", nil, "go_gc_gogc_percent 100\n"},
		{"config", []string{"AUTHRIM_RUNTIME_GC_PERCENT=300"}, "go_gc_gogc_percent 300\n"},
		{"GOGC wins", []string{"AUTHRIM_RUNTIME_GC_PERCENT=300", "GOGC=150"}, "go_gc_gogc_percent 150\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			port, mport := freePort(t), freePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			env := append([]string{
				"GOGC=",
				"AUTHRIM_STORAGE_DIR=" + dir,
				"AUTHRIM_KEYS_KEK_FILE=" + filepath.Join(dir, "kek"),
				fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", port),
				fmt.Sprintf("AUTHRIM_METRICS_LISTEN=127.0.0.1:%d", mport),
			}, tc.env...)
			startServe(t, bin, base, env)
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), tc.want) {
				t.Fatalf("metrics lack %q", strings.TrimSpace(tc.want))
			}
		})
	}
}
