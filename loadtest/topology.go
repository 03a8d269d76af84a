package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// TopologyLocalEtcd is `local` on the cluster's storage: two nodes with
// embedded etcd members, front ends on node A signing through A's own
// pool. It is the baseline of the remote and roles rows, so that the
// cost of etcd (and of Session grains placed on the other member) is in
// both sides of their comparison and the difference is the hop alone.
const TopologyLocalEtcd = "local-etcd"

// CompareEndpoints are measured by the topology comparison unless
// --endpoints names others: the endpoints that sign or verify (discovery
// and JWKS serve precomputed bytes and do not touch the Crypto pool).
var CompareEndpoints = []string{"authorize", "token-code-es256", "token-code-rs256", "token-refresh", "userinfo", "introspection"}

// clusterUnsupported are endpoints a cluster topology does not measure:
// their items are seeded into a stopped node's bbolt file.
var clusterUnsupported = []string{"login-passkey", "revocation"}

// Topology describes one deployment of the comparison.
type Topology struct {
	Name string `json:"name"`
	// What it is, for the report.
	What string `json:"what"`
	// Nodes is the number of processes; Storage their store.
	Nodes   int    `json:"nodes"`
	Storage string `json:"storage"`
	// Driven says which node serves which requests of the load.
	Driven string `json:"driven"`
}

var topologyInfo = map[string]Topology{
	TopologyInline: {Name: TopologyInline, Nodes: 1, Storage: "bbolt", Driven: "the node",
		What: "one node, crypto.mode inline: front ends sign and verify on the request goroutine"},
	TopologyLocal: {Name: TopologyLocal, Nodes: 1, Storage: "bbolt", Driven: "the node",
		What: "one node, crypto.mode local: front ends -> this node's Crypto actor pool"},
	TopologyLocalEtcd: {Name: TopologyLocalEtcd, Nodes: 2, Storage: "etcd (2 embedded members)", Driven: "A",
		What: "two nodes, crypto.mode local on A: the remote/roles baseline on the same storage"},
	TopologyRemote: {Name: TopologyRemote, Nodes: 2, Storage: "etcd (2 embedded members)", Driven: "A",
		What: "two nodes, A's front ends sign and verify through B's Crypto pool (crypto.mode remote)"},
	TopologyRoles: {Name: TopologyRoles, Nodes: 2, Storage: "etcd (2 embedded members)", Driven: "auth, introspection at A; token, userinfo at B",
		What: "two nodes: A serves discovery, auth, management; B serves token, userinfo"},
}

// TopologySummary is one topology's measured endpoints.
type TopologySummary struct {
	Topology
	// Sessions signed in before the windows (HTTP flows on a cluster).
	Sessions  int       `json:"sessions"`
	SeedSecs  float64   `json:"seed_seconds"`
	Endpoints []Summary `json:"endpoints"`
	// Memory of each node at its end (A first).
	Memory []Memory `json:"memory"`
}

// Hop is what one step between topologies adds to an endpoint.
type Hop struct {
	Endpoint string `json:"endpoint"`
	Hop      string `json:"hop"`
	From     string `json:"from"`
	To       string `json:"to"`
	// Deltas of To minus From (medians).
	P50ms float64 `json:"p50_ms_added"`
	P99ms float64 `json:"p99_ms_added"`
	CPUus float64 `json:"cpu_us_added"`
	// CPUPct is CPUus relative to From's CPU per request.
	CPUPct float64 `json:"cpu_percent_added"`
}

// hopSteps are the comparisons the report makes, in order.
var hopSteps = []struct{ name, from, to string }{
	{"actor hop", TopologyInline, TopologyLocal},
	{"storage (bbolt -> 2-member etcd)", TopologyLocal, TopologyLocalEtcd},
	{"network hop", TopologyLocalEtcd, TopologyRemote},
	{"roles split", TopologyLocalEtcd, TopologyRoles},
}

// comparePlan is the topologies measured for the requested ones: local
// on etcd joins as the baseline when remote or roles is asked for.
func comparePlan(req []string) []string {
	var out []string
	for _, t := range []string{TopologyInline, TopologyLocal, TopologyLocalEtcd, TopologyRemote, TopologyRoles} {
		want := slices.Contains(req, t)
		if t == TopologyLocalEtcd && (slices.Contains(req, TopologyRemote) || slices.Contains(req, TopologyRoles)) {
			want = true
		}
		if want {
			out = append(out, t)
		}
	}
	return out
}

