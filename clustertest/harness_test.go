package clustertest

import (
	"authrim/internal/freeport"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	adminToken   = "cluster-test-admin-token-0123456789"
	rpSecret     = "cluster-test-client-secret-0123456789abcdef"
	rpRedirect   = "http://127.0.0.1:9/cb"
	userPassword = "correct horse battery staple"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authrim-clustertest")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "authrim")
	if out, err := exec.Command("go", "build", "-o", bin, "authrim/cmd/authrim").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a process's log, safe to read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// member is one `authrim serve` process of a test cluster.
type member struct {
	name   string
	dir    string
	http   string // host:port
	actor  string
	peer   string
	client string
	cfg    string // config file
	bin    string // the binary to run, when not the test's build
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error // exit error, once exited is closed
}

func (m *member) url() string { return "http://" + m.http }

type testCluster struct {
	t       testing.TB
	root    string
	members []*member
	issuer  string
	certs   string
	backend string // etcd (default) or bbolt (one node)
	// rpExtra and extraConfig: see clusterOpts.
	rpExtra, extraConfig string
}

// newMember picks ports for a member named name (not started).
func (tc *testCluster) newMember(name string) *member {
	t := tc.t
	return &member{
		name: name, dir: filepath.Join(tc.root, name),
		http: freePort(t), actor: freePort(t), peer: freePort(t), client: freePort(t),
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startCluster starts n nodes with embedded etcd and mutual TLS, waits
// until all serve, and creates user alice.
func startCluster(t testing.TB, n int) *testCluster { return startNodes(t, n, "etcd") }

// startNodes is startCluster on a chosen storage backend (bbolt: one node).
func startNodes(t testing.TB, n int, backend string) *testCluster {
	return startWith(t, clusterOpts{nodes: n, backend: backend, staticPeers: true})
}

// clusterOpts shape a test cluster.
type clusterOpts struct {
	nodes   int
	backend string
	// staticPeers lists the others in cluster.peers; without it the
	// members find each other through the registry in etcd alone.
	staticPeers bool
	// certs makes certificates for this many nodes (at least nodes), so
	// that a test can add members later.
	certs int
	// issuer, when set, replaces the first node's URL (a proxy in front).
	issuer string
	// prepare: see startNodesWith.
	prepare func(tc *testCluster)
	// rpExtra are more keys of client rp (YAML lines indented 4 spaces);
	// extraConfig more top-level sections of every member's config.
	rpExtra, extraConfig string
}

// startNodesWith is startNodes with prepare run after the members' ports
// and directories are chosen and before their configs are written and
// they start (it may set tc.issuer and put files in place). With a
// prepare, no user is created: the nodes' data comes from prepare.
func startNodesWith(t testing.TB, n int, backend string, prepare func(tc *testCluster)) *testCluster {
	return startWith(t, clusterOpts{nodes: n, backend: backend, staticPeers: true, prepare: prepare})
}

func startWith(t testing.TB, o clusterOpts) *testCluster {
	t.Helper()
	root := t.TempDir()
	tc := &testCluster{t: t, root: root, certs: filepath.Join(root, "certs"), backend: o.backend, rpExtra: o.rpExtra, extraConfig: o.extraConfig}
	if out, err := exec.Command(bin, "cluster", "certs", "--nodes", fmt.Sprint(max(o.nodes, o.certs)), "--out", tc.certs).CombinedOutput(); err != nil {
		t.Fatalf("cluster certs: %v\n%s", err, out)
	}
	for i := 1; i <= o.nodes; i++ {
		tc.members = append(tc.members, tc.newMember(fmt.Sprintf("node%d", i)))
	}
	tc.issuer = "http://localhost:" + strings.Split(tc.members[0].http, ":")[1]
	if o.issuer != "" {
		tc.issuer = o.issuer
	}
	if o.prepare != nil {
		o.prepare(tc)
	}
	var initial []string
	for _, m := range tc.members {
		initial = append(initial, m.name+"=https://"+m.peer)
	}
	for _, m := range tc.members {
		var peers []string
		for _, other := range tc.members {
			if other != m && o.staticPeers {
				peers = append(peers, other.actor)
			}
		}
		tc.writeConfig(m, strings.Join(initial, ","), peers)
	}
	t.Cleanup(tc.stopAll)
	for _, m := range tc.members {
		tc.start(m)
	}
	for _, m := range tc.members {
		tc.waitReady(m, 90*time.Second)
	}
	if o.prepare != nil {
		return tc
	}
	tc.cli(tc.members[0], strings.NewReader(userPassword), "users", "add", "--username", "alice", "--password-stdin", "--email", "alice@example.com")
	return tc
}

func (tc *testCluster) writeConfig(m *member, initial string, peers []string) {
	tc.t.Helper()
	quoted := make([]string, len(peers))
	for i, p := range peers {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	cfg := fmt.Sprintf(`issuer: %s
http:
  listen: %s
storage:
  backend: %s
  dir: %s
  etcd:
    peer_listen: %s
    client_listen: %s
    initial_cluster: %s
admin:
  token: %s
keys:
  kek_file: %s
  algorithms: [RS256, ES256]
  # Short so that keys rotate promotes the next key at once.
  publish_ahead: 2s
  jwks_max_age: 1s
cluster:
  node_name: %s
  listen: %s
  peers: [%s]
  tls:
    ca: %s
    cert: %s
    key: %s
passwords:
  time: 2
  memory_kib: 19456
  threads: 1
rate_limit:
  enabled: false
clients:
  - id: rp
    secret: %s
    redirect_uris: [%s]
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token, "urn:ietf:params:oauth:grant-type:device_code"]
    skip_consent: true
%s%s`, tc.issuer, m.http, tc.backend, filepath.Join(m.dir, "data"), m.peer, m.client, initial, adminToken,
		filepath.Join(filepath.Dir(m.dir), "kek"), m.name, m.actor, strings.Join(quoted, ", "),
		filepath.Join(tc.certs, "ca.pem"), filepath.Join(tc.certs, m.name+".pem"), filepath.Join(tc.certs, m.name+"-key.pem"),
		rpSecret, rpRedirect, tc.rpExtra, tc.extraConfig)
	m.cfg = filepath.Join(filepath.Dir(m.dir), m.name+".yaml")
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		tc.t.Fatal(err)
	}
	if err := os.WriteFile(m.cfg, []byte(cfg), 0o600); err != nil {
		tc.t.Fatal(err)
	}
}

// setState sets storage.etcd.state in m's config (existing: join a
// running etcd cluster).
func (tc *testCluster) setState(m *member, state string) {
	tc.t.Helper()
	cfg, err := os.ReadFile(m.cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^(    initial_cluster: .*)$`).ReplaceAll(cfg, []byte("$1\n    state: "+state))
	if err := os.WriteFile(m.cfg, cfg, 0o600); err != nil {
		tc.t.Fatal(err)
	}
}

// start launches m's process (again, after a kill: same data dir).
func (tc *testCluster) start(m *member) {
	tc.t.Helper()
	if m.log == nil {
		m.log = &syncBuffer{}
	}
	fmt.Fprintf(m.log, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	m.cmd = exec.Command(cmp.Or(m.bin, bin), "serve", "--config", m.cfg)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.Env = append(os.Environ(), "AUTHRIM_CONFIG=")
	if err := m.cmd.Start(); err != nil {
		tc.t.Fatal(err)
	}
	m.exited = make(chan struct{})
	cmd, exited := m.cmd, m.exited
	go func() {
		m.err = cmd.Wait()
		close(exited)
	}()
}

func (tc *testCluster) waitReady(m *member, timeout time.Duration) {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-m.exited:
			tc.t.Fatalf("%s exited: %v\n%s", m.name, m.err, m.log)
		default:
		}
		resp, err := http.Get(m.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tc.t.Fatalf("%s not ready within %s\n%s", m.name, timeout, m.log)
}

// readyOrFenced waits for m to serve; false when it exited saying it was
// fenced (anything else is fatal).
func (tc *testCluster) readyOrFenced(m *member, timeout time.Duration) bool {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-m.exited:
			if strings.Contains(tail(m.log.String(), 5), "fenced") {
				return false
			}
			tc.t.Fatalf("%s exited: %v\n%s", m.name, m.err, m.log)
		default:
		}
		if resp, err := http.Get(m.url() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tc.t.Fatalf("%s not ready within %s\n%s", m.name, timeout, m.log)
	return false
}

func (tc *testCluster) kill(m *member) {
	tc.t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (tc *testCluster) stopAll() {
	for _, m := range tc.members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.exited:
			continue
		default:
		}
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			// Hung: a goroutine dump (SIGQUIT) goes to its log.
			_ = m.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-m.exited:
			case <-time.After(5 * time.Second):
				_ = m.cmd.Process.Kill()
				<-m.exited
			}
			tc.t.Errorf("%s did not stop within 10s of SIGTERM", m.name)
		}
	}
	if tc.t.Failed() {
		for _, m := range tc.members {
			// The whole log goes to a file that outlives the test.
			path := filepath.Join(os.TempDir(), "authrim-"+tc.t.Name()+"-"+m.name+".log")
			_ = os.WriteFile(path, []byte(m.log.String()), 0o644)
			tc.t.Logf("==== %s log (whole log in %s) ====\n%s", m.name, path, tail(m.log.String(), 40))
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// cli runs an admin command against m.
func (tc *testCluster) cli(m *member, stdin io.Reader, args ...string) string {
	tc.t.Helper()
	args = append(args, "--server", m.url(), "--admin-token", adminToken)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		tc.t.Fatalf("authrim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status is `authrim cluster status --json` asked of m.
type status struct {
	Node    string   `json:"node"`
	Members []string `json:"members"`
	Peers   []struct {
		Node  string `json:"node"`
		Alive bool   `json:"alive"`
	} `json:"peers"`
	KeyManagerNode string         `json:"key_manager_node"`
	DeliveryNode   string         `json:"delivery_node"`
	OutboxPending  int            `json:"outbox_pending"`
	Grains         map[string]int `json:"grains"`
	EtcdLeader     string         `json:"etcd_leader"`
	Etcd           []struct {
		Name    string `json:"name"`
		Healthy bool   `json:"healthy"`
	} `json:"etcd"`
}

func (tc *testCluster) status(m *member) status {
	tc.t.Helper()
	var st status
	if err := json.Unmarshal([]byte(tc.cli(m, nil, "cluster", "status", "--json")), &st); err != nil {
		tc.t.Fatal(err)
	}
	return st
}

func (tc *testCluster) byName(name string) *member {
	for _, m := range tc.members {
		if m.name == name {
			return m
		}
	}
	tc.t.Fatalf("no member %s", name)
	return nil
}

// ---- a browser and an RP, speaking plain HTTP to any node ----

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

type page struct {
	status int
	loc    *url.URL
	body   string
}

var inputRE = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

func do(b *http.Client, req *http.Request) (page, error) {
	resp, err := b.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(body)}
	if l := resp.Header.Get("Location"); l != "" {
		p.loc, _ = url.Parse(l)
	}
	return p, nil
}

func pkce() (verifier, challenge string) {
	verifier = "verifier-" + strings.Repeat("v", 40) + fmt.Sprint(time.Now().UnixNano())
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// signIn runs authorize + password login against m and returns the code
// and its PKCE verifier. The browser b keeps the session cookie.
func signIn(b *http.Client, tc *testCluster, m *member) (code, verifier string, err error) {
	verifier, challenge := pkce()
	v := url.Values{"client_id": {"rp"}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", m.url()+"/authorize?"+v.Encode(), nil)
	p, err := do(b, req)
	if err != nil {
		return "", "", err
	}
	if strings.Contains(p.body, `name="password"`) {
		f := url.Values{}
		for _, mm := range inputRE.FindAllStringSubmatch(p.body, -1) {
			f.Set(mm[1], html.UnescapeString(mm[2]))
		}
		f.Set("username", "alice")
		f.Set("password", userPassword)
		req, _ := http.NewRequest("POST", m.url()+"/login", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p, err = do(b, req); err != nil {
			return "", "", err
		}
	}
	if p.status != http.StatusFound || p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) {
		return "", "", fmt.Errorf("sign-in on %s: %d %v %s", m.name, p.status, p.loc, p.body)
	}
	return p.loc.Query().Get("code"), verifier, nil
}

// tokenReq posts a token request as client rp to m.
func tokenReq(ctx context.Context, m *member, v url.Values) (int, map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", m.url()+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", rpSecret)
	return doJSON(req)
}

func redeem(m *member, code, verifier string) (int, map[string]any, error) {
	return tokenReq(context.Background(), m, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpRedirect}, "code_verifier": {verifier}})
}

func refresh(m *member, rt string) (int, map[string]any, error) {
	return tokenReq(context.Background(), m, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func userinfo(m *member, at string) (int, map[string]any, error) {
	req, _ := http.NewRequest("GET", m.url()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	return doJSON(req)
}

func jwks(m *member) (string, error) {
	resp, err := http.Get(m.url() + "/.well-known/jwks.json")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// doJSON sends req and decodes the JSON answer (if any).
func doJSON(req *http.Request) (int, map[string]any, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}
