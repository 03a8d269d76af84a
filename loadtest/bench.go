package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Topologies `authrim bench --topology` knows (docs/BENCH.md).
const (
	// TopologyLocal: one node; front ends sign through the node-local
	// Crypto actor pool (crypto.mode local).
	TopologyLocal = "local"
	// TopologyInline: one node; front ends sign with the cached key
	// themselves (crypto.mode inline, the default deployment).
	TopologyInline = "inline"
	// TopologyDefault is what a node runs without crypto.mode: the
	// bench's full run (every endpoint, the scale runs) measures it.
	TopologyDefault = TopologyInline
	// TopologyRemote: two nodes; A's front ends sign through B's Crypto
	// pool (crypto.mode remote).
	TopologyRemote = "remote"
	// TopologyRoles: two nodes; A serves discovery, auth and management,
	// B token and userinfo.
	TopologyRoles = "roles"
)

// Topologies lists the topology names of --topology.
var Topologies = []string{TopologyInline, TopologyLocal, TopologyRemote, TopologyRoles}

// Options of a bench run.
type Options struct {
	// Bin is the authrim binary the nodes run.
	Bin string
	// ConfigFile is the nodes' base config (`serve --config`); "" for the
	// built-in defaults. The bench overrides listeners, storage, admin
	// token and rate limits.
	ConfigFile string
	Topologies []string
	// Concurrency is the number of load workers (connections).
	Concurrency int
	// Warmup and Duration of each window; Runs windows per endpoint.
	Warmup, Duration time.Duration
	Runs             int
	// Endpoints to measure (nil: all); Scale sizes of stored families
	// for the refresh and userinfo scale runs (nil: none).
	Endpoints []string
	Scale     []int
	// ScaleActive is how many families the scale runs use (the active
	// set), drawn at random from the stored ones.
	ScaleActive int
	// MaxOtherLoad: a window during which the rest of the machine kept
	// more cores than this busy is measured again, up to Retries times.
	MaxOtherLoad float64
	Retries      int
	// RetryUntil stops the retries once the run has lasted this long, so
	// a busy machine cannot stretch the run without bound (default 5m).
	RetryUntil time.Duration
	started    time.Time
	// Users signs in with passwords; RevokeFamilies are seeded for the
	// revocation windows.
	Users          int
	RevokeFamilies int
	// ClusterSessions are signed in over HTTP on each two-node topology
	// and on a Target (default 1000).
	ClusterSessions int
	// Target is the base URL of a running node to measure instead of
	// starting one; TargetMetrics its Prometheus endpoint (CPU and
	// allocations are read there) and AdminToken its admin token (users
	// and clients are created through the admin API, sessions signed in
	// over HTTP). Scale runs and the endpoints that need seeded records
	// (revocation, passkey sign-in) are not available on a target.
	Target, TargetMetrics, AdminToken string
	// userPrefix names the users the bench creates (unique per run on a
	// target, which keeps them).
	userPrefix string
	// nodeEnv are AUTHRIM_* settings for StartNode's node.
	nodeEnv []string
	// Dir holds the nodes' data directories (a temporary one when "").
	Dir string
	// Progress receives one line per step (nil: discarded); NodeLog the
	// nodes' own output.
	Progress, NodeLog io.Writer
	// Launch starts a node (nil: StartServer, a child process).
	Launch func(ctx context.Context, cfg ServerConfig) (*Server, error)
	// Window, when set, is called just before each measured window and
	// the function it returns just after (a CPU profile, for instance).
	Window func(endpoint string) func()
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Users <= 0 {
		o.Users = 4
	}
	if o.ScaleActive <= 0 {
		o.ScaleActive = 4000
	}
	if o.ClusterSessions <= 0 {
		o.ClusterSessions = 1000
	}
	if o.RevokeFamilies <= 0 {
		o.RevokeFamilies = 120_000
	}
	if len(o.Topologies) == 0 {
		o.Topologies = []string{TopologyDefault}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Launch == nil {
		o.Launch = StartServer
	}
	if o.MaxOtherLoad <= 0 {
		o.MaxOtherLoad = math.Inf(1)
	}
	if o.RetryUntil <= 0 {
		o.RetryUntil = 5 * time.Minute
	}
	if o.started.IsZero() {
		o.started = time.Now()
	}
}

// measureQuiet measures e again while the rest of the machine was busier
// than o.MaxOtherLoad during the window, at most o.Retries times.
func (n *Node) measureQuiet(ctx context.Context, e Endpoint, o Options, progress func(string, ...any)) (Result, error) {
	for attempt := 0; ; attempt++ {
		r, err := n.Measure(ctx, e, o)
		if err != nil {
			return r, err
		}
		r.Retries = attempt
		if r.OtherCores <= o.MaxOtherLoad || attempt >= o.Retries || time.Since(o.started) > o.RetryUntil {
			return r, nil
		}
		progress("%s: other load %.2f cores during the window; measuring again", e.Name, r.OtherCores)
	}
}

// Result is one measured window of one endpoint.
type Result struct {
	Endpoint string `json:"endpoint"`
	Topology string `json:"topology"`
	// Stored is the number of seeded sessions (refresh families).
	Stored int `json:"stored_families"`
	Run    int `json:"run"`
	// Concurrency is the number of load workers of this window.
	Concurrency int `json:"concurrency"`
	// Retries is how many earlier windows were discarded because the
	// rest of the machine was busy during them.
	Retries  int     `json:"retries,omitempty"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"requests_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	// CPUus is the server's CPU time per request, µs.
	CPUus float64 `json:"cpu_us_per_request"`
	// SysPct is the share of that CPU spent in the kernel.
	SysPct float64 `json:"sys_percent"`
	// ClientCores is the bench's own CPU (load generator) and OtherCores
	// the rest of the machine's busy time, in cores, over the window.
	ClientCores float64 `json:"client_cores"`
	OtherCores  float64 `json:"other_cores"`
	// Allocs and Bytes per request (Go heap, from the node's metrics).
	Allocs float64 `json:"allocs_per_request"`
	Bytes  float64 `json:"bytes_per_request"`
	// HeapMB is the node's heap (live and not yet collected) at the
	// window's end: it grows with activated grains, and GC work with it.
	HeapMB float64 `json:"heap_mb"`
	// Exhausted: the prepared one-time items ran out before the window's
	// end (the window is then shorter).
	Exhausted  bool   `json:"exhausted,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// Summary is the median of an endpoint's runs.
type Summary struct {
	Result
	Runs      []Result `json:"runs"`
	What      string   `json:"what"`
	TargetCPU float64  `json:"target_cpu_us,omitempty"`
	// Met is nil without a target.
	Met *bool `json:"target_met,omitempty"`
}

// ScaleSummary is the scale runs of one stored size.
type ScaleSummary struct {
	Stored    int       `json:"stored_families"`
	Active    int       `json:"active_families"`
	SeedSecs  float64   `json:"seed_seconds"`
	StoreMB   float64   `json:"store_file_mb"`
	Endpoints []Summary `json:"endpoints"`
	Memory    Memory    `json:"memory"`
}

// Report is everything a bench run measured.
type Report struct {
	Started     time.Time      `json:"started"`
	Machine     Machine        `json:"machine"`
	Concurrency int            `json:"concurrency"`
	Warmup      string         `json:"warmup"`
	Duration    string         `json:"duration"`
	Runs        int            `json:"runs"`
	Argon2      string         `json:"argon2id"`
	Command     string         `json:"command"`
	Endpoints   []Summary      `json:"endpoints"`
	Scale       []ScaleSummary `json:"scale,omitempty"`
	// Topologies is the topology comparison (--topology other than local
	// alone) and Hops what each step between topologies adds.
	Topologies []TopologySummary `json:"topologies,omitempty"`
	Hops       []Hop             `json:"hops,omitempty"`
	// NodeMemory is the single-node run's memory at its end.
	NodeMemory Memory `json:"node_memory"`
	Elapsed    string `json:"elapsed"`
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartNode brings up a node with Users users, the bench clients and a
// population of seeded sessions: it starts the node, registers users and
// clients through the admin API, stops it, writes the sessions into its
// bbolt file and starts it again.
func StartNode(ctx context.Context, o Options, dir string, sessions int) (*Node, float64, error) {
	o.defaults()
	token := randomToken()
	scfg := ServerConfig{Bin: o.Bin, ConfigFile: o.ConfigFile, Dir: dir, AdminToken: token, Log: o.NodeLog, Env: o.nodeEnv}
	srv, err := o.Launch(ctx, scfg)
	if err != nil {
		return nil, 0, err
	}
	admin := Admin{Base: srv.Base, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	var subjects, names []string
	err = func() error {
		if err := admin.CreateClients(ctx); err != nil {
			return err
		}
		for i := range o.Users {
			name := fmt.Sprintf("bench%d", i)
			sub, err := admin.CreateUser(ctx, name)
			if err != nil {
				return err
			}
			subjects, names = append(subjects, sub), append(names, name)
		}
		return nil
	}()
	if serr := srv.Stop(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, 0, err
	}
	pop := NewPopulation(sessions, subjects, time.Now())
	t0 := time.Now()
	if err := pop.Write(dir); err != nil {
		return nil, 0, err
	}
	seedSecs := time.Since(t0).Seconds()
	srv, err = o.Launch(ctx, scfg)
	if err != nil {
		return nil, 0, err
	}
	n := &Node{Server: srv, Pop: pop, Subjects: subjects, Usernames: names,
		Load: NewClient(o.Concurrency), prep: NewClient(2 * o.Concurrency), conc: o.Concurrency}
	return n, seedSecs, nil
}

// Stop stops the node.
func (n *Node) Stop() error {
	var errs []error
	for _, p := range n.procs() {
		errs = append(errs, p.Stop())
	}
	return errors.Join(errs...)
}

// Measure runs one endpoint: a warm-up window, then the measured one,
// sampling the server before and after it.
func (n *Node) Measure(ctx context.Context, e Endpoint, o Options) (Result, error) {
	topo := n.Topology
	if topo == "" {
		topo = TopologyDefault
	}
	r := Result{Endpoint: e.Name, Topology: topo, Stored: n.stored()}
	conc := o.Concurrency
	if e.MaxConcurrency > 0 {
		conc = min(conc, e.MaxConcurrency)
	}
	r.Concurrency = conc
	size := func(rate float64, d time.Duration) int {
		return int(math.Ceil(rate*d.Seconds()*1.25)) + 2*conc
	}
	warmN := 0
	if e.OneTime {
		warmN = size(e.Guess, o.Warmup)
	}
	src, err := e.prepare(ctx, warmN)
	if err != nil {
		return r, fmt.Errorf("%s: prepare warm-up: %w", e.Name, err)
	}
	w := Drive(ctx, n.Load, src, conc, o.Warmup, false)
	if w.Requests == 0 {
		return r, fmt.Errorf("%s: warm-up: no request succeeded: %v", e.Name, w.FirstError)
	}
	if e.OneTime {
		if src, err = e.prepare(ctx, size(w.Rate(), o.Duration)); err != nil {
			return r, fmt.Errorf("%s: prepare: %w", e.Name, err)
		}
	}
	before, err := SampleAll(ctx, n.procs())
	if err != nil {
		return r, err
	}
	var done func()
	if o.Window != nil {
		done = o.Window(e.Name)
	}
	w = Drive(ctx, n.Load, src, conc, o.Duration, true)
	if done != nil {
		done()
	}
	after, err := SampleAll(ctx, n.procs())
	if err != nil {
		return r, err
	}
	if w.Requests == 0 {
		return r, fmt.Errorf("%s: no request succeeded: %v", e.Name, w.FirstError)
	}
	req := float64(w.Requests)
	r.Requests, r.Errors, r.Seconds, r.Rate = w.Requests, w.Errors, w.Elapsed.Seconds(), w.Rate()
	r.P50ms = float64(w.Quantile(0.50).Microseconds()) / 1000
	r.P99ms = float64(w.Quantile(0.99).Microseconds()) / 1000
	r.CPUus = float64((after.CPU - before.CPU).Nanoseconds()) / 1000 / req
	if cpu := after.CPU - before.CPU; cpu > 0 {
		r.SysPct = 100 * float64(after.Sys-before.Sys) / float64(cpu)
	}
	if el := after.At.Sub(before.At).Seconds(); el > 0 {
		self := after.Self - before.Self
		if n.Server.PID() == os.Getpid() {
			self = 0 // in-process node: the server's CPU already is ours
		}
		r.ClientCores = self.Seconds() / el
		if after.Busy > 0 && before.Busy > 0 {
			other := after.Busy - before.Busy - (after.CPU - before.CPU) - self
			r.OtherCores = max(0, other.Seconds()/el)
		}
	}
	if before.Mallocs >= 0 && after.Mallocs >= 0 {
		r.Allocs = (after.Mallocs - before.Mallocs) / req
		r.Bytes = (after.AllocBytes - before.AllocBytes) / req
	}
	if after.Heap >= 0 {
		r.HeapMB = after.Heap / (1 << 20)
	}
	r.Exhausted = w.Exhausted
	if w.FirstError != nil {
		r.FirstError = w.FirstError.Error()
	}
	return r, nil
}

// Run measures everything Options asks for.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	for _, t := range o.Topologies {
		if !slices.Contains(Topologies, t) && t != TopologyLocalEtcd {
			return nil, fmt.Errorf("loadtest: unknown topology %q (known: %s)", t, strings.Join(Topologies, ", "))
		}
	}
	compare := !slices.Equal(o.Topologies, []string{TopologyDefault})
	known := EndpointNames()
	for _, e := range o.Endpoints {
		if !slices.Contains(known, e) {
			return nil, fmt.Errorf("loadtest: unknown endpoint %q (known: %s)", e, strings.Join(known, ", "))
		}
	}
	start := time.Now()
	rep := &Report{Started: start.UTC(), Machine: ReadMachine(), Concurrency: o.Concurrency,
		Warmup: o.Warmup.String(), Duration: o.Duration.String(), Runs: o.Runs}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "authrim-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "%6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	if o.Target != "" {
		if compare || len(o.Scale) > 0 {
			return nil, errors.New("loadtest: --target measures the endpoints of one running node: no topologies, no scale runs")
		}
		eps, mem, err := runTarget(ctx, o, progress)
		if err != nil {
			return nil, err
		}
		rep.Endpoints, rep.NodeMemory = eps, mem
	} else if compare {
		tops, err := runTopologies(ctx, o, dir+"/topologies", progress)
		if err != nil {
			return nil, err
		}
		rep.Topologies, rep.Hops = tops, Hops(tops)
	} else if len(o.Endpoints) > 0 || o.Endpoints == nil {
		eps, mem, err := runSingle(ctx, o, dir+"/single", progress)
		if err != nil {
			return nil, err
		}
		rep.Endpoints, rep.NodeMemory = eps, mem
	}
	for _, size := range o.Scale {
		s, err := runScale(ctx, o, fmt.Sprintf("%s/scale-%d", dir, size), size, progress)
		if err != nil {
			return nil, err
		}
		rep.Scale = append(rep.Scale, s)
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	return rep, nil
}

// TargetEndpoints are the endpoints a running node can be driven on:
// everything whose items come from HTTP flows.
var TargetEndpoints = []string{"healthz", "discovery", "jwks", "authorize", "login-password", "token-code-es256",
	"token-code-rs256", "token-refresh", "token-client-credentials", "token-exchange", "userinfo", "userinfo-jwe", "introspection"}

// runTarget measures a node the bench did not start: users, clients and
// o.ClusterSessions password sign-ins are made over HTTP (a sign-in costs
// the target's argon2id), then the endpoints run as on a started node.
func runTarget(ctx context.Context, o Options, progress func(string, ...any)) ([]Summary, Memory, error) {
	srv := TargetServer(o.Target, o.TargetMetrics)
	if _, err := srv.Sample(ctx); err != nil {
		return nil, Memory{}, fmt.Errorf("loadtest: target metrics %s: %w", o.TargetMetrics, err)
	}
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := getJSON(ctx, srv.Base+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, Memory{}, fmt.Errorf("loadtest: target discovery: %w", err)
	}
	srv.Issuer = disc.Issuer
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	o.userPrefix = fmt.Sprintf("t%xx", suffix)
	progress("target %s: creating users and clients, signing in %d sessions", srv.Base, o.ClusterSessions)
	n := &Node{Server: srv, Load: NewClient(o.Concurrency), prep: NewClient(2 * o.Concurrency), conc: o.Concurrency, Topology: "target"}
	if err := seedOverHTTP(ctx, n, o, o.AdminToken); err != nil {
		return nil, Memory{}, err
	}
	var eps []Endpoint
	for _, e := range n.Endpoints() {
		if slices.Contains(TargetEndpoints, e.Name) && (o.Endpoints == nil || slices.Contains(o.Endpoints, e.Name)) {
			eps = append(eps, e)
		}
	}
	runs, err := measureRuns(ctx, n, eps, o, "", progress)
	if err != nil {
		return nil, Memory{}, err
	}
	mem, _ := srv.Memory()
	var out []Summary
	for _, e := range eps {
		out = append(out, summarize(e, runs[e.Name]))
	}
	return out, mem, nil
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func runSingle(ctx context.Context, o Options, dir string, progress func(string, ...any)) ([]Summary, Memory, error) {
	const browser, codes, refresh, tokens = 10000, 4000, 4000, 1000
	total := browser + codes + refresh + tokens + o.RevokeFamilies
	progress("single node: starting, seeding %d sessions", total)
	n, _, err := StartNode(ctx, o, dir, total)
	if err != nil {
		return nil, Memory{}, err
	}
	defer n.Stop()
	n.browser = span{0, browser}
	n.codes = span{browser, codes}
	n.refresh = span{browser + codes, refresh}
	n.tokens = span{browser + codes + refresh, tokens}
	n.revoke = span{browser + codes + refresh + tokens, o.RevokeFamilies}

	var eps []Endpoint
	for _, e := range n.Endpoints() {
		if o.Endpoints == nil || slices.Contains(o.Endpoints, e.Name) {
			eps = append(eps, e)
		}
	}
	runs, err := measureRuns(ctx, n, eps, o, "", progress)
	if err != nil {
		return nil, Memory{}, err
	}
	mem, _ := n.Server.Memory()
	var out []Summary
	for _, e := range eps {
		out = append(out, summarize(e, runs[e.Name]))
	}
	return out, mem, nil
}

func runScale(ctx context.Context, o Options, dir string, size int, progress func(string, ...any)) (ScaleSummary, error) {
	progress("scale %d: starting, seeding %d sessions", size, size)
	n, seedSecs, err := StartNode(ctx, o, dir, size)
	if err != nil {
		return ScaleSummary{}, err
	}
	defer n.Stop()
	s := ScaleSummary{Stored: size, SeedSecs: seedSecs}
	if st, err := os.Stat(dir + "/authrim.db"); err == nil {
		s.StoreMB = float64(st.Size()) / (1 << 20)
	}
	progress("scale %d: seeded in %.1fs (%.0f MB)", size, seedSecs, s.StoreMB)
	// The active set: families drawn at random from the stored ones,
	// four fifths for refresh chains, one fifth for userinfo tokens.
	active := min(size, o.ScaleActive)
	s.Active = active
	pick := mrand.Perm(size)[:active]
	nTok := max(1, active/5)
	idx := func(i int) int { return pick[i] }
	toks := make([]string, active-nTok)
	for i := range toks {
		toks[i] = n.Pop.RefreshToken(idx(nTok + i))
	}
	n.chain = newChain(n.Server.Base, toks)
	n.chainOnce.Do(func() {})
	n.access = make([]string, nTok)
	n.accessErr = Parallel(ctx, nTok, 2*n.conc, func(ctx context.Context, i int) error {
		tr, err := Refresh(ctx, n.prep, n.Server.Base, ClientES256, n.Pop.RefreshToken(idx(i)))
		n.access[i] = tr.AccessToken
		return err
	})
	n.accessOnce.Do(func() {})
	if n.accessErr != nil {
		return s, n.accessErr
	}
	var eps []Endpoint
	for _, e := range n.Endpoints() {
		if e.Name == "token-refresh" || e.Name == "userinfo" {
			eps = append(eps, e)
		}
	}
	runs := map[string][]Result{}
	for run := 1; run <= o.Runs; run++ {
		for _, e := range eps {
			r, err := n.measureQuiet(ctx, e, o, progress)
			if err != nil {
				return s, fmt.Errorf("scale %d: %w\nnode output:\n%s", size, err, tail(n.Server.Output(), 2000))
			}
			r.Run = run
			runs[e.Name] = append(runs[e.Name], r)
			progress("scale %d run %d/%d %-14s %8.0f req/s  p99 %7.2f ms  cpu %8.1f µs/req  other load %.2f cores", size, run, o.Runs, e.Name, r.Rate, r.P99ms, r.CPUus, r.OtherCores)
		}
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, summarize(e, runs[e.Name]))
	}
	s.Memory, err = n.Server.Memory()
	progress("scale %d: peak RSS %.0f MB", size, float64(s.Memory.Peak)/(1<<20))
	return s, err
}

func exhaustedNote(r Result) string {
	if r.Exhausted {
		return "  (items used up early)"
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize takes the median of each figure over the runs.
func summarize(e Endpoint, runs []Result) Summary {
	pick := func(f func(Result) float64) float64 {
		var xs []float64
		for _, r := range runs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	s := Summary{Runs: runs, What: e.What, TargetCPU: e.TargetCPU}
	s.Endpoint, s.Topology = e.Name, runs[0].Topology
	s.Stored = runs[0].Stored
	s.Run = 0
	s.Rate = pick(func(r Result) float64 { return r.Rate })
	s.P50ms = pick(func(r Result) float64 { return r.P50ms })
	s.P99ms = pick(func(r Result) float64 { return r.P99ms })
	s.CPUus = pick(func(r Result) float64 { return r.CPUus })
	s.SysPct = pick(func(r Result) float64 { return r.SysPct })
	s.ClientCores = pick(func(r Result) float64 { return r.ClientCores })
	s.OtherCores = pick(func(r Result) float64 { return r.OtherCores })
	s.Allocs = pick(func(r Result) float64 { return r.Allocs })
	s.Bytes = pick(func(r Result) float64 { return r.Bytes })
	s.HeapMB = pick(func(r Result) float64 { return r.HeapMB })
	s.Seconds = pick(func(r Result) float64 { return r.Seconds })
	for _, r := range runs {
		s.Retries += r.Retries
		s.Concurrency = r.Concurrency
		s.Requests += r.Requests
		s.Errors += r.Errors
		s.Exhausted = s.Exhausted || r.Exhausted
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
	}
	if e.TargetCPU > 0 {
		met := s.CPUus <= e.TargetCPU
		s.Met = &met
	}
	return s
}