// Hops compares the topologies' medians endpoint by endpoint.
func Hops(tops []TopologySummary) []Hop {
	by := map[string]map[string]Summary{}
	var order []string
	for _, t := range tops {
		by[t.Name] = map[string]Summary{}
		for _, e := range t.Endpoints {
			by[t.Name][e.Endpoint] = e
			if !slices.Contains(order, e.Endpoint) {
				order = append(order, e.Endpoint)
			}
		}
	}
	var out []Hop
	for _, ep := range order {
		for _, st := range hopSteps {
			f, ok1 := by[st.from][ep]
			t, ok2 := by[st.to][ep]
			if !ok1 || !ok2 {
				continue
			}
			h := Hop{Endpoint: ep, Hop: st.name, From: st.from, To: st.to,
				P50ms: t.P50ms - f.P50ms, P99ms: t.P99ms - f.P99ms, CPUus: t.CPUus - f.CPUus}
			if f.CPUus > 0 {
				h.CPUPct = 100 * h.CPUus / f.CPUus
			}
			out = append(out, h)
		}
	}
	return out
}

// runTopologies measures the comparison: each topology on fresh nodes.
func runTopologies(ctx context.Context, o Options, dir string, progress func(string, ...any)) ([]TopologySummary, error) {
	names := o.Endpoints
	if names == nil {
		names = CompareEndpoints
	}
	var out []TopologySummary
	for _, topo := range comparePlan(o.Topologies) {
		t, err := runTopology(ctx, o, filepath.Join(dir, topo), topo, names, progress)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", topo, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func runTopology(ctx context.Context, o Options, dir, topo string, names []string, progress func(string, ...any)) (TopologySummary, error) {
	ts := TopologySummary{Topology: topologyInfo[topo]}
	var n *Node
	var err error
	t0 := time.Now()
	if ts.Nodes == 1 {
		const browser, codes, refresh, tokens = 10000, 4000, 4000, 1000
		total := browser + codes + refresh + tokens
		progress("%s: starting one node, seeding %d sessions", topo, total)
		o.nodeEnv = []string{"AUTHRIM_CRYPTO_MODE=" + topo}
		n, _, err = StartNode(ctx, o, dir, total)
		if err != nil {
			return ts, err
		}
		n.browser, n.codes = span{0, browser}, span{browser, codes}
		n.refresh, n.tokens = span{browser + codes, refresh}, span{browser + codes + refresh, tokens}
		n.revoke = span{0, 0}
	} else {
		progress("%s: starting two nodes (etcd), signing in %d sessions over HTTP", topo, o.ClusterSessions)
		n, err = startCluster(ctx, o, dir, topo)
		if err != nil {
			return ts, err
		}
	}
	defer n.Stop()
	n.Topology = topo
	ts.Sessions, ts.SeedSecs = n.stored(), time.Since(t0).Seconds()
	progress("%s: ready in %.1fs", topo, ts.SeedSecs)

	var eps []Endpoint
	for _, e := range n.Endpoints() {
		if !slices.Contains(names, e.Name) {
			continue
		}
		if (ts.Nodes > 1 || e.Name == "revocation") && slices.Contains(clusterUnsupported, e.Name) {
			progress("%s: %s is measured on the single-node table only", topo, e.Name)
			continue
		}
		eps = append(eps, e)
	}
	runs, err := measureRuns(ctx, n, eps, o, topo+" ", progress)
	if err != nil {
		return ts, err
	}
	for _, e := range eps {
		ts.Endpoints = append(ts.Endpoints, summarize(e, runs[e.Name]))
	}
	for _, p := range n.procs() {
		m, _ := p.Memory()
		ts.Memory = append(ts.Memory, m)
	}
	return ts, nil
}

// measureRuns measures each endpoint o.Runs times, endpoints interleaved.
func measureRuns(ctx context.Context, n *Node, eps []Endpoint, o Options, label string, progress func(string, ...any)) (map[string][]Result, error) {
	runs := map[string][]Result{}
	for run := 1; run <= o.Runs; run++ {
		for _, e := range eps {
			r, err := n.measureQuiet(ctx, e, o, progress)
			if err != nil {
				return nil, fmt.Errorf("%w\nnode output:\n%s", err, n.output(2000))
			}
			r.Run = run
			runs[e.Name] = append(runs[e.Name], r)
			progress("%srun %d/%d %-26s %8.0f req/s  p99 %7.2f ms  cpu %8.1f µs/req  heap %5.0f MB  errors %d  other load %.2f cores%s",
				label, run, o.Runs, e.Name, r.Rate, r.P99ms, r.CPUus, r.HeapMB, r.Errors, r.OtherCores, exhaustedNote(r))
		}
	}
	return runs, nil
}

// output is the tail of every node's log.
func (n *Node) output(max int) string {
	var b strings.Builder
	for i, p := range n.procs() {
		if len(n.procs()) > 1 {
			fmt.Fprintf(&b, "---- node %c\n", 'A'+i)
		}
		b.WriteString(tail(p.Output(), max))
	}
	return b.String()
}

// startCluster starts two nodes with embedded etcd members and mutual
// TLS, as docs/CLUSTER.md describes, configured for topo; registers the
// bench's users and clients through A's admin API and signs in
// o.ClusterSessions sessions through real HTTP flows (password sign-in at
// the auth node, code redeemed at the token node).
func startCluster(ctx context.Context, o Options, dir, topo string) (*Node, error) {
	certs := filepath.Join(dir, "certs")
	if out, err := exec.CommandContext(ctx, o.Bin, "cluster", "certs", "--nodes", "2", "--out", certs).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("loadtest: cluster certs: %v\n%s", err, out)
	}
	type member struct {
		name                string
		http, metrics       int
		actor, peer, client string
	}
	free := func() (string, error) {
		p, err := FreePort()
		return fmt.Sprintf("127.0.0.1:%d", p), err
	}
	var ms []member
	var initial []string
	for i := 1; i <= 2; i++ {
		m := member{name: fmt.Sprintf("node%d", i)}
		var err error
		if m.http, err = FreePort(); err != nil {
			return nil, err
		}
		if m.metrics, err = FreePort(); err != nil {
			return nil, err
		}
		for _, p := range []*string{&m.actor, &m.peer, &m.client} {
			if *p, err = free(); err != nil {
				return nil, err
			}
		}
		ms = append(ms, m)
		initial = append(initial, m.name+"=https://"+m.peer)
	}
	// The members share one KEK file, written here before either starts:
	// two nodes creating it at once can race (one reads the file the
	// other has created but not yet written).
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	if err := os.WriteFile(filepath.Join(dir, "kek"), []byte(hex.EncodeToString(kek)+"\n"), 0o600); err != nil {
		return nil, err
	}
	issuer := fmt.Sprintf("http://localhost:%d", ms[0].http)
	token := randomToken()
	cfgs := make([]ServerConfig, len(ms))
	for i, m := range ms {
		peer := ms[1-i].actor
		env := []string{
			"AUTHRIM_ISSUER=" + issuer,
			"AUTHRIM_STORAGE_BACKEND=etcd",
			"AUTHRIM_STORAGE_ETCD_EMBED=true",
			"AUTHRIM_STORAGE_ETCD_PEER_LISTEN=" + m.peer,
			"AUTHRIM_STORAGE_ETCD_CLIENT_LISTEN=" + m.client,
			"AUTHRIM_STORAGE_ETCD_INITIAL_CLUSTER=" + strings.Join(initial, ","),
			"AUTHRIM_STORAGE_ETCD_STATE=new",
			"AUTHRIM_KEYS_KEK_FILE=" + filepath.Join(dir, "kek"),
			"AUTHRIM_CLUSTER_NODE_NAME=" + m.name,
			"AUTHRIM_CLUSTER_LISTEN=" + m.actor,
			"AUTHRIM_CLUSTER_PEERS=" + peer,
			"AUTHRIM_CLUSTER_TLS_CA=" + filepath.Join(certs, "ca.pem"),
			"AUTHRIM_CLUSTER_TLS_CERT=" + filepath.Join(certs, m.name+".pem"),
			"AUTHRIM_CLUSTER_TLS_KEY=" + filepath.Join(certs, m.name+"-key.pem"),
			// Sign-ins are seeding here, not measured: the cheapest hash
			// a node accepts (OWASP's minimum) keeps a thousand of them to
			// seconds.
			"AUTHRIM_PASSWORDS_TIME=2", "AUTHRIM_PASSWORDS_MEMORY_KIB=19456", "AUTHRIM_PASSWORDS_THREADS=1",
		}
		if i == 0 {
			switch topo {
			case TopologyRemote:
				env = append(env, "AUTHRIM_CRYPTO_MODE=remote", "AUTHRIM_CRYPTO_REMOTE="+peer)
			case TopologyRoles:
				env = append(env, "AUTHRIM_ROLES=discovery,auth,management")
			}
		} else if topo == TopologyRoles {
			env = append(env, "AUTHRIM_ROLES=token,userinfo")
		}
		cfgs[i] = ServerConfig{Bin: o.Bin, ConfigFile: o.ConfigFile, Dir: filepath.Join(dir, m.name), Port: m.http, MetricsPort: m.metrics,
			AdminToken: token, Env: env, Log: o.NodeLog}
		if err := os.MkdirAll(cfgs[i].Dir, 0o700); err != nil {
			return nil, err
		}
	}
	// A new cluster's members start together: etcd waits for its
	// initial members before either node is ready.
	srvs := make([]*Server, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() { srvs[i], errs[i] = o.Launch(ctx, cfgs[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range srvs {
			_ = s.Stop()
		}
		return nil, err
	}
	for _, s := range srvs {
		s.Issuer = issuer
	}
	a, b := srvs[0], srvs[1]
	n := &Node{Server: a, Procs: srvs, Load: NewClient(o.Concurrency), prep: NewClient(2 * o.Concurrency), conc: o.Concurrency}
	if topo == TopologyRoles {
		n.Bases = map[string]string{"token": b.Base, "userinfo": b.Base}
	}
	if err := seedOverHTTP(ctx, n, o, token); err != nil {
		_ = n.Stop()
		return nil, fmt.Errorf("%w\nnode output:\n%s", err, n.output(3000))
	}
	return n, nil
}

// seedOverHTTP registers users and clients through the admin API and
// signs in o.ClusterSessions sessions with a password, each redeeming
// its code once: a quarter of the families feed the refresh chains,
// a quarter the access tokens of userinfo and introspection, and the
// other half's sessions authorize and redeem the measured codes.
func seedOverHTTP(ctx context.Context, n *Node, o Options, token string) error {
	admin := Admin{Base: n.base("management"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	if err := admin.CreateClients(ctx); err != nil {
		return err
	}
	for i := range o.Users {
		name := fmt.Sprintf("%sbench%d", o.userPrefix, i)
		sub, err := admin.CreateUser(ctx, name)
		if err != nil {
			return err
		}
		n.Subjects, n.Usernames = append(n.Subjects, sub), append(n.Usernames, name)
	}
	s := o.ClusterSessions
	n.cookies, n.refreshToks = make([]string, s), make([]string, s)
	err := Parallel(ctx, s, 2*n.conc, func(ctx context.Context, i int) error {
		cookie, code, err := SignIn(ctx, n.prep, n.base("auth"), n.Usernames[i%len(n.Usernames)], uint64(i))
		if err != nil {
			return err
		}
		tr, err := Redeem(ctx, n.prep, n.base("token"), ClientES256, code)
		if err != nil {
			return err
		}
		n.cookies[i], n.refreshToks[i] = cookie, tr.RefreshToken
		return nil
	})
	if err != nil {
		return fmt.Errorf("loadtest: sign-ins: %w", err)
	}
	// Separate sessions for the refresh chains, the access tokens and the
	// codes: every redemption adds a grant to its session, and a session
	// keeps at most 64, so redemptions on the refresh or token sessions
	// would end their families.
	q := max(1, s/4)
	n.refresh, n.tokens = span{0, q}, span{q, q}
	n.browser, n.codes = span{2 * q, max(1, s-2*q)}, span{2 * q, max(1, s-2*q)}
	n.revoke = span{0, 0}
	return nil
}

// SignIn opens the sign-in page for ClientES256, posts the password and
// returns the session cookie and the code.
func SignIn(ctx context.Context, c *http.Client, base, username string, seq uint64) (cookie, code string, err error) {
	lp, err := OpenLoginPage(ctx, c, base, ClientES256, seq)
	if err != nil {
		return "", "", err
	}
	form := url.Values{"rid": {lp.RID}, "csrf": {lp.CSRF}, "username": {username}, "password": {UserPassword}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: CookieName, Value: lp.Cookie})
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cookie = lp.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName && ck.Value != "" {
			cookie = ck.Value
		}
	}
	code, err = codeFrom(resp)
	return cookie, code, err
}
