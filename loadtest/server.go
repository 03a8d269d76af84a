package loadtest

import (
	"authrim/internal/freeport"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ServerConfig starts a node as a child process.
type ServerConfig struct {
	// Bin is the authrim binary (os.Executable() for the bench command).
	Bin string
	// ConfigFile is passed as `serve --config`; "" for built-in defaults.
	ConfigFile string
	// Dir holds the node's data (bbolt file, KEK).
	Dir string
	// Port and MetricsPort are the listeners (0: pick free ports).
	Port, MetricsPort int
	// AdminToken enables the admin API.
	AdminToken string
	// Env are extra AUTHRIM_* settings (KEY=value); they replace the
	// bench's own settings of the same name (a cluster member's storage
	// backend and peers, for instance).
	Env []string
	// Log receives the child's output (nil: kept in memory, shown on failure).
	Log io.Writer
}

// Server is a running node process.
type Server struct {
	cfg     ServerConfig
	pid     int
	stop    func() error
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	waitErr error
	// Base is where the bench connects (http://127.0.0.1:PORT); Issuer is
	// http://localhost:PORT (WebAuthn refuses IP RP IDs).
	Base, Issuer string
	// Metrics is the Prometheus endpoint.
	Metrics string
	// target: a node the bench did not start (TargetServer).
	target bool
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	tee io.Writer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tee != nil {
		_, _ = b.tee.Write(p)
	}
	if b.buf.Len() < 1<<20 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort picks a free loopback port for a node this process starts
// (see internal/freeport for why not port 0).
func FreePort() (int, error) { return freeport.Get() }

// withPorts picks free ports for the listeners left at 0.
func (cfg ServerConfig) withPorts() (ServerConfig, error) {
	var err error
	if cfg.Port == 0 {
		if cfg.Port, err = FreePort(); err != nil {
			return cfg, err
		}
	}
	if cfg.MetricsPort == 0 {
		if cfg.MetricsPort, err = FreePort(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// NewServer describes a node started by other means than StartServer
// (in the bench's own process, for profiling): cfg's ports must be set,
// pid is the process to measure and stop shuts the node down.
func NewServer(cfg ServerConfig, pid int, stop func() error) *Server {
	return &Server{
		cfg: cfg, pid: pid, stop: stop,
		Base:    fmt.Sprintf("http://127.0.0.1:%d", cfg.Port),
		Issuer:  fmt.Sprintf("http://localhost:%d", cfg.Port),
		Metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", cfg.MetricsPort),
		out:     &lockedBuffer{},
	}
}

// Ports returns cfg with free ports chosen for listeners left at 0.
func Ports(cfg ServerConfig) (ServerConfig, error) { return cfg.withPorts() }

// StartServer starts `authrim serve` and waits until /readyz answers 200.
// Settings the bench depends on are passed as AUTHRIM_* variables, which
// take precedence over the config file; inherited AUTHRIM_* variables are
// dropped so the operator's shell cannot change the run.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withPorts()
	if err != nil {
		return nil, err
	}
	s := NewServer(cfg, 0, nil)
	s.out = &lockedBuffer{tee: cfg.Log}
	s.exited = make(chan struct{})
	args := []string{"serve"}
	if cfg.ConfigFile != "" {
		args = append(args, "--config", cfg.ConfigFile)
	}
	cmd := exec.Command(cfg.Bin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHRIM_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AUTHRIM_ISSUER="+s.Issuer,
		fmt.Sprintf("AUTHRIM_HTTP_LISTEN=127.0.0.1:%d", cfg.Port),
		fmt.Sprintf("AUTHRIM_METRICS_LISTEN=127.0.0.1:%d", cfg.MetricsPort),
		"AUTHRIM_STORAGE_BACKEND=bbolt",
		"AUTHRIM_STORAGE_DIR="+cfg.Dir,
		"AUTHRIM_KEYS_KEK_FILE="+filepath.Join(cfg.Dir, "kek"),
		"AUTHRIM_ADMIN_TOKEN="+cfg.AdminToken,
		// A load test is exactly what the rate limits are there to stop,
		// and it signs one user in many times at once from one address:
		// attempts in flight count as failures until their password is
		// checked, which the sign-in throttle would slow.
		"AUTHRIM_RATE_LIMIT_ENABLED=false",
		"AUTHRIM_RATE_LIMIT_SIGNIN_PER_ADDRESS_FREE=1000",
		"AUTHRIM_RATE_LIMIT_SIGNIN_PER_USERNAME_FREE=1000",
		"AUTHRIM_LOG_LEVEL=warn",
		"AUTHRIM_TRACING_OTLP_ENDPOINT=",
		"AUTHRIM_CLUSTER_PEERS=",
	)
	cmd.Env = mergeEnv(env, cfg.Env)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start node: %w", err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("loadtest: node exited during start (%v):\n%s", s.waitErr, s.out)
		case <-ctx.Done():
			_ = s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return nil, fmt.Errorf("loadtest: node not ready after 60s:\n%s", s.out)
		}
	}
}

// mergeEnv is base with every variable over set replaced by over's value
// (the node reads the first entry of a name, as os.Getenv does), then
// over's new names.
func mergeEnv(base, over []string) []string {
	set := map[string]string{}
	var order []string
	for _, kv := range over {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := set[k]; !dup {
			order = append(order, k)
		}
		set[k] = v
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := set[k]; ok {
			out = append(out, k+"="+v)
			delete(set, k)
			continue
		}
		out = append(out, kv)
	}
	for _, k := range order {
		if v, ok := set[k]; ok {
			out = append(out, k+"="+v)
			delete(set, k)
		}
	}
	return out
}

// PID is the node's process id.
func (s *Server) PID() int { return s.pid }

// Output is what the node has logged so far.
func (s *Server) Output() string {
	if s.out == nil {
		return "" // a target's output is its operator's
	}
	return s.out.String()
}

// Stop asks the node to shut down (SIGTERM) and waits; after 20 s it is
// killed.
func (s *Server) Stop() error {
	if s != nil && s.stop != nil {
		stop := s.stop
		s.stop = nil
		return stop()
	}
	if s == nil || s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		var ee *exec.ExitError
		if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
			return s.waitErr
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("loadtest: node did not stop within 20s; killed")
	}
}

// Sample is what the server process had spent at one instant.
type Sample struct {
	At time.Time
	// CPU is user + system time of the whole process (all threads); Sys
	// is the system part (syscalls: network, fsync).
	CPU, Sys time.Duration
	// Mallocs and AllocBytes are cumulative heap allocations (Go
	// collector); -1 when the metrics could not be read.
	Mallocs, AllocBytes float64
	// Heap is the live heap (go_memstats_heap_alloc_bytes), -1 unknown.
	Heap float64
	// Busy is the whole machine's non-idle CPU time (/proc/stat) and Self
	// the bench process's own: what is left is other work on the machine,
	// which the report shows so that a noisy window can be told apart.
	Busy, Self time.Duration
}

// MachineBusy is the non-idle CPU time of all CPUs since boot (user,
// nice, system, irq, softirq and steal from /proc/stat).
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("loadtest: malformed /proc/stat")
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, errors.New("loadtest: malformed /proc/stat")
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TargetServer is a node the bench did not start (--target): base is
// its HTTP listener, metrics its Prometheus endpoint. Its CPU is read
// from process_cpu_seconds_total (the node's own /proc/self/stat, utime +
// stime; no user/system split), its memory from
// process_resident_memory_bytes; Stop leaves it running.
func TargetServer(base, metrics string) *Server {
	return &Server{Base: strings.TrimSuffix(base, "/"), Issuer: strings.TrimSuffix(base, "/"), Metrics: metrics, target: true}
}

// Sample reads the process's CPU time and allocation counters.
func (s *Server) Sample(ctx context.Context) (Sample, error) {
	var user, sys time.Duration
	var err error
	if s.target {
		var m map[string]float64
		m, err = Scrape(ctx, s.Metrics, "process_cpu_seconds_total")
		if err == nil && m["process_cpu_seconds_total"] == 0 {
			err = errors.New("loadtest: the target's metrics have no process_cpu_seconds_total")
		}
		user = time.Duration(m["process_cpu_seconds_total"] * float64(time.Second))
	} else {
		user, sys, err = ProcessTimes(s.PID())
	}
	if err != nil {
		return Sample{}, err
	}
	smp := Sample{At: time.Now(), CPU: user + sys, Sys: sys, Mallocs: -1, AllocBytes: -1, Heap: -1, Self: selfCPU()}
	smp.Busy, _ = MachineBusy()
	m, err := Scrape(ctx, s.Metrics, "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total", "go_memstats_heap_alloc_bytes")
	if err == nil {
		smp.Mallocs, smp.AllocBytes, smp.Heap = m["go_memstats_mallocs_total"], m["go_memstats_alloc_bytes_total"], m["go_memstats_heap_alloc_bytes"]
	}
	return smp, nil
}

// SampleAll is the sum of the processes' samples: what a request cost a
// cluster. The machine's busy time and the bench's own are read once.
func SampleAll(ctx context.Context, procs []*Server) (Sample, error) {
	var sum Sample
	for i, p := range procs {
		s, err := p.Sample(ctx)
		if err != nil {
			return Sample{}, err
		}
		if i == 0 {
			sum = s
			continue
		}
		sum.CPU += s.CPU
		sum.Sys += s.Sys
		sum.Busy, sum.Self, sum.At = s.Busy, s.Self, s.At
		for _, f := range []struct {
			to *float64
			v  float64
		}{{&sum.Mallocs, s.Mallocs}, {&sum.AllocBytes, s.AllocBytes}, {&sum.Heap, s.Heap}} {
			if *f.to < 0 || f.v < 0 {
				*f.to = -1
			} else {
				*f.to += f.v
			}
		}
	}
	return sum, nil
}

// ProcessTimes is utime and stime of pid from /proc/PID/stat.
func ProcessTimes(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("loadtest: process CPU: %w", err)
	}
	// The command name (field 2) may hold spaces; fields count from the
	// closing parenthesis. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("loadtest: process CPU: malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("loadtest: process CPU: short stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("loadtest: process CPU: malformed stat")
	}
	return time.Duration(ut) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, nil
}

