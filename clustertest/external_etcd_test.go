package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authrim/persistence/etcd"
)

// A node on an existing etcd cluster (storage.etcd.embed: false): the
// etcd member runs in the test, the node is a real `authrim serve`
// process whose state (keys, users, sessions, grants) lives in it.
func TestNodeOnExistingEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// etcd storage needs cluster.tls: the external cluster's members and
	// the node share a CA.
	certs := t.TempDir()
	if out, err := exec.Command(bin, "cluster", "certs", "--nodes", "2", "--out", certs).CombinedOutput(); err != nil {
		t.Fatalf("cluster certs: %v\n%s", err, out)
	}
	pem := func(name string) string { return filepath.Join(certs, name) }
	em, err := etcd.StartMember(ctx, etcd.MemberConfig{
		Name: "external", Dir: filepath.Join(t.TempDir(), "etcd"), PeerListen: freePort(t), ClientListen: freePort(t),
		TLS: &etcd.TLSFiles{CA: pem("ca.pem"), Cert: pem("node2.pem"), Key: pem("node2-key.pem")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	tc := &testCluster{t: t, backend: "etcd"}
	m := &member{name: "node1", dir: filepath.Join(t.TempDir(), "node1"), http: freePort(t), actor: freePort(t)}
	tc.members = []*member{m}
	tc.issuer = "http://localhost:" + strings.Split(m.http, ":")[1]
	m.cfg = filepath.Join(filepath.Dir(m.dir), "node1.yaml")
	cfg := fmt.Sprintf(`issuer: %s
http:
  listen: %s
storage:
  backend: etcd
  dir: %s
  etcd:
    embed: false
    endpoints: [%s]
admin:
  token: %s
keys:
  kek_file: %s
cluster:
  listen: %s
  tls:
    ca: %s
    cert: %s
    key: %s
passwords:
  time: 2
  memory_kib: 19456
  threads: 1
clients:
  - id: rp
    secret: %s
    redirect_uris: [%s]
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    skip_consent: true
`, tc.issuer, m.http, filepath.Join(m.dir, "data"), em.Endpoint(), adminToken,
		filepath.Join(m.dir, "kek"), m.actor, pem("ca.pem"), pem("node1.pem"), pem("node1-key.pem"), rpSecret, rpRedirect)
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.stopAll)
	tc.start(m)
	tc.waitReady(m, 60*time.Second)
	tc.cli(m, stringsReader(userPassword), "users", "add", "--username", "alice", "--password-stdin", "--email", "alice@example.com")
	if st := tc.status(m); len(st.Etcd) != 1 || st.Etcd[0].Name != "external" || st.KeyManagerNode != "node1" {
		t.Fatalf("status: %+v", st)
	}
	b := newBrowser()
	code, verifier, err := signIn(b, tc, m)
	if err != nil {
		t.Fatal(err)
	}
	status, tok, err := redeem(m, code, verifier)
	if err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v %v", status, tok, err)
	}
	if status, info, err := userinfo(m, tok["access_token"].(string)); err != nil || status != http.StatusOK || info["email"] != "alice@example.com" {
		t.Fatalf("userinfo: %d %v %v", status, info, err)
	}
	// Restarted, the node finds everything in etcd: keys, user, grant.
	_ = m.cmd.Process.Signal(os.Interrupt)
	<-m.exited
	tc.start(m)
	tc.waitReady(m, 60*time.Second)
	if status, _, err := refresh(m, tok["refresh_token"].(string)); err != nil || status != http.StatusOK {
		t.Fatalf("refresh after restart: %d %v", status, err)
	}
	verifyIDToken(t, m, tok["id_token"].(string))
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
