package chartcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// podman runs podman on storage and network configuration of the test's
// own (see deploy/container/image_test.go for why these flags).
type podman struct {
	t    *testing.T
	base []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("podman is missing (%v): CI must install Debian's podman, buildah and runc packages (see .ci/run)", err)
		}
		t.Skipf("podman is not installed (%v): apt-get install podman buildah runc to run the pods test", err)
	}
	dir, err := os.MkdirTemp("", "authrim-pods-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	base := []string{bin,
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
		"--network-config-dir", filepath.Join(dir, "net"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	if _, err := exec.LookPath("runc"); err == nil {
		base = append(base, "--runtime", "runc")
	}
	return &podman{t: t, base: base}
}

func (p *podman) run(args ...string) (string, error) {
	cmd := exec.Command(p.base[0], append(slices.Clone(p.base[1:]), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// logs returns a container's output, stdout and stderr together.
func (p *podman) logs(name string) string {
	b, _ := exec.Command(p.base[0], append(slices.Clone(p.base[1:]), "logs", name)...).CombinedOutput()
	return string(b)
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// writeSecretDir writes files as the kubelet mounts a Secret into a pod
// with fsGroup 65532: owned by root, group 65532, mode 0440.
func writeSecretDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o440); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, uid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestChartInContainers runs the chart's three members as the StatefulSet
// would, with podman standing in for Kubernetes: the image, the rendered
// ConfigMap, each pod's environment, the Secrets mounted read-only in
// group 65532 (the KEK and the documented cluster certificates), one
// volume per member on /data, a read-only root, no capabilities, pod IPs
// on a network of their own and the peer DNS names in /etc/hosts. The
// members must form their etcd cluster over mutual TLS by those names and
// serve as one store: what one member's admin API writes, another reads,
// through the CLI run in the container as `kubectl exec` would.
func TestChartInContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and runs three containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: rootful podman with static addresses and root-owned Secret files")
	}
	p := newPodman(t)
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte("admin:\n  token: a-token-for-the-pods-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, vf)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	sts := m.statefulSets[0]
	replicas := int(*sts.Spec.Replicas)

	// The image, as make image builds it.
	ctx := t.TempDir()
	if err := os.Mkdir(filepath.Join(ctx, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(ctx, "authrim"), "./cmd/authrim")
	build.Dir = "../../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	for src, dst := range map[string]string{"/etc/ssl/certs/ca-certificates.crt": "ca-certificates.crt", "../../container/config.yaml": "config.yaml"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tag := fmt.Sprintf("localhost/authrim-pods-test:%d", os.Getpid())
	p.must("build", "--format", "docker", "-f", "../../../Containerfile", "-t", tag, ctx)
	// Registered before the containers' cleanups so that it runs after
	// them: rmi -f would remove the containers, and their logs, first.
	t.Cleanup(func() { p.run("rmi", "-f", tag) })

	// The Secrets, as docs/DEPLOY-container.md makes them.
	var hosts []string
	for i := range replicas {
		hosts = append(hosts, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", sts.Name, i, sts.Spec.ServiceName, namespace))
	}
	certs := t.TempDir()
	if b, err := exec.Command(authrimBinary(t), "cluster", "certs", "--nodes", fmt.Sprint(replicas), "--out", certs, "--hosts", strings.Join(hosts, ",")).CombinedOutput(); err != nil {
		t.Fatalf("cluster certs: %v\n%s", err, b)
	}
	tlsFiles := map[string][]byte{}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(certs, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tlsFiles["ca.pem"] = read("ca.pem")
	for i := range replicas {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		tlsFiles[pod+".pem"] = read(fmt.Sprintf("node%d.pem", i+1))
		tlsFiles[pod+"-key.pem"] = read(fmt.Sprintf("node%d-key.pem", i+1))
	}
	tlsDir := writeSecretDir(t, tlsFiles)
	// kubectl create secret ... --from-literal=kek="$(openssl rand -hex 32)"
	kekDir := writeSecretDir(t, map[string][]byte{"kek": []byte(strings.Repeat("5a", 32))})
	configFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configFile, []byte(m.configMaps[0].Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, vm := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}

	network := fmt.Sprintf("authrim-pods-%d", os.Getpid())
	if _, err := p.run("network", "create", "--subnet", "10.89.77.0/24", network); err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() { p.run("network", "rm", "-f", network) })
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}

	names := make([]string, replicas)
	for i := range replicas {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		names[i] = pod
		args := []string{"run", "-d", "--name", pod, "--hostname", pod,
			"--network", network, "--ip", podIP(i),
			"--user", fmt.Sprintf("%d:%d", uid, uid), "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
			"--tmpfs", "/tmp",
			"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur), "--ulimit", "nproc=4096:4096",
			"-v", fmt.Sprintf("%s-data:%s", pod, mounts["data"]),
			"-v", configFile + ":" + mounts["config"] + ":ro",
			"-v", kekDir + ":" + mounts["kek"] + ":ro",
			"-v", tlsDir + ":" + mounts["cluster-tls"] + ":ro",
		}
		for j, h := range hosts {
			args = append(args, "--add-host", h+":"+podIP(j))
		}
		env := podEnv(t, m, i)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range env {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			args = append(args, "-e", k+"="+env[k])
		}
		args = append(args, tag)
		if _, err := p.run(args...); err != nil {
			skipOrFail(t, err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s's log:\n%s", pod, p.logs(pod))
			}
			p.run("rm", "-f", "-t", "0", pod)
			p.run("volume", "rm", "-f", pod+"-data")
		})
	}

	// Every member becomes ready: its etcd member found a quorum over
	// TLS by the peer names.
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	for i, pod := range names {
		for {
			resp, err := client.Get("http://" + podIP(i) + ":8080/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if st, _ := p.run("inspect", "--format", "{{.State.Status}}", pod); st == "exited" {
				t.Fatalf("%s exited", pod)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not ready after 3 minutes (last: %v)", pod, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The image's HEALTHCHECK finds the chart's http.listen.
		p.must("healthcheck", "run", pod)
	}

	// The etcd members, as one of them reports them: every one, healthy.
	var status struct {
		Etcd []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
			Error   string `json:"error"`
		} `json:"etcd"`
	}
	adminURL := "http://127.0.0.1:8081"
	raw := p.must("exec", names[0], "/authrim", "cluster", "status", "--json", "--server", adminURL)
	if err := json.Unmarshal([]byte(raw), &status); err != nil {
		t.Fatalf("cluster status: %v\n%s", err, raw)
	}
	var healthy []string
	for _, e := range status.Etcd {
		if e.Healthy {
			healthy = append(healthy, e.Name)
		}
	}
	slices.Sort(healthy)
	if !slices.Equal(healthy, names) {
		t.Errorf("healthy etcd members %v, want %v:\n%s", healthy, names, raw)
	}

	// One store: a user added through the first member is there on the
	// last.
	add := exec.Command(p.base[0], append(slices.Clone(p.base[1:]), "exec", "-i", names[0], "/authrim", "users", "add",
		"--username", "alice", "--email", "alice@example.com", "--password-stdin", "--server", adminURL)...)
	add.Stdin = strings.NewReader("a long enough password for her\n")
	if b, err := add.CombinedOutput(); err != nil {
		t.Fatalf("users add: %v\n%s", err, b)
	}
	if shown := p.must("exec", names[replicas-1], "/authrim", "users", "show", "alice", "--server", adminURL); !strings.Contains(shown, "alice@example.com") {
		t.Errorf("users show on %s: %s", names[replicas-1], shown)
	}
}

// skipOrFail: the container runtime itself cannot run here. Under CI,
// whose machine must run it, that fails the test.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("the container runtime cannot run the pods here: %v", err)
	}
	t.Skipf("the container runtime cannot run containers on this machine: %v", err)
}
