// Package container tests the container image: the Containerfile at the
// repository root, built and run with Debian's podman.
package container

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"authrim/internal/eventually"
	"authrim/internal/freeport"
)

// uid is the image's numeric user (Containerfile: USER 65532:65532).
const uid = 65532

// caBundle is where Debian's ca-certificates package keeps the bundle the
// image ships.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// podman runs podman on a storage of the test's own, so a run neither
// sees nor leaves images and containers of anyone else on the machine.
type podman struct {
	t    *testing.T
	base []string
}

// newPodman picks flags that work on a plain root shell without systemd:
// vfs storage (no overlay mounts), cgroupfs, events in a file. runc rather
// than crun when it is installed: Debian 12's crun refuses hosts whose
// cgroup v2 hierarchy has controllers next to v1 ("hybrid mode").
func newPodman(t *testing.T, bin string) *podman {
	dir, err := os.MkdirTemp("", "authrim-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	base := []string{bin,
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	if _, err := exec.LookPath("runc"); err == nil {
		base = append(base, "--runtime", "runc")
	}
	return &podman{t: t, base: base}
}

// run runs podman with args and returns its stdout, or an error with its
// stderr.
func (p *podman) run(args ...string) (string, error) {
	cmd := exec.Command(p.base[0], append(slices.Clone(p.base[1:]), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// requirePodman skips the test when podman is not installed, or fails it
// under CI, whose .ci/run installs it.
func requirePodman(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("podman is missing (%v): CI must install Debian's podman, buildah and runc packages (see .ci/run)", err)
		}
		t.Skipf("podman is not installed (%v): apt-get install podman buildah runc to run the image test", err)
	}
	return bin
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// staticBinary builds authrim as make image does, once per test run.
func staticBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "authrim-image-"); buildErr != nil {
			return
		}
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(binDir, "authrim"), "./cmd/authrim")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "authrim")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildContext prepares what `make image` prepares in bin/image: a
// static, stripped binary, the CA bundle, the image's config and an
// empty data directory.
func buildContext(t *testing.T) string {
	t.Helper()
	ctx := t.TempDir()
	if err := os.Mkdir(filepath.Join(ctx, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{staticBinary(t): "authrim", caBundle: "ca-certificates.crt", "config.yaml": "config.yaml"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("build context: %v (the CA bundle comes from Debian's ca-certificates package)", err)
		}
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return ctx
}

// TestStaticBinary: a FROM scratch image has no dynamic loader and no
// libc, so the binary must ask for neither.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	f, err := elf.Open(staticBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (program header %v)", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary is not stripped (-ldflags -s)")
	}
}