// Memory is the process's resident memory from /proc/PID/status, in bytes.
type Memory struct {
	// Peak is VmHWM: the high-water mark of resident memory.
	Peak int64 `json:"peak_rss_bytes"`
	// RSS is VmRSS now; Anon and File split it (heap and stacks versus
	// mapped files such as the bbolt database).
	RSS  int64 `json:"rss_bytes"`
	Anon int64 `json:"rss_anon_bytes"`
	File int64 `json:"rss_file_bytes"`
}

// ProcessMemory reads VmHWM, VmRSS, RssAnon and RssFile of pid.
func ProcessMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("loadtest: process memory: %w", err)
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		n *= 1024 // kB
		switch k {
		case "VmHWM":
			m.Peak = n
		case "VmRSS":
			m.RSS = n
		case "RssAnon":
			m.Anon = n
		case "RssFile":
			m.File = n
		}
	}
	return m, sc.Err()
}

// Memory reads the node's resident memory (a target's: its current RSS
// only, which also stands in for the peak).
func (s *Server) Memory() (Memory, error) {
	if s.target {
		m, err := Scrape(context.Background(), s.Metrics, "process_resident_memory_bytes")
		if err != nil {
			return Memory{}, err
		}
		rss := int64(m["process_resident_memory_bytes"])
		return Memory{Peak: rss, RSS: rss}, nil
	}
	return ProcessMemory(s.PID())
}

// Scrape fetches a Prometheus text endpoint and returns the named
// unlabelled samples.
func Scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadtest: scrape %s: %s", url, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || !want[name] {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
