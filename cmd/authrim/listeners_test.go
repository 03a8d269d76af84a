package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// listeningPorts lists the TCP ports process pid listens on: the sockets
// among its open files that /proc/net/tcp{,6} shows in state LISTEN.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(rest, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ... uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			_, portHex, _ := strings.Cut(fields[1], ":")
			p, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ports, int(p)) {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	slices.Sort(ports)
	return ports
}

// A single node opens no actor transport: any local user could otherwise
// ask its Crypto pool to sign tokens. Its only listeners are the ones the
// operator configured.
func TestSingleNodeListensOnlyWhereConfigured(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	httpPort, metricsPort, adminPort := freePort(t), freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	p := startServe(t, bin, base, []string{
		"AUTHRIM_STORAGE_DIR=" + dir,
		"AUTHRIM_KEYS_KEK_FILE=" + filepath.Join(dir, "kek"),
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", httpPort),
		fmt.Sprintf("AUTHRIM_METRICS_LISTEN=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("AUTHRIM_ADMIN_LISTEN=127.0.0.1:%d", adminPort),
		"AUTHRIM_ADMIN_TOKEN=listener-test-admin-token",
	})
	want := []int{httpPort, metricsPort, adminPort}
	slices.Sort(want)
	if got := listeningPorts(t, p.cmd.Process.Pid); !slices.Equal(got, want) {
		t.Fatalf("listening on %v, want only http, metrics and admin %v\n%s", got, want, p.stderr)
	}
}