// TestImageServes builds the image from the Containerfile and runs it the
// way an operator would: port published on loopback, a named volume on
// /data, configuration through AUTHRIM_* variables. The node must serve
// discovery, run as the image's non-root user, keep its data (KEK and
// store) in the volume across a new container, stop cleanly on SIGTERM,
// and answer its HEALTHCHECK.
func TestImageServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	bin := requirePodman(t)
	p := newPodman(t, bin)
	ctx := buildContext(t)

	tag := fmt.Sprintf("localhost/authrim-test:%d", os.Getpid())
	p.must("build", "--format", "docker", "-f", "../../Containerfile", "-t", tag, ctx)
	t.Cleanup(func() { p.run("rmi", "-f", tag) })

	var images []struct {
		Config struct {
			User       string
			Entrypoint []string
			Volumes    map[string]struct{}
		}
		Healthcheck struct {
			Test []string
		}
	}
	inspect := p.must("image", "inspect", tag)
	if err := json.Unmarshal([]byte(inspect), &images); err != nil || len(images) != 1 {
		t.Fatalf("image inspect: %v\n%s", err, inspect)
	}
	cfg := images[0]
	if cfg.Config.User != fmt.Sprintf("%d:%d", uid, uid) {
		t.Errorf("image user %q, want %d:%d", cfg.Config.User, uid, uid)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/authrim", "serve"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if _, ok := cfg.Config.Volumes["/data"]; !ok {
		t.Errorf("no /data volume: %v", cfg.Config.Volumes)
	}
	if len(cfg.Healthcheck.Test) < 2 || cfg.Healthcheck.Test[1] != "/authrim" {
		t.Errorf("healthcheck %q, want the authrim binary (no shell in the image)", cfg.Healthcheck.Test)
	}

	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	issuer := fmt.Sprintf("http://localhost:%d", port)
	volume := fmt.Sprintf("authrim-test-data-%d", os.Getpid())
	name := fmt.Sprintf("authrim-test-%d", os.Getpid())
	t.Cleanup(func() { p.run("volume", "rm", "-f", volume) })

	// Explicit limits: podman's defaults (nofile 1048576) exceed the hard
	// limit of a host without CAP_SYS_RESOURCE, and then nothing starts.
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	// start runs the image with the node on containerPort (8080 is the
	// image's own http.listen; another is set through AUTHRIM_HTTP_LISTEN).
	start := func(containerPort int) {
		t.Helper()
		_, err := p.run("run", "-d", "--name", name,
			"-p", fmt.Sprintf("127.0.0.1:%d:%d", port, containerPort),
			"-e", fmt.Sprintf("AUTHRIM_HTTP_LISTEN=0.0.0.0:%d", containerPort),
			"-v", volume+":/data",
			"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur), "--ulimit", "nproc=4096:4096",
			"-e", "AUTHRIM_ISSUER="+issuer,
			"-e", "AUTHRIM_PASSWORDS_TIME=2", "-e", "AUTHRIM_PASSWORDS_MEMORY_KIB=19456", "-e", "AUTHRIM_PASSWORDS_THREADS=1",
			tag)
		if err != nil {
			// The one step that needs the container runtime itself
			// (namespaces, cgroups, the OCI runtime).
			if os.Getenv("CI") != "" {
				t.Fatalf("the container runtime cannot run a container here: %v", err)
			}
			t.Skipf("the container runtime cannot run a container on this machine, so the image is built but not run: %v", err)
		}
		t.Cleanup(func() { p.run("rm", "-f", "-t", "0", name) })
		logs := func() string { out, _ := p.run("logs", name); return out }
		eventually.OK(t, 90*time.Second, "the container serves /healthz", func() error {
			if st, _ := p.run("inspect", "--format", "{{.State.Status}}", name); st == "exited" {
				t.Fatalf("the container exited:\n%s", logs())
			}
			return get(base+"/healthz", nil)
		})
	}
	start(8080)

	var disco struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := get(base+"/.well-known/openid-configuration", &disco); err != nil {
		t.Fatal(err)
	}
	if disco.Issuer != issuer {
		t.Errorf("issuer %q, want %q (AUTHRIM_ISSUER)", disco.Issuer, issuer)
	}
	kids := jwksKids(t, base)

	// The HEALTHCHECK the image declares, as the runtime runs it, and the
	// same command by hand.
	p.must("healthcheck", "run", name)
	p.must("exec", name, "/authrim", "healthcheck")
	if _, err := p.run("exec", name, "/authrim", "healthcheck", "--url", "http://127.0.0.1:8080/no-such-path"); err == nil {
		t.Error("healthcheck exits 0 on a 404")
	}
	// FROM scratch: nothing but the binary to run.
	if _, err := p.run("exec", name, "/bin/sh", "-c", "true"); err == nil {
		t.Error("the image has a shell")
	}

	// The node's process runs as the image's user, not root.
	pid := p.must("inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
			for _, id := range f[1:] {
				if id != fmt.Sprint(uid) {
					t.Errorf("the node runs with %s, want %d everywhere", line, uid)
				}
			}
		}
	}

	// The store and the KEK are in the volume, owned by that user; the KEK
	// readable by it alone.
	mount := p.must("volume", "inspect", "--format", "{{.Mountpoint}}", volume)
	kek, err := os.Stat(filepath.Join(mount, "kek"))
	if err != nil {
		t.Fatalf("no KEK in the /data volume: %v", err)
	}
	if kek.Mode().Perm() != 0o600 || kek.Sys().(*syscall.Stat_t).Uid != uid {
		t.Errorf("kek: mode %v uid %d, want 0600 and %d", kek.Mode().Perm(), kek.Sys().(*syscall.Stat_t).Uid, uid)
	}
	entries, err := os.ReadDir(mount)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Errorf("the volume holds only %v: the store is elsewhere", entries)
	}

	// SIGTERM (podman stop) ends the node cleanly; a new container on the
	// same volume has the same keys.
	p.must("stop", "-t", "60", name)
	if code := p.must("inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		logs, _ := p.run("logs", name)
		t.Errorf("exit code %s after SIGTERM, want 0:\n%s", code, logs)
	}
	p.must("rm", name)
	// On another port, the HEALTHCHECK follows http.listen.
	start(8181)
	if again := jwksKids(t, base); !slices.Equal(again, kids) {
		t.Errorf("keys after a new container: %v, want %v", again, kids)
	}
	p.must("healthcheck", "run", name)
}

// get GETs u and, with out non-nil, decodes its JSON answer.
func get(u string, out any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errors.Join(fmt.Errorf("GET %s", u), err)
	}
	return nil
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := get(base+"/.well-known/jwks.json", &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	if len(kids) == 0 {
		t.Fatal("empty JWKS")
	}
	return kids
}
